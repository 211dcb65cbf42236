"""gunicorn settings for production: ``gunicorn --paste production.ini -c gunicorn.conf.py``.

The app and its storage come from production.ini; this file only says how many
processes serve it and where. Everything can be overridden on the command line
(``--workers 8 --bind 0.0.0.0:6543``) or by the environment variables below.
"""

import multiprocessing
import os
import shutil
import tempfile

# Where to listen. Put a reverse proxy (TLS, buffering) in front for the world.
bind = os.environ.get("MEMBERSHIP_BIND", "127.0.0.1:6543")

# Worker processes. Each has its own ZODB connection and object cache and
# talks to the shared storage (ZEO or PostgreSQL); the storage, not gunicorn,
# keeps them consistent. Python runs one request at a time per process, so
# processes, not threads, add throughput: one or two per core.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))

# gthread keeps idle keep-alive connections in a poller, so one thread per
# worker does not make a slow client block it. More threads per worker add
# no CPU (the GIL) but do add concurrent writers: every concurrent write to
# one group is a possible conflict and replay, and RelStorage refuses a
# contended row lock at once. One thread per worker, more workers instead.
worker_class = "gthread"
threads = int(os.environ.get("MEMBERSHIP_THREADS", "1"))

# Never load the app in the master: a ZEO client or a PostgreSQL connection
# opened before fork would be shared by every worker. Each worker opens its own.
preload_app = False

# A request that takes longer than this is a bug or a dead storage; the worker
# is killed and replaced. A ZEO or PostgreSQL outage is answered with 503s
# well within this (wait_timeout in the storage URI).
timeout = 60
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then, so a slow leak cannot grow for ever.
max_requests = 20000
max_requests_jitter = 2000

# One access line per request: the app's own (logger membership.access, text or
# JSON as membership.log_format says, with the request id, user, route template
# and duration). gunicorn's access log is off so requests are not logged twice;
# MEMBERSHIP_GUNICORN_ACCESS_LOG=- (or a file) turns it back on.
accesslog = os.environ.get("MEMBERSHIP_GUNICORN_ACCESS_LOG") or None
errorlog = "-"

# Prometheus metrics from every worker (membership/web/metrics.py): each worker
# writes its samples to files in PROMETHEUS_MULTIPROC_DIR and GET /metrics adds
# them up. The directory must be empty when the master starts (on_starting);
# a worker that exits is marked dead (child_exit) so its gauges go away.
# Default: a fresh directory under $TMPDIR; systemd gives one in /run (deploy/).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_made: list[str] = []  # the directory on_starting made, removed on_exit


def on_starting(server):
    directory = os.environ.get(METRICS_DIR_ENV)
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):  # only prometheus_client's files: the rest is not ours
                os.unlink(os.path.join(directory, name))
    else:
        directory = tempfile.mkdtemp(prefix="membership-metrics-")
        _made.append(directory)
    # Set before any worker is forked, so every worker imports prometheus_client with it.
    os.environ[METRICS_DIR_ENV] = directory
    server.log.info("metrics: %s=%s", METRICS_DIR_ENV, directory)


def child_exit(server, worker):
    from prometheus_client import multiprocess  # here: never imported before the env is set

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for directory in _made:
        shutil.rmtree(directory, ignore_errors=True)
