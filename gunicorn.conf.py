"""gunicorn settings for production: ``gunicorn --paste production.ini -c gunicorn.conf.py``.

The app and its storage come from production.ini; this file only says how many
processes serve it and where. Everything can be overridden on the command line
(``--workers 8 --bind 0.0.0.0:6543``) or by the environment variables below.
"""

import multiprocessing
import os

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

# Access log and error log to stderr, like the app's own logging.
accesslog = os.environ.get("MEMBERSHIP_ACCESS_LOG", "-")
errorlog = "-"
