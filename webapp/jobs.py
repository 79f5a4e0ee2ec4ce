"""The background queue: Huey, built from the app's configuration.

- Embedded default: `SqliteHuey`, its file in the instance folder (`instance/huey.sqlite3`,
  or `HUEY_FILE`): no server. With `REDIS_URL`: `RedisHuey` on that Redis.
- The queue carries only a job id. A job's state (status, counts, cursor, heartbeat) lives
  in the database (`Job`), so any worker on any machine can resume it.
- One task, `run_job(job_id)`, runs the job's kind from `RUNNERS`.
- App context: `huey_for(app)` builds the Huey instance of an app once (kept in
  `app.extensions["huey"]`) and registers the tasks as closures over that app; each task
  pushes `app.app_context()` around its work. The web process and `flask worker` both call
  huey_for(create_app()), so they register the same task names on the same storage.
- Resume after a killed worker: a running job's heartbeat is written with every chunk; a job
  whose heartbeat is older than `JOB_STALE_SECONDS` (default 30) is released and enqueued
  again by the periodic task `recover_jobs` (every minute, in the consumer) and when a
  worker starts (which also enqueues every queued job again: their messages may be lost, and
  a duplicate message is harmless because a job is claimed with a conditional UPDATE).
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from .errors import N_
from .extensions import db
from .services import bulk, keys

logger = logging.getLogger(__name__)

NAME = "leadway"
STALE_SECONDS = 30
# kind -> runner(session, job_id, chunk_size=None, pause=0.0, should_stop=...)
RUNNERS = {keys.KIND: keys.run_job, bulk.KIND: bulk.run_job}
# Job.error when the queue is down: stored formatted, in English (the template is a msgid).
QUEUE_DOWN = N_("The queue could not be reached: {error}")


def huey_for(app: Flask):
    """The app's Huey instance (built on first use from app.config, tasks registered)."""
    huey = app.extensions.get("huey")
    if huey is None:
        huey = _build(app)
        _register_tasks(huey, app)
        app.extensions["huey"] = huey
    return huey


def _build(app: Flask):
    from huey import MemoryHuey, RedisHuey, SqliteHuey  # (redis' import is slow: only when used)

    name = app.config.get("HUEY_NAME") or NAME
    if app.config.get("HUEY_IMMEDIATE"):
        # Tests and `rebuild-keys --wait`: tasks run at once, in the caller.
        return MemoryHuey(name, immediate=True, results=False)
    url = app.config.get("REDIS_URL")
    if url:
        return RedisHuey(name, url=url, results=False)
    if app.testing and not app.config.get("HUEY_FILE"):
        # A test that enqueues without choosing a queue keeps its messages in memory, never in
        # the instance folder's file (which a `make run` worker would consume).
        return MemoryHuey(name, results=False)
    path = app.config.get("HUEY_FILE") or str(Path(app.instance_path) / "huey.sqlite3")
    return SqliteHuey(name, filename=path, results=False)


def _register_tasks(huey, app: Flask) -> None:
    from huey import crontab

    @huey.task(name="run_job")
    def run_job(job_id: int) -> None:
        with app.app_context():
            _run(app, job_id)

    @huey.periodic_task(crontab(minute="*"), name="recover_jobs")
    def recover_jobs() -> None:
        with app.app_context():
            recover(app)

    app.extensions["huey_tasks"] = {"run_job": run_job, "recover_jobs": recover_jobs}


def _run(app: Flask, job_id: int) -> None:
    from .models import Job

    job = db.session.get(Job, job_id)
    runner = RUNNERS.get(job.kind) if job is not None else None
    if runner is None:
        logger.warning("job %s: no such job or no runner for its kind", job_id)
        return
    db.session.rollback()  # the runner starts its own transactions
    stop_flag = app.extensions.get("huey_stop_flag")
    status = runner(db.session, job_id,
                    chunk_size=app.config.get("JOB_CHUNK_SIZE"),
                    pause=float(app.config.get("JOB_CHUNK_PAUSE") or 0),
                    should_stop=stop_flag.is_set if stop_flag is not None else lambda: False)
    logger.info("job %s: %s", job_id, status or "not run (not queued)")


def enqueue(app: Flask, job_id: int) -> bool:
    """Send a job's id to the queue; when the queue is down the job is marked failed with
    the reason (it never stays queued for nothing). True when sent."""
    huey_for(app)
    try:
        app.extensions["huey_tasks"]["run_job"](job_id)
    except Exception as error:  # redis.ConnectionError, sqlite3.OperationalError...
        logger.exception("job %s could not be enqueued", job_id)
        db.session.rollback()
        keys.fail(db.session, job_id, QUEUE_DOWN.format(error=error))
        return False
    return True


def start_rebuild_keys(app: Flask, created_by: int | None = None, chunk_size: int | None = None):
    """Create the rebuild job (committed) and enqueue its id; the Job."""
    huey_for(app)
    job = keys.create_job(db.session, created_by=created_by, chunk_size=chunk_size)
    enqueue(app, job.id)
    db.session.refresh(job)
    return job


def start_bulk_convert(app: Flask, actor, data: dict):
    """Create a bulk conversion job from the body of POST /lead-conversions/bulk (committed;
    raises Invalid with every field error, writing nothing) and enqueue its id; the Job."""
    huey_for(app)
    job = bulk.create_job(db.session, actor, data)
    enqueue(app, job.id)
    db.session.refresh(job)
    return job


def recover(app: Flask, on_start: bool = False) -> list[int]:
    """Release and enqueue again the jobs left by dead workers (see the module doc); their ids.

    `on_start`: a worker is starting, so every queued job is enqueued again too."""
    stale = float(app.config.get("JOB_STALE_SECONDS") or STALE_SECONDS)
    ids = []
    for job in keys.stale_jobs(db.session, stale, queued_older_than=0 if on_start else None):
        if job.kind in RUNNERS and keys.release(db.session, job):
            ids.append(job.id)
    for job_id in ids:
        enqueue(app, job_id)
    if ids:
        logger.info("jobs enqueued again: %s", ids)
    return ids


def consumer(app: Flask, workers: int = 1):
    """A Huey consumer for the app (threads); its stop flag is what running jobs watch, so
    that a graceful stop (Ctrl-C) puts a running job back to queued at its last chunk."""
    huey = huey_for(app)
    consumer = huey.create_consumer(workers=workers, worker_type="thread",
                                    check_worker_health=True)
    app.extensions["huey_stop_flag"] = consumer.stop_flag
    return consumer


def run_worker(app: Flask, workers: int = 1) -> None:
    """What `flask worker` does: enqueue the jobs dead workers left, then consume until
    stopped (Ctrl-C / SIGINT: graceful, running jobs go back to queued at their last chunk;
    SIGTERM: at once, the periodic recovery resumes them)."""
    runner = consumer(app, workers)
    with app.app_context():
        recover(app, on_start=True)
    runner.run()
