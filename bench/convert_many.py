"""Benchmark of bulk conversion (issue 9): leads/s of the bulk_convert job on SQLite and on
PostgreSQL, the worker's peak RSS, and the floor: the same look-ups and writes with bare
sqlite3 executemany in batches of 1,000.

    .venv/bin/python bench/convert_many.py [--leads 100000] [--chunk 500] [--no-pg] [--profile]

Each run builds its data again (bulk inserts): --leads leads with 3 notes and 1 open task each,
20% matching existing records (half by the e-mail of an existing contact, C4.1 c, half by the
company of an existing account, C4.1 d), 5% sharing a new company with another lead of the job
(pairs scattered over the selection, so that many span two chunks), the rest a new person at a
new company; plus as many existing accounts and contacts as leads / 5. SQLite in
bench/out/many-<leads>.sqlite3; PostgreSQL in the database bench_many (created when missing,
its tables rebuilt; BENCH_PG_URL overrides postgresql+psycopg://postgres@127.0.0.1:5432/bench_many).

The conversion is the real thing: a bulk_convert job (webapp/services/bulk.py) created for an
administrator with a deal for every lead ("{company}" as its name, stage Qualification), run by
a separate worker process (the job's runner, as `flask worker` runs it); leads/s is the number
of leads over the job's running time (its started_at to finished_at), with the worker's CPU
seconds beside it (other processes competing for the 2 cores inflate the wall time, much less
the CPU time); RSS is the worker's peak (VmHWM). Then every lead is checked converted exactly
once, the shared companies giving one account each. Before the job, the bulk panel's dry-run
summary (conversion.bulk.summarize) of 10,000 of the leads is timed in the web process.

The floor (SQLite only) does what the engine does for each lead, with none of its machinery:
read the leads, their notes and tasks, look contacts up by e-mail and accounts by company (one
query each per batch), insert the account, contact, deal, conversion record (its JSON built with
json.dumps) and 4 timeline events, move the notes (3 UPDATEs) and copy them onto the account
and the contact (6 INSERTs), move the task, mark the lead converted; ids assigned in Python
(the batch holds the write lock), one transaction per 1,000 leads, on a copy of the same
database (its triggers and indexes included).

Targets (issue 9, on this 2-core machine): >= 5,000 leads/s on SQLite and on PostgreSQL, within
8x of the floor, peak RSS <= 400 MB. --profile prints a cProfile of the engine converting the
first 5,000 leads in-process (SQLite) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common import OUT, ROOT
from sqlalchemy import create_engine, func, insert, select, text

from webapp import create_app
from webapp.extensions import db
from webapp.models import Account, Contact, Conversion, Job, Lead, Note, Task, User
from webapp.normalize import norm_company, norm_email, norm_name, norm_phone
from webapp.reference import ensure_reference_data

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_many")
INSERT_BATCH = 10_000
FLOOR_BATCH = 1_000
TARGET_RATE = 5_000
TARGET_RATIO = 8
TARGET_RSS_MB = 400
DRY_RUN_LEADS = 10_000  # the bulk panel's summary (conversion.bulk.summarize), timed before the job
TARGET_DRY_RUN_S = 2
OPTIONS = {"deal": {"name": "{company}", "stage": "Qualification", "amount": "1000.00", "currency": "EUR"}}
WORDS = ("Zylker", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell",
         "Cyberdyne", "Soylent", "Aperture", "Massive", "Dynamic", "Nordic", "Atlas", "Orion", "Vertex", "Nimbus")
FORMS = ("SAS", "SARL", "Inc.", "Ltd", "GmbH", "")


def make_app(uri: str):
    OUT.mkdir(parents=True, exist_ok=True)
    return create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": uri,
                       "UPLOAD_FOLDER": str(OUT / "uploads")})


# --- the data ------------------------------------------------------------------------------------
def _company(rng: random.Random, i: int) -> tuple[str, str]:
    name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i} {rng.choice(FORMS)}".strip()
    return name, norm_company(name)


def _pools(rng: random.Random) -> dict:
    """Names and phones drawn once with Faker and normalised once (as bench/lists.py does)."""
    from faker import Faker

    fake = Faker(["fr_FR", "en_US"])
    fake.seed_instance(20261201)
    firsts = sorted((n, norm_name(n)) for n in {fake.first_name() for _ in range(3000)})
    lasts = sorted((n, norm_name(n)) for n in {fake.last_name() for _ in range(8000)})
    phones = sorted({fake.phone_number() for _ in range(3000)})
    return {"firsts": firsts, "lasts": lasts, "phones": [(p, norm_phone(p)) for p in phones]}


def _person(rng: random.Random, pools: dict) -> tuple[str, str, str]:
    (first, first_key), (last, last_key) = rng.choice(pools["firsts"]), rng.choice(pools["lasts"])
    return first, last, f"{first_key} {last_key}"


def _bulk(conn, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        conn.execute(insert(table), rows[start:start + INSERT_BATCH])


def build(uri: str, n_leads: int) -> dict:
    """A fresh schema with the bench data; returns what was made (counts, the admin's id)."""
    rng = random.Random(20261201)
    app = make_app(uri)
    started = time.perf_counter()
    with app.app_context():
        db.drop_all()
        db.create_all()
        ensure_reference_data(db.session)
        admin = User(email="admin@bench.example", name="Admin", role_key="admin", password_hash="!")
        owners = [User(email=f"rep{i}@bench.example", name=f"Rep {i}", role_key="sales", password_hash="!")
                  for i in range(10)]
        db.session.add_all([admin, *owners])
        db.session.flush()
        owner_ids = [u.id for u in owners]
        pools = _pools(rng)
        conn = db.session.connection()
        now = datetime.now(UTC).replace(microsecond=0)
        n_existing = max(n_leads // 5, 10)
        accounts, contacts = [], []
        for i in range(n_existing):
            name, key = _company(rng, 10_000_000 + i)
            accounts.append({"id": i + 1, "name": name, "name_norm": key, "owner_id": rng.choice(owner_ids),
                             "created_at": now, "updated_at": now})
        for i in range(n_existing):
            first, last, key = _person(rng, pools)
            email = f"contact{i}@existing.example"
            contacts.append({"id": i + 1, "first_name": first, "last_name": last, "name_norm": key, "email": email,
                             "email_norm": email, "email_opt_out": False, "owner_id": rng.choice(owner_ids),
                             "account_id": (i % n_existing) + 1 if i % 2 else None,
                             "created_at": now, "updated_at": now})
        _bulk(conn, Account.__table__, accounts)
        _bulk(conn, Contact.__table__, contacts)

        ids = list(range(1, n_leads + 1))
        kinds = ["new"] * n_leads
        order = ids[:]
        rng.shuffle(order)
        cut = n_leads // 10
        for lead_id in order[:cut]:
            kinds[lead_id - 1] = "email"
        for lead_id in order[cut:2 * cut]:
            kinds[lead_id - 1] = "company"
        shared = order[2 * cut:2 * cut + n_leads // 20]
        partner = {}
        for a, b in zip(shared[::2], shared[1::2], strict=False):
            partner[a], partner[b] = b, a
            kinds[a - 1] = kinds[b - 1] = "shared"
        leads, notes, tasks = [], [], []
        companies: dict[int, tuple[str, str]] = {}
        for lead_id in ids:
            kind = kinds[lead_id - 1]
            first, last, name_key = _person(rng, pools)
            phone, e164 = rng.choice(pools["phones"])
            email = f"lead{lead_id}@new.example"
            if kind == "email":
                c = contacts[rng.randrange(n_existing)]
                email, first, last, name_key = c["email"], c["first_name"], c["last_name"], c["name_norm"]
                company = accounts[c["account_id"] - 1] if c["account_id"] else None
                company, company_key = (company["name"], company["name_norm"]) if company else _company(rng, lead_id)
            elif kind == "company":
                a = accounts[rng.randrange(n_existing)]
                company, company_key = a["name"], a["name_norm"]
            elif kind == "shared":
                pair = min(lead_id, partner[lead_id])
                if pair not in companies:
                    companies[pair] = _company(rng, 20_000_000 + pair)
                company, company_key = companies[pair]
            else:
                company, company_key = _company(rng, lead_id)
            leads.append({"id": lead_id, "first_name": first, "last_name": last, "company": company,
                          "email": email, "email_norm": norm_email(email), "company_norm": company_key,
                          "name_norm": name_key, "phone": phone, "phone_e164": e164,
                          "country": "France", "lead_source": "Web form", "status": "new", "currency": "EUR",
                          "email_opt_out": False, "converted": False, "owner_id": rng.choice(owner_ids),
                          "created_at": now - timedelta(seconds=lead_id), "updated_at": now})
            for k in range(3):
                notes.append({"body": f"Note {k} about lead {lead_id}", "parent_type": "lead", "parent_id": lead_id,
                              "created_at": now, "updated_at": now})
            tasks.append({"subject": "Call back", "kind": "task", "status": "open", "parent_type": "lead",
                          "parent_id": lead_id, "due_date": date(2026, 12, 31), "created_at": now, "updated_at": now})
        _bulk(conn, Lead.__table__, leads)
        _bulk(conn, Note.__table__, notes)
        _bulk(conn, Task.__table__, tasks)
        if conn.dialect.name == "postgresql":
            for table in ("accounts", "contacts"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
        else:
            conn.exec_driver_sql("ANALYZE")
        db.session.commit()
        admin_id = admin.id
    app_engine_dispose(app)
    shared_pairs = len(shared) // 2
    print(f"  built {n_leads:,} leads ({n_leads // 10:,} by e-mail, {n_leads // 10:,} by company, "
          f"{shared_pairs:,} pairs sharing a new company), {n_existing:,} accounts and contacts, "
          f"{3 * n_leads:,} notes, {n_leads:,} tasks in {time.perf_counter() - started:.1f} s", flush=True)
    return {"leads": n_leads, "admin_id": admin_id, "pairs": shared_pairs, "existing": n_existing}


def app_engine_dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- the worker ----------------------------------------------------------------------------------
# The worker's peak RSS is its own VmHWM: ru_maxrss would start from the bench process's peak
# (Linux keeps it across fork and exec, and this process has just built the data).
WORKER = """
import json, sys, time
from webapp import create_app
from webapp.extensions import db
from webapp.services import bulk
config = json.loads(sys.argv[1])
app = create_app(config)
with app.app_context():
    started, cpu = time.perf_counter(), time.process_time()
    status = bulk.run_job(db.session, int(sys.argv[2]), chunk_size=config.get("JOB_CHUNK_SIZE"))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"status": status, "seconds": elapsed, "cpu": cpu, "rss_mb": int(hwm.split()[1]) / 1024}))
"""


def run_job(uri: str, made: dict, chunk: int) -> dict:
    """Create the bulk job for every lead (the web side), run it in a worker process; its figures."""
    from webapp.conversion.bulk import BulkOptions, summarize
    from webapp.services import bulk

    app = make_app(uri)
    with app.app_context():
        admin = db.session.get(User, made["admin_id"])
        ids = list(db.session.scalars(select(Lead.id).order_by(Lead.id).limit(DRY_RUN_LEADS)))
        started = time.perf_counter()
        summary = summarize(db.session, admin, ids, BulkOptions.from_dict(OPTIONS))
        dry_run = time.perf_counter() - started
        db.session.rollback()
        job = bulk.create_job(db.session, admin, {**OPTIONS, "filter": {"status": "all"}})
        job_id = job.id
    app_engine_dispose(app)
    config = {"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": uri, "JOB_CHUNK_SIZE": chunk}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", WORKER, json.dumps(config), str(job_id)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the worker failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["dry_run"] = (len(ids), dry_run, summary["account"])
    with app.app_context():
        job = db.session.get(Job, job_id)
        figures.update(job={k: getattr(job, k) for k in ("status", "total", "processed", "converted", "skipped",
                                                           "failed")},
                       running=(_aware(job.finished_at) - _aware(job.started_at)).total_seconds())
        figures["checks"] = check(made)
    app_engine_dispose(app)
    return figures


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check(made: dict) -> str:
    """Every lead converted exactly once; a new company shared by two leads gives one account."""
    s = db.session
    unconverted = s.scalar(select(func.count()).select_from(Lead).where(Lead.converted.is_(False)))
    conversions = s.scalar(select(func.count()).select_from(Conversion))
    twice = s.scalar(select(func.count()).select_from(
        select(Conversion.lead_id).group_by(Conversion.lead_id).having(func.count() > 1).subquery()))
    duplicate_names = s.scalar(select(func.count()).select_from(
        select(Account.name_norm).group_by(Account.name_norm).having(func.count() > 1).subquery()))
    problems = []
    if unconverted:
        problems.append(f"{unconverted} leads not converted")
    if conversions != made["leads"] or twice:
        problems.append(f"{conversions} conversions for {made['leads']} leads ({twice} leads twice)")
    if duplicate_names:
        problems.append(f"{duplicate_names} company names with several accounts")
    return "; ".join(problems) or "ok: every lead converted once, one account per company"


# --- the floor -------------------------------------------------------------------------------------
def floor(path: Path, n_leads: int, admin_id: int) -> float:
    """Bare sqlite3: the engine's look-ups and writes, batches of FLOOR_BATCH; leads/s."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
        conn.execute(f"PRAGMA {pragma}")
    next_id = {t: conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}").fetchone()[0]
               for t in ("accounts", "contacts", "deals", "conversions", "notes")}
    pipeline = conn.execute("SELECT id FROM pipelines WHERE is_default").fetchone()[0]
    started = time.perf_counter()
    for start in range(1, n_leads + 1, FLOOR_BATCH):
        ids = list(range(start, min(start + FLOOR_BATCH, n_leads + 1)))
        marks = ",".join("?" * len(ids))
        conn.execute("BEGIN IMMEDIATE")
        now = datetime.now(UTC).isoformat(sep=" ")
        leads = conn.execute(f"SELECT id, first_name, last_name, company, email, email_norm, company_norm, "
                             f"phone, owner_id, status FROM leads WHERE id IN ({marks}) AND converted = 0",
                             ids).fetchall()
        emails = sorted({r[5] for r in leads if r[5]})
        companies = sorted({r[6] for r in leads if r[6]})
        by_email = {e: (cid, aid) for cid, e, aid in conn.execute(
            f"SELECT id, email_norm, account_id FROM contacts WHERE email_norm IN ({','.join('?' * len(emails))})",
            emails)}
        by_company = {n: aid for aid, n in conn.execute(
            f"SELECT id, name_norm FROM accounts WHERE name_norm IN ({','.join('?' * len(companies))})", companies)}
        notes: dict[int, list] = {}
        for nid, pid, body in conn.execute(f"SELECT id, parent_id, body FROM notes WHERE parent_type = 'lead' "
                                           f"AND parent_id IN ({marks})", ids):
            notes.setdefault(pid, []).append((nid, body))
        tasks = {pid: tid for tid, pid in conn.execute(
            f"SELECT id, parent_id FROM tasks WHERE parent_type = 'lead' AND parent_id IN ({marks})", ids)}
        accounts, contacts, deals, conversions, events, moves, copies, task_moves, marks_rows = ([] for _ in range(9))
        for lead_id, first, last, company, email, email_norm, company_norm, phone, owner, status in leads:
            contact = by_email.get(email_norm)
            account_id = (contact[1] if contact and contact[1] else by_company.get(company_norm))
            if account_id is None and company_norm:
                account_id = next_id["accounts"]
                next_id["accounts"] += 1
                by_company[company_norm] = account_id
                accounts.append((account_id, company, company_norm, phone, owner, now, now))
            if contact is None:
                contact_id = next_id["contacts"]
                next_id["contacts"] += 1
                by_email[email_norm] = (contact_id, account_id)
                contacts.append((contact_id, first, last, email, email_norm, norm_name(first, last), account_id,
                                 owner, now, now))
            else:
                contact_id = contact[0]
            deal_id = next_id["deals"]
            next_id["deals"] += 1
            deals.append((deal_id, company or f"{first} {last}", account_id, contact_id, pipeline, owner, now, now))
            moved = []
            for nid, body in notes.get(lead_id, []):
                moves.append(("deal", deal_id, now, nid))
                moved.append({"type": "note", "id": nid, "from": ["lead", lead_id], "to": ["deal", deal_id]})
                for entity, rid in (("account", account_id), ("contact", contact_id)):
                    if rid:
                        copies.append((next_id["notes"], body, entity, rid, nid, now, now))
                        moved.append({"type": "note", "id": next_id["notes"], "copy": True, "copy_of": nid})
                        next_id["notes"] += 1
            if lead_id in tasks:
                task_moves.append(("contact", contact_id, deal_id, now, tasks[lead_id]))
            conversion_id = next_id["conversions"]
            next_id["conversions"] += 1
            conversions.append((conversion_id, lead_id, admin_id, json.dumps(OPTIONS), account_id, contact_id,
                                deal_id, json.dumps({"notes": 3, "activities": 1}), json.dumps(moved),
                                json.dumps({"status": status}), now))
            for entity, rid in (("lead", lead_id), ("account", account_id), ("contact", contact_id),
                                ("deal", deal_id)):
                if rid:
                    events.append((entity, rid, "converted", "Converted", json.dumps({"conversion_id": conversion_id}),
                                   admin_id, now))
            marks_rows.append((conversion_id, now, now, lead_id))
        conn.executemany("INSERT INTO accounts (id, name, name_norm, phone, owner_id, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", accounts)
        conn.executemany("INSERT INTO contacts (id, first_name, last_name, email, email_norm, name_norm, account_id, "
                         "owner_id, email_opt_out, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                         contacts)
        conn.executemany("INSERT INTO deals (id, name, account_id, contact_id, pipeline_id, stage, currency, owner_id, "
                         "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'Qualification', 'EUR', ?, ?, ?)", deals)
        conn.executemany("UPDATE notes SET parent_type = ?, parent_id = ?, updated_at = ? WHERE id = ?", moves)
        conn.executemany("INSERT INTO notes (id, body, parent_type, parent_id, copy_of_id, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", copies)
        conn.executemany("UPDATE tasks SET parent_type = ?, parent_id = ?, deal_id = ?, updated_at = ? WHERE id = ?",
                         task_moves)
        conn.executemany("INSERT INTO conversions (id, lead_id, created_by, options, account_id, account_action, "
                         "contact_id, contact_action, deal_id, deal_action, task_action, fields_written, "
                         "previous_values, not_updated, moved, moved_records, lead_before, created_at) VALUES "
                         "(?, ?, ?, ?, ?, 'created', ?, 'created', ?, 'created', 'none', '{}', '{}', '[]', ?, ?, ?, ?)",
                         conversions)
        conn.executemany("INSERT INTO timeline_events (parent_type, parent_id, kind, message, data, actor_id, "
                         "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", events)
        conn.executemany("UPDATE leads SET converted = 1, status = 'converted', conversion_id = ?, converted_at = ?, "
                         "updated_at = ? WHERE id = ? AND converted = 0", marks_rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return n_leads / elapsed


# --- the profile -----------------------------------------------------------------------------------
def profile(uri: str, made: dict, chunk: int, leads: int = 5000) -> None:
    import cProfile
    import pstats

    from webapp.conversion.bulk import BulkOptions, convert_chunk

    app = make_app(uri)
    with app.app_context():
        options = BulkOptions.from_dict(OPTIONS)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for start in range(1, leads + 1, chunk):
            admin = db.session.get(User, made["admin_id"])
            convert_chunk(db.session, admin, list(range(start, min(start + chunk, leads + 1))), options)
            db.session.commit()
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"\n{leads:,} leads in {elapsed:.2f} s under the profiler ({leads / elapsed:,.0f} leads/s)")
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(30)


def ensure_pg_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=None, help="leads per chunk (default: the job's own)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--profile", action="store_true", help="a cProfile of the engine on 5,000 leads (SQLite)")
    args = parser.parse_args()
    from webapp.services.bulk import DEFAULT_CHUNK

    chunk = args.chunk or DEFAULT_CHUNK
    path = OUT / f"many-{args.leads}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    print(f"SQLite ({path.name}):")
    made = build(f"sqlite:///{path}", args.leads)
    if args.profile:
        profile(f"sqlite:///{path}", made, chunk, min(args.leads, 5000))
        return
    pristine = path.with_suffix(".floor.sqlite3")
    shutil.copyfile(path, pristine)
    results = {"SQLite": run_job(f"sqlite:///{path}", made, chunk)}
    rate_floor = floor(pristine, args.leads, made["admin_id"])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{pristine}{suffix}").unlink(missing_ok=True)
    if not args.no_pg:
        print(f"PostgreSQL ({PG_URL.rpartition('@')[2]}):")
        ensure_pg_database(PG_URL)
        made_pg = build(PG_URL, args.leads)
        results["PostgreSQL"] = run_job(PG_URL, made_pg, chunk)

    print(f"\nbulk_convert of {args.leads:,} leads with a deal each, chunks of {chunk}, one worker process "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n")
    header = (f"{'database':10} | {'leads/s':>8} | {'seconds':>7} | {'worker CPU s':>12} | {'worker RSS':>10} | "
              f"{'vs floor':>8} | job / checks")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        rate = args.leads / r["running"]
        flags = "" if rate >= TARGET_RATE else " *"
        ratio = rate_floor / rate
        print(f"{name:10} | {rate:8,.0f} | {r['running']:7.1f} | {r['cpu']:12.1f} | {r['rss_mb']:7.0f} MB | {ratio:7.1f}x | "
              f"{r['job']['status']} {r['job']['converted']:,}/{r['job']['total']:,} converted, "
              f"{r['job']['skipped']} skipped, {r['job']['failed']} failed; {r['checks']}{flags}")
    print(f"{'floor':10} | {rate_floor:8,.0f} | {args.leads / rate_floor:7.1f} | {'':>12} | {'':>10} | {'1.0x':>8} | "
          f"bare sqlite3 executemany, batches of {FLOOR_BATCH:,}")
    for name, r in results.items():
        count, seconds, accounts = r["dry_run"]
        print(f"dry-run summary of {count:,} leads on {name}: {seconds:.2f} s (accounts {accounts})")
    print(f"\nTargets: >= {TARGET_RATE:,} leads/s on both, within {TARGET_RATIO}x of the floor, "
          f"worker RSS <= {TARGET_RSS_MB} MB (* below the rate target), dry run of {DRY_RUN_LEADS:,} leads "
          f"<= {TARGET_DRY_RUN_S} s.")


if __name__ == "__main__":
    main()
