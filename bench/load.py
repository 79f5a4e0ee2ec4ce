"""Load check: gunicorn (4 sync workers) on PostgreSQL, 20 concurrent clients for 30 s mixing
lead list pages (signed-in sessions), API lists (bearer tokens) and conversions through the API.

    .venv/bin/python bench/load.py [--leads 30000] [--clients 20] [--duration 30]
                                   [--workers 4] [--threads 1] [--worker-class sync|gthread]
                                   [--gc-threshold "7000, 20, 20"] [--port 8765]
                                   [--database bench_load] [--pg postgresql+psycopg://postgres@127.0.0.1:5432]
    .venv/bin/python bench/load.py --profile [--profile-requests 30]

The database (default `bench_load`, created when missing) is upgraded with `flask db upgrade`,
seeded once with `flask seed-demo` (2,000 leads with every C4 duplicate case, their notes,
tags and custom values), then grown to --leads by copying the demo's open leads in SQL (new
e-mails, spread creation dates; their notes, tags and custom values copied too). It is reused
while it holds enough unconverted leads for the conversions of a run.

The bench starts gunicorn itself on 127.0.0.1 (config: GUNICORN below: sync workers, the
collector tuned once the app is loaded), signs three users in
through the login form (an administrator, a manager, a sales rep), issues API tokens with
`flask create-token`, then runs --clients threads of httpx clients for --duration seconds.
Each request is, at random, one of

    page     GET /leads/ (first page, a status, a search, a sort, a tag) as one of the three users
    api      GET /api/v1/{leads,contacts,accounts,deals,lead-conversions}?limit=50 with a token
    convert  POST /api/v1/lead-conversions with a deal and a task, each on a distinct open lead

Every request has a 10 s timeout and a run stops at --max-requests; traffic goes to
127.0.0.1 only. It prints errors, requests/s, p50 and p95 per kind and overall (client-side
latency, network stack included; the load generator shares the machine's cores), then the
CPU time per request of the gunicorn workers, of the PostgreSQL backends of the bench
database and of the load generator, read from /proc: on a machine shared with other work the
latencies say how busy the machine was, the CPU times what a request costs.

--profile runs no server: for each kind it times --profile-requests requests in-process with
the Flask test client on the same database (wall and CPU time), counts their SQL statements
(SQLAlchemy events), lists the statements that took the most time, and prints the
--profile-top cProfile functions with the most cumulative time (0: no cProfile pass).

--tree DIR runs the app from a copy of webapp/ and migrations/ in DIR instead of the checkout
(to compare two versions, or to measure while the checkout is being edited).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

# --tree DIR runs a frozen copy of webapp/ (other work may leave the checkout half-edited):
# it must come first on the path before common imports the app.
if "--tree" in sys.argv[:-1]:
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()))
    sys.path.append(str(Path(__file__).resolve().parent.parent))  # so common does not put it first
from common import OUT, ROOT, percentile  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
TREE = ROOT  # where webapp/ and migrations/ are imported from (--tree: a frozen copy of them)
SEED_LEADS = 2000
ADMIN_EMAIL, ADMIN_PASSWORD = "bench.admin@example.com", "bench-admin-password"
MANAGER_EMAIL, SALES_EMAIL, DEMO_PASSWORD = "claire.dubois@example.com", "hugo.bernard@example.com", "demo-password"
SECRET_KEY = "bench-load"
# The gunicorn configuration of the load check (written to bench/out/gunicorn_load.py).
GUNICORN = """\
bind = "127.0.0.1:{port}"
workers = {workers}
threads = {threads}            # per worker (gthread only)
worker_class = "{worker_class}"
timeout = 30                   # a worker silent this long is killed and replaced
graceful_timeout = 5
keepalive = 2                  # gthread only (the sync worker closes after each response)
backlog = 256
preload_app = False            # each worker builds its own app and connection pool
accesslog = None               # no access log: its writes would be measured too
errorlog = "{errorlog}"
loglevel = "warning"
"""
# Appended to GUNICORN unless --gc-threshold off.
GC_HOOK = """

def post_worker_init(worker):
    # The app loaded, its ~160,000 objects (SQLAlchemy, Jinja, Babel) are set aside from the
    # cyclic collector, which then runs 10x less often. With Python's thresholds (700, 10, 10)
    # a list page triggered ~2 collections and every ~50th page a full one (~60 ms over the
    # whole heap): ~1 ms of each request's CPU (timed with gc.callbacks in-process).
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold({gc_threshold})
"""
GC_THRESHOLD = "7000, 20, 20"
WEIGHTS = {"page": 40, "api": 40, "convert": 20}
PAGE_URLS = ("/leads/", "/leads/?status=contacted", "/leads/?q=mar", "/leads/?sort=name",
             "/leads/?tag=VIP", "/leads/?status=all", "/leads/?q=dupont")
API_URLS = ("/api/v1/leads?limit=50", "/api/v1/contacts?limit=50", "/api/v1/accounts?limit=50",
            "/api/v1/deals?limit=50", "/api/v1/lead-conversions?limit=50", "/api/v1/leads?status=new&limit=50")
DEAL = {"stage": "Qualification", "amount": "12500.00", "currency": "EUR", "closing_date": "2026-12-31",
        "contact_role": "Decision maker"}
TASK = {"subject": "Call back", "due_date": "2026-12-01"}


# --- the database ----------------------------------------------------------------------------


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _env(url: str) -> dict:
    return {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "CRM_ENV": "development",
            "UPLOAD_FOLDER": str(OUT / "load-uploads"), "FLASK_APP": "webapp"}


def _flask(url: str, *args: str) -> str:
    result = subprocess.run([str(VENV_BIN / "flask"), "--app", "webapp", *args], cwd=TREE, env=_env(url),
                            capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise SystemExit(f"flask {' '.join(args[:1])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def ensure_database(pg: str, name: str) -> str:
    url = f"{pg}/{name}"
    with psycopg.connect(_libpq(f"{pg}/postgres"), autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
            conn.execute(f'create database "{name}"')
            print(f"created database {name}")
    _flask(url, "db", "upgrade")
    return url


def _grow(conn, target: int) -> None:
    """Copy the demo's open leads (with their notes, tags, custom values) until `target` leads."""
    have = conn.execute("select count(*) from leads").fetchone()[0]
    if have >= target:
        return
    started = time.perf_counter()
    columns = [row[0] for row in conn.execute(
        "select column_name from information_schema.columns where table_name = 'leads' "
        "and column_name not in ('id', 'email', 'email_norm', 'created_at', 'updated_at', "
        "'converted', 'conversion_id', 'converted_at') order by ordinal_position")]
    cols = ", ".join(columns)
    span = conn.execute("select max(id) from leads").fetchone()[0]
    sources = conn.execute("select count(*) from leads where not converted "
                           "and coalesce(description, '') not like 'Demo scenario%%'").fetchone()[0]
    copies = -(-(target - have) // sources)
    # Copy k of source lead s gets the id span*k + s: its notes, tags and values follow by id.
    src = "s.id <= %(span)s and not s.converted and coalesce(s.description, '') not like 'Demo scenario%%'"
    params = {"span": span, "copies": copies}
    conn.execute(f"""
        insert into leads (id, {cols}, email, email_norm, created_at, updated_at, converted)
        select %(span)s * k + s.id, {", ".join("s." + c for c in columns)},
               case when s.email is null then null else 'c' || k || '.' || s.email end,
               case when s.email_norm is null then null else 'c' || k || '.' || s.email_norm end,
               s.created_at - (k * 7 || ' days')::interval, s.updated_at - (k * 7 || ' days')::interval, false
        from leads s cross join generate_series(1, %(copies)s) k where {src}""", params)
    conn.execute(f"""
        insert into taggings (tag_id, parent_type, parent_id)
        select t.tag_id, 'lead', %(span)s * k + t.parent_id from taggings t
        join leads s on s.id = t.parent_id cross join generate_series(1, %(copies)s) k
        where t.parent_type = 'lead' and {src}""", params)
    conn.execute(f"""
        insert into notes (body, parent_type, parent_id, author_id, created_at, updated_at)
        select n.body, 'lead', %(span)s * k + n.parent_id, n.author_id, n.created_at, n.updated_at
        from notes n join leads s on s.id = n.parent_id cross join generate_series(1, %(copies)s) k
        where n.parent_type = 'lead' and n.copy_of_id is null and {src}""", params)
    conn.execute(f"""
        insert into custom_field_values (field_id, parent_type, parent_id, value_text, value_number,
                                         value_date, value_norm)
        select v.field_id, 'lead', %(span)s * k + v.parent_id, v.value_text, v.value_number,
               v.value_date, v.value_norm
        from custom_field_values v join custom_fields f on f.id = v.field_id and not f."unique"
        join leads s on s.id = v.parent_id cross join generate_series(1, %(copies)s) k
        where v.parent_type = 'lead' and {src}""", params)
    conn.execute("select setval('leads_id_seq', (select max(id) from leads))")
    conn.execute("analyze")
    total = conn.execute("select count(*) from leads").fetchone()[0]
    print(f"grew to {total:,} leads in {time.perf_counter() - started:.1f} s", flush=True)


def prepare(url: str, leads: int, needed_open: int) -> None:
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        if conn.execute("select count(*) from leads").fetchone()[0] == 0:
            started = time.perf_counter()
            print(f"seeding {SEED_LEADS:,} demo leads (flask seed-demo)...", flush=True)
            print(_flask(url, "seed-demo", "--leads", str(SEED_LEADS), "--seed", "20261201").strip())
            print(f"  {time.perf_counter() - started:.1f} s", flush=True)
        if conn.execute("select 1 from users where email = %s", (ADMIN_EMAIL,)).fetchone() is None:
            _flask(url, "create-user", ADMIN_EMAIL, "--password", ADMIN_PASSWORD, "--role", "admin")
        open_now = conn.execute("select count(*) from leads where not converted").fetchone()[0]
        total = conn.execute("select count(*) from leads").fetchone()[0]
        _grow(conn, max(leads, total + max(0, needed_open - open_now)))
        # Fresh statistics: each run adds conversions, and a plan made for 50 of them (a merge
        # join over every lead for the conversion list) is 200x slower with 500.
        conn.execute("analyze")


def open_leads(url: str, limit: int, rng: random.Random) -> list[int]:
    """Ids of open leads (not converted, not a scenario's), shuffled."""
    with psycopg.connect(_libpq(url)) as conn:
        ids = [row[0] for row in conn.execute(
            "select id from leads where not converted and status not in ('junk', 'lost') "
            "and coalesce(description, '') not like 'Demo scenario%%'")]
    rng.shuffle(ids)
    return ids[:limit]


# --- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    workers: int
    threads: int
    gc_threshold: str = GC_THRESHOLD
    worker_class: str = "sync"
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, url: str) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        config = OUT / "gunicorn_load.py"
        text = GUNICORN.format(port=self.port, workers=self.workers, threads=self.threads,
                               worker_class=self.worker_class, errorlog=OUT / "gunicorn_load.log")
        if self.gc_threshold != "off":
            text += GC_HOOK.format(gc_threshold=self.gc_threshold)
        config.write_text(text)
        self.process = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", str(config), "webapp:create_app()"],
                                        cwd=TREE, env=_env(url), start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}: see {OUT / 'gunicorn_load.log'}")
            try:
                if httpx.get(f"{self.base}/login", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # the arbiter stops its workers gracefully
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(master: int, database: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the gunicorn workers and of the PostgreSQL backends serving
    `database` (their process title names it), by pid: what the requests cost, whatever else
    shares the machine."""
    snapshot: dict[str, dict[int, float]] = {"app": {}, "db": {}}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == master:
            snapshot["app"][int(entry.name)] = _cpu_seconds(int(entry.name))
        elif title.startswith("postgres: ") and f" {database} " in title:
            snapshot["db"][int(entry.name)] = _cpu_seconds(int(entry.name))
    return snapshot


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    return {kind: sum(t - before[kind].get(pid, 0.0) for pid, t in after[kind].items()) for kind in after}


def sign_in(base: str, email: str, password: str) -> dict[str, str]:
    """The session cookies of `email`, through the login form (CSRF token included)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        data = {"email": email, "password": password, "csrf_token": token.group(1) if token else ""}
        response = client.post("/login", data=data)
        if response.status_code != 303:
            raise SystemExit(f"login of {email} answered {response.status_code}")
        return dict(client.cookies)


def issue_token(url: str, email: str) -> str:
    return _flask(url, "create-token", email, "--name", "bench-load").strip().splitlines()[-1]


# --- the load --------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    ms: float
    status: int
    error: str = ""


@dataclass
class Run:
    base: str
    cookies: list[dict[str, str]]
    tokens: list[str]
    admin_token: str
    leads: list[int]
    deadline: float
    max_requests: int
    results: list[Result] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_lead(self) -> int | None:
        with self.lock:
            return self.leads.pop() if self.leads else None

    def budget_left(self) -> bool:
        with self.lock:
            return len(self.results) < self.max_requests


def _request(run: Run, client: httpx.Client, kind: str, rng: random.Random) -> Result | None:
    client.cookies.clear()  # one client serves several users: no cookie carried over
    if kind == "page":
        cookie = "; ".join(f"{name}={value}" for name, value in rng.choice(run.cookies).items())
        call = lambda: client.get(rng.choice(PAGE_URLS), headers={"Cookie": cookie})  # noqa: E731
    elif kind == "api":
        headers = {"Authorization": f"Bearer {rng.choice(run.tokens)}"}
        call = lambda: client.get(rng.choice(API_URLS), headers=headers)  # noqa: E731
    else:
        lead_id = run.next_lead()
        if lead_id is None:
            return None
        body = {"lead_id": lead_id, "deal": {**DEAL, "name": f"Bench deal {lead_id}"}, "task": TASK}
        headers = {"Authorization": f"Bearer {run.admin_token}"}
        call = lambda: client.post("/api/v1/lead-conversions", json=body, headers=headers)  # noqa: E731
    started = time.perf_counter()
    try:
        response = call()
    except httpx.HTTPError as e:
        return Result(kind, (time.perf_counter() - started) * 1000, 0, f"{type(e).__name__}: {e}")
    ms = (time.perf_counter() - started) * 1000
    expected = 201 if kind == "convert" else 200
    error = "" if response.status_code == expected else f"{response.status_code} {response.text[:300]}"
    return Result(kind, ms, response.status_code, error)


def client_loop(run: Run, seed: int) -> None:
    rng = random.Random(seed)
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    with httpx.Client(base_url=run.base, timeout=10, follow_redirects=False) as client:
        while time.monotonic() < run.deadline and run.budget_left():
            result = _request(run, client, rng.choices(kinds, weights)[0], rng)
            if result is not None:
                with run.lock:
                    run.results.append(result)


def report(results: list[Result], seconds: float, cpu: dict[str, float] | None = None) -> None:
    by_kind = defaultdict(list)
    for r in results:
        by_kind[r.kind].append(r)
    print(f"\n{'kind':<9}{'requests':>9}{'errors':>8}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for kind, rows in [*sorted(by_kind.items()), ("overall", results)]:
        if not rows:
            continue
        ms = [r.ms for r in rows]
        errors = sum(1 for r in rows if r.error)
        print(f"{kind:<9}{len(rows):>9}{errors:>8}{len(rows) / seconds:>8.1f}{percentile(ms, 50):>9.0f}"
              f"{percentile(ms, 95):>9.0f}{max(ms):>9.0f}")
    if cpu and results:
        n = len(results)
        print(f"CPU per request (ms): gunicorn workers {cpu['app'] * 1000 / n:.1f}, PostgreSQL "
              f"{cpu['db'] * 1000 / n:.1f}, load generator {cpu['client'] * 1000 / n:.1f}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    errors = [r for r in results if r.error]
    for r in errors[:5]:
        print(f"  error ({r.kind}): {r.error}")


def load(args) -> None:
    rng = random.Random(args.seed)
    url = ensure_database(args.pg, args.database)
    # A conversion takes roughly a fifth of the requests: keep enough open leads for a fast server.
    needed = args.max_requests * WEIGHTS["convert"] // sum(WEIGHTS.values()) + 100
    prepare(url, args.leads, min(needed, 6000))
    leads = open_leads(url, needed, rng)
    admin_token, sales_token = issue_token(url, ADMIN_EMAIL), issue_token(url, SALES_EMAIL)
    manager_token = issue_token(url, MANAGER_EMAIL)
    worker_class = args.worker_class or ("gthread" if args.threads > 1 else "sync")
    server = Server(args.port, args.workers, args.threads, args.gc_threshold, worker_class)
    server.start(url)
    try:
        cookies = [sign_in(server.base, ADMIN_EMAIL, ADMIN_PASSWORD), sign_in(server.base, MANAGER_EMAIL, DEMO_PASSWORD),
                   sign_in(server.base, SALES_EMAIL, DEMO_PASSWORD)]
        run = Run(server.base, cookies, [admin_token, manager_token, sales_token], admin_token, leads,
                  deadline=0, max_requests=args.max_requests)
        # Warm-up (untimed): every worker imports its templates and fills its pool.
        run.deadline = time.monotonic() + 3
        with ThreadPoolExecutor(args.workers * 2) as pool:
            list(pool.map(lambda i: client_loop(run, 10_000 + i), range(args.workers * 2)))
        warm = len(run.results)
        run.results = []
        print(f"gunicorn: {args.workers} {worker_class} workers x {args.threads} thread(s); {warm} warm-up requests; "
              f"{args.clients} clients for {args.duration} s; {len(run.leads):,} open leads to convert",
              flush=True)
        before, client_before = cpu_snapshot(server.process.pid, args.database), time.process_time()
        started = time.monotonic()
        run.deadline = started + args.duration
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(lambda i: client_loop(run, args.seed * 1000 + i), range(args.clients)))
        elapsed = time.monotonic() - started
        cpu = cpu_used(before, cpu_snapshot(server.process.pid, args.database))
        cpu["client"] = time.process_time() - client_before
        report(run.results, elapsed, cpu)
    finally:
        server.stop()


# --- the profile -----------------------------------------------------------------------------


def profile(args) -> None:
    import cProfile
    import gc
    import pstats

    from common import one_line, query_log
    from common import sign_in as test_sign_in

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import ApiToken, User

    rng = random.Random(args.seed)
    url = ensure_database(args.pg, args.database)
    prepare(url, args.leads, 200)
    leads = open_leads(url, args.profile_requests * 3 + 10, rng)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "UPLOAD_FOLDER": str(OUT / "load-uploads")})
    with app.app_context():
        admin = db.session.scalar(db.select(User).where(User.email == ADMIN_EMAIL))
        sales = db.session.scalar(db.select(User).where(User.email == SALES_EMAIL))
        manager = db.session.scalar(db.select(User).where(User.email == MANAGER_EMAIL))
        tokens = {}
        for user in (admin, sales):
            row, tokens[user.email] = ApiToken.issue(user, "bench-profile")
            db.session.add(row)
        db.session.commit()
        ids = {"admin": admin.id, "sales": sales.id, "manager": manager.id}
    kinds = {
        "page (admin)": ("admin", lambda c, i: c.get(PAGE_URLS[i % len(PAGE_URLS)])),
        "page (manager)": ("manager", lambda c, i: c.get(PAGE_URLS[i % len(PAGE_URLS)])),
        "page (sales)": ("sales", lambda c, i: c.get(PAGE_URLS[i % len(PAGE_URLS)])),
        "api (sales)": (None, lambda c, i: c.get(API_URLS[i % len(API_URLS)],
                                                 headers={"Authorization": f"Bearer {tokens[SALES_EMAIL]}"})),
        "convert": (None, lambda c, i: c.post("/api/v1/lead-conversions", headers={
            "Authorization": f"Bearer {tokens[ADMIN_EMAIL]}"}, json={
            "lead_id": leads.pop(), "deal": {**DEAL, "name": "Profiled deal"}, "task": TASK})),
    }
    for name, (who, call) in kinds.items():
        client = app.test_client()
        if who:
            test_sign_in(client, ids[who])
        for i in range(3):  # warm-up
            call(client, i)
        if name == next(iter(kinds)) and args.gc_threshold != "off":  # as in the workers (GC_HOOK)
            gc.collect()
            gc.freeze()
            gc.set_threshold(*(int(n) for n in args.gc_threshold.split(",")))
        profiler, samples, cpu, sql_ms, statements, statuses = cProfile.Profile(), [], [], [], [], set()
        slowest: dict[str, list[float]] = defaultdict(list)
        # One app context (so one database session) per request, as in the server: what a
        # request remembers in its session (lead statuses, team members) is not carried over.
        for i in range(args.profile_requests):
            with app.app_context(), query_log() as queries:
                started, started_cpu = time.perf_counter(), time.thread_time()
                response = call(client, i)
                cpu.append((time.thread_time() - started_cpu) * 1000)
                samples.append((time.perf_counter() - started) * 1000)
            statements.append(len(queries))
            sql_ms.append(sum(q.ms for q in queries))
            for q in queries:
                slowest[one_line(q.statement, 150)].append(q.ms)
            statuses.add(response.status_code)
        for i in range(args.profile_requests if args.profile_top else 0):  # apart: cProfile doubles the time
            profiler.enable()
            call(client, i)
            profiler.disable()
        print(f"\n=== {name}: wall p50 {percentile(samples, 50):.1f} / p95 {percentile(samples, 95):.1f} ms; "
              f"CPU p50 {percentile(cpu, 50):.1f} / p95 {percentile(cpu, 95):.1f} ms; "
              f"SQL {min(statements)}-{max(statements)} statements, p50 {percentile(sql_ms, 50):.1f} ms; "
              f"statuses {sorted(statuses)}")
        print("  SQL statements by total time (ms total, count, p50 ms):")
        for statement, times in sorted(slowest.items(), key=lambda kv: -sum(kv[1]))[:8]:
            print(f"  {sum(times):8.1f} {len(times):5} {percentile(times, 50):7.2f}  {statement}")
        if args.profile_top:
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(r"webapp|jinja2|wtforms|sqlalchemy/orm/session",
                                                       args.profile_top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=30_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    # Sync workers: on 2 cores, 4 x 4 gthread threads fought over each worker's GIL (switching
    # costs CPU, and a request waits behind three others): 16.4 ms of app CPU per request and
    # p95 480-1050 ms, where 4 sync workers spent 12.9 ms and answered within 360 ms.
    parser.add_argument("--threads", type=int, default=1, help="per worker (gthread); 1: sync workers")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default=None,
                        help="default: gthread with --threads > 1, else sync")
    parser.add_argument("--gc-threshold", default=GC_THRESHOLD,
                        help='the workers\' gc.set_threshold once the app is loaded ("off": '
                             "Python's default, no freeze)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database", default="bench_load")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-requests", type=int, default=30)
    parser.add_argument("--profile-top", type=int, default=25, help="cProfile lines per kind (0: none)")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="a directory holding a copy of webapp/ and migrations/ to run instead")
    args = parser.parse_args()
    global TREE
    TREE = args.tree.resolve()
    if args.pg.split("@")[-1].split(":")[0].split("/")[0] not in ("127.0.0.1", "localhost"):
        sys.exit("the load check talks to 127.0.0.1 only")
    (profile if args.profile else load)(args)


if __name__ == "__main__":
    main()
