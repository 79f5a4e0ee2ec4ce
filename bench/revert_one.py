"""Benchmark of reverting one conversion through the API (SQLite, C9.1): prints p50/p95 server
times of the revert's dry run (the preview) and of the revert, with the SQL they run.

    .venv/bin/python bench/revert_one.py [--leads 100000] [--contacts 100000] [--accounts 50000]
                                         [--requests 50] [--warmup 5] [--profile]

The data is convert_one.py's (its build(), in bench/out/revert-<leads>-<contacts>-<accounts>.sqlite3,
built once with its realistic duplicates, notes and tags, and reused). Each timed lead is first
converted through the API with a deal and a follow-up task (untimed), on a lead carrying notes and
tags when there are enough (so that the revert moves notes back, removes note and tag copies,
restores filled fields on merged records and deletes the created ones); then, with the Flask
test client (in-process: server time, no network), POST /api/v1/lead-conversions/{id}/revert as
a dry run on half of them and as a revert on the other half, after a few untimed warm-ups.
Figures, not pass/fail: the target is p95 <= 50 ms for the revert.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import Counter
from pathlib import Path

from common import OUT, Timing, explain, make_app, one_line, query_log
from convert_one import DEAL, TASK, build
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ApiToken, Lead, Note, User

URL = "/api/v1/lead-conversions"
TARGET_MS = 50  # p95 of a revert (deal + task + moved records), server time


def _convert(client, headers: dict, lead_ids: list[int]) -> list[int]:
    """Convert each lead (deal + task, untimed); the conversion ids."""
    ids = []
    for lead_id in lead_ids:
        response = client.post(URL, json={"lead_id": lead_id, "deal": DEAL, "task": TASK,
                                          "tags_to": ["contact", "deal", "account"]}, headers=headers)
        if response.status_code == 201:
            ids.append(response.get_json()["id"])
    return ids


def _time(client, headers: dict, conversion_ids: list[int], body: dict, warmup: int):
    wall, cpu, statuses, slowest = Timing(), Timing(), Counter(), (0.0, [])
    for i, conversion_id in enumerate(conversion_ids):
        with query_log() as queries:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.post(f"{URL}/{conversion_id}/revert", json=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            cpu_ms = (time.process_time() - cpu_started) * 1000
        statuses[response.status_code] += 1
        if response.status_code >= 400 and statuses[response.status_code] == 1:
            print(f"  note: conversion {conversion_id} answered {response.status_code}: "
                  f"{response.get_json().get('message')}")
        if i >= warmup:
            wall.samples.append(elapsed)
            cpu.samples.append(cpu_ms)
            if elapsed > slowest[0]:
                slowest = (elapsed, list(queries))
    return wall, cpu, statuses, slowest[1]


def measure(path: Path, requests: int, warmup: int, profile: bool) -> None:
    app = make_app(path)
    client = app.test_client()
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.role_key == "admin"))
        row, token = ApiToken.issue(admin, "bench")
        db.session.add(row)
        db.session.commit()
        headers = {"Authorization": f"Bearer {token}"}
        open_ids = list(db.session.scalars(select(Lead.id).where(Lead.converted.is_(False))))
        with_notes = list(db.session.scalars(
            select(Lead.id).where(Lead.converted.is_(False), Lead.id.in_(
                select(Note.parent_id).where(Note.parent_type == "lead")))))
        needed = 2 * (requests + warmup) + (20 if profile else 0)
        pool = with_notes if len(with_notes) >= needed else open_ids
        if len(pool) < needed:
            raise SystemExit(f"only {len(pool)} unconverted leads left: delete {path} to rebuild")
        leads = random.Random().sample(pool, needed)
        started = time.perf_counter()
        conversions = _convert(client, headers, leads)
        print(f"\n{len(open_ids):,} unconverted leads ({len(with_notes):,} with notes); converted "
              f"{len(conversions)} of them (deal + task, tags copied) in {time.perf_counter() - started:.1f} s; "
              f"{requests} timed requests after {warmup} warm-ups, each on a different conversion; "
              "times in ms (server, in-process)\n")
        half = requests + warmup
        results = {
            "preview (dry run)": _time(client, headers, conversions[:half], {"dry_run": True}, warmup),
            "revert": _time(client, headers, conversions[half:2 * half], {"keep_changed": True}, warmup),
        }
        header = (f"{'request':18} | {'wall p50':>8} {'p95':>7} {'max':>7} | {'cpu p50':>7} {'p95':>7} | "
                  f"{'sql':>4} {'sql ms':>6} | statuses")
        print(header)
        print("-" * len(header))
        for label, (wall, cpu, statuses, queries) in results.items():
            flags = ["*" if t.p95 > TARGET_MS else " " for t in (wall, cpu)]
            sql_ms = sum(q.ms for q in queries)
            print(f"{label:18} | {wall.p50:8.1f} {wall.p95:6.1f}{flags[0]} {max(wall.samples):7.1f} | "
                  f"{cpu.p50:7.1f} {cpu.p95:6.1f}{flags[1]} | {len(queries):4d} {sql_ms:6.1f} | {dict(statuses)}")
        print(f"\n* p95 above the {TARGET_MS} ms target. Load average now: {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} CPUs (wall times grow with it; CPU times much less).\n"
              "sql / sql ms: statements of the slowest timed request and their summed time.")
        print("\nSlowest statements of the slowest request (ms) and SQLite's plan:")
        for label, (*_rest, queries) in results.items():
            for query in sorted(queries, key=lambda q: -q.ms)[:3]:
                print(f"\n[{label}] {query.ms:.2f} ms: {one_line(query.statement)}")
                if query.statement.lstrip().upper().startswith("SELECT"):
                    for step in explain(query):
                        print(f"    {step}")

        if profile:
            import cProfile
            import pstats

            spare = conversions[2 * half:]
            profiler = cProfile.Profile()
            profiler.enable()
            for conversion_id in spare:
                client.post(f"{URL}/{conversion_id}/revert", json={"keep_changed": True}, headers=headers)
            profiler.disable()
            print(f"\n--- cProfile of {len(spare)} reverts ---")
            stats = pstats.Stats(profiler).strip_dirs()
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="a cProfile of 20 reverts")
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    # Its own file (convert_one.py builds the same data): a concurrent convert_one run keeps its own.
    path = args.db or OUT / f"revert-{args.leads}-{args.contacts}-{args.accounts}.sqlite3"
    build(path, args.leads, args.contacts, args.accounts)
    measure(path, args.requests, args.warmup, args.profile)


if __name__ == "__main__":
    main()
