"""Benchmark of the lead statuses admin page (issue 10: admin pages p95 <= 100 ms with 50
statuses): prints p50/p95 server times of the page, its htmx panel, a move and a rename, and the
SQL the page runs.

    .venv/bin/python bench/admin_statuses.py [--statuses 50] [--leads 100000] [--requests 30]

Builds bench/out/statuses-<statuses>-<leads>.sqlite3 afresh (leads spread over the statuses;
the page's per-status numbers come from the trigger-kept lead_counts, not the leads), then
times in-process requests (server time, no network) as an administrator.
"""

from __future__ import annotations

import argparse
import time

from common import OUT, Timing, make_app, one_line, percentile, query_log, sign_in, time_get
from sqlalchemy import insert

from webapp.extensions import db
from webapp.models import Lead, LeadStatus, User, utcnow
from webapp.reference import ensure_reference_data
from webapp.services import statuses as svc

HX = {"HX-Request": "true"}


def build(statuses: int, leads: int):
    path = OUT / f"statuses-{statuses}-{leads}.sqlite3"
    OUT.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    app = make_app(path)
    with app.app_context():
        db.create_all()
        ensure_reference_data(db.session)
        admin = User(email="bench-admin@example.com", name="Bench Admin", role_key="admin")
        admin.set_password("bench password 1")
        db.session.add(admin)
        db.session.commit()
        for i in range(statuses - db.session.query(LeadStatus).count()):
            svc.add_status(db.session, admin, {"label": f"Step {i}", "category": "closed" if i % 4 == 0 else "open"})
        db.session.commit()
        keys = [s.key for s in svc.ordered(db.session) if s.category != svc.CONVERTED]
        now = utcnow()
        for start in range(0, leads, 10_000):
            db.session.execute(insert(Lead.__table__), [
                {"first_name": "Anne", "last_name": f"Martin {i}", "status": keys[i % len(keys)], "currency": "EUR",
                 "converted": False, "email_opt_out": False, "created_at": now, "updated_at": now}
                for i in range(start, min(leads, start + 10_000))])
        db.session.commit()
        admin_id = admin.id
        db.session.remove()
    return app, admin_id


def time_post(client, url: str, data_for, requests: int) -> Timing:
    timing = Timing()
    for i in range(requests + 3):
        started = time.perf_counter()
        response = client.post(url, data=data_for(i), headers=HX)
        elapsed = (time.perf_counter() - started) * 1000
        timing.status = response.status_code
        if i >= 3:
            timing.samples.append(elapsed)
    return timing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statuses", type=int, default=50)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    app, admin_id = build(args.statuses, args.leads)
    with app.app_context():
        client = app.test_client()
        sign_in(client, admin_id)
        key = [s.key for s in svc.ordered(db.session) if s.category == "open"][5]
        rows = [
            ("GET /admin/statuses", time_get(client, "/admin/statuses", args.requests)),
            ("GET /admin/statuses (htmx)", time_get(client, "/admin/statuses", args.requests, headers=HX)),
            ("POST move (htmx)", time_post(client, f"/admin/statuses/{key}/move",
                                           lambda i: {"direction": "up" if i % 2 else "down"}, args.requests)),
            ("POST rename (htmx)", time_post(client, f"/admin/statuses/{key}/label",
                                             lambda i: {"label": f"Renamed {i}"}, args.requests)),
        ]
        print(f"{args.statuses} statuses, {args.leads:,} leads")
        for name, t in rows:
            print(f"  {name:30} status {t.status}  p50 {percentile(t.samples, 50):6.1f} ms  "
                  f"p95 {percentile(t.samples, 95):6.1f} ms")
        with query_log() as queries:
            client.get("/admin/statuses", headers=HX)
        print(f"  the page's SQL ({len(queries)} statements):")
        for q in queries:
            print(f"    {q.ms:6.2f} ms  {one_line(q.statement, 120)}")


if __name__ == "__main__":
    main()
