"""Production gunicorn settings: `gunicorn -c gunicorn.conf.py 'webapp:create_app()'`.

Sync workers, not gthread: measured by bench/load.py on 2 cores, four threads per worker
compete for the interpreter lock and cost more CPU per request (app 16.4 -> 12.9 ms) and a
longer tail (p95 487 -> 357 ms). Give as many workers as the machine absorbs (WEB_CONCURRENCY,
default 4) behind a proxy that buffers slow clients (nginx)."""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "sync"
timeout = 30          # a worker silent this long is killed and replaced
graceful_timeout = 10
preload_app = False   # each worker builds its own app and database connection pool
accesslog = os.environ.get("ACCESS_LOG")  # unset: no access log


def post_worker_init(worker):
    # Once the app is loaded, its ~160,000 long-lived objects (SQLAlchemy, Jinja, Babel) are set
    # aside from the cyclic collector, which then runs 10x less often: with Python's default
    # thresholds a list page triggered ~2 collections and every ~50th a full one (~60 ms).
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)
