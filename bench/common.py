"""Shared helpers of the benchmarks: the app on a bench database, signing in, timing, query plans."""

from __future__ import annotations

import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"  # git-ignored
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/, not the project, on the path
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402


def make_app(database: Path):
    """The app on the SQLite file `database` (TESTING: errors raise; CSRF off: GETs only anyway)."""
    OUT.mkdir(parents=True, exist_ok=True)
    return create_app({
        "TESTING": True,
        "SECRET_KEY": "bench",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "WTF_CSRF_ENABLED": False,
        "UPLOAD_FOLDER": str(OUT / "uploads"),
    })


def sign_in(client, user_id: int) -> None:
    """Sign the test client in as a user without the login form (Flask-Login's session keys)."""
    with client.session_transaction() as session:
        session.clear()
        session["_user_id"] = str(user_id)
        session["_fresh"] = True


def percentile(values: list[float], p: int) -> float:
    """The p-th percentile (inclusive method: p95 of 30 samples interpolates the top two)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


@dataclass
class Timing:
    """Server times in milliseconds of repeated requests to one URL, and the last status."""

    samples: list[float] = field(default_factory=list)
    status: int = 0
    size: int = 0

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)


def time_get(client, url: str, requests: int = 30, warmup: int = 3, headers=None,
             budget: float = 30.0) -> Timing:
    """GET `url` `warmup` times untimed, then `requests` times timed (in-process: server time only).

    A page slower than `budget` seconds in all stops early (with at least 3 samples), so that
    one pathological query does not keep the bench running for an hour.
    """
    timing = Timing()
    deadline = time.perf_counter() + budget
    for i in range(warmup + requests):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        timing.status, timing.size = response.status_code, len(response.data)
        if i >= warmup or elapsed > 1000:  # a second-long warm-up is a sample, not a warm-up
            timing.samples.append(elapsed)
        if len(timing.samples) >= 3 and time.perf_counter() > deadline:
            break
    return timing


@dataclass
class Query:
    statement: str
    params: object
    ms: float


@contextmanager
def query_log():
    """Collect the SQL statements run inside the block with their duration."""
    queries: list[Query] = []
    engine = db.engine

    def before(conn, cursor, statement, params, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, params, context, executemany):
        started = conn.info["bench_started"].pop()
        queries.append(Query(statement, params, (time.perf_counter() - started) * 1000))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield queries
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def explain(query: Query) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN of a logged statement, one line per step."""
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query.statement, query.params).all()
    return [row[-1] for row in rows]


def replay(query: Query) -> float:
    """Milliseconds to run a logged statement and fetch every row.

    The execute events time only up to the first row (SQLite finds the rest while they are
    fetched), so this is what tells which statement of a page is the slow one.
    """
    with db.engine.connect() as conn:
        started = time.perf_counter()
        conn.exec_driver_sql(query.statement, query.params).all()
        return (time.perf_counter() - started) * 1000


def one_line(sql: str, width: int = 160) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"
