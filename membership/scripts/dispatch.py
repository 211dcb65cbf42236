"""``membership_dispatch <ini>``: deliver webhooks, raise ``membership.expired``, keep the feed.

For ZEO and RelStorage, where the app's workers run no dispatcher
(``membership.dispatch.in_process = false`` in production.ini). Run one or
more: a lease per subscription makes one process deliver it at a time, and
another takes over within ``membership.dispatch.lease_seconds`` if it dies.
SIGTERM or SIGINT stops it after the delivery in flight.

With ``membership.dispatch.metrics_listen`` (or ``--metrics-listen``) set to
``host:port`` it serves ``GET /metrics`` there (prometheus-client's own
HTTP server, a daemon thread): this process's webhook deliveries by outcome
and the feed's lag, which no web worker sees. Off by default: several
dispatchers on one host need one port each.
"""

import signal
import sys

from prometheus_client import start_http_server

from ..dispatch import Config, Dispatcher
from ..settings import listen_address
from .common import app_environment, parser

SCRIPT = "membership_dispatch"


def main(argv: list[str] | None = None) -> int:
    cli = parser(
        SCRIPT,
        "Deliver webhooks (and the NATS sink), raise membership.expired, seal and trim "
        "the change feed.",
    )
    cli.add_argument("--once", action="store_true", help="one round, then exit")
    cli.add_argument(
        "--seal",
        action="store_true",
        help="seal every pending change-feed batch (1,000 per transaction), then exit: "
        "for a backlog left by running without a dispatcher",
    )
    cli.add_argument("--name", help="this process's name in leases (default: host:pid:random)")
    cli.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve GET /metrics there (default: membership.dispatch.metrics_listen; empty: off)",
    )
    args = cli.parse_args(sys.argv[1:] if argv is None else argv)
    listen = None
    if args.metrics_listen:
        try:
            listen = listen_address(args.metrics_listen)
        except ValueError as exc:
            cli.error(f"--metrics-listen: {exc}")
    with app_environment(args.config_uri) as env:
        registry = env["registry"]
        settings = registry.membership_settings
        db = registry._zodb_databases[""]
        config = Config.from_settings(settings)
        dispatcher = Dispatcher(db, config, name=args.name)
        if args.seal:
            print(f"{SCRIPT}: sealed {dispatcher.seal_all()} feed batches", flush=True)
            return 0
        if listen is None and settings.dispatch_metrics_listen:
            listen = listen_address(settings.dispatch_metrics_listen)
        if listen is not None:
            try:
                server, _ = start_http_server(listen[1], addr=listen[0])
            except OSError as exc:  # taken, or not an address of this host
                where = f"{_bracketed(listen[0])}:{listen[1]}"
                print(f"{SCRIPT}: cannot serve metrics on {where}: {exc}", file=sys.stderr)
                return 1
            host, port = server.server_address[:2]
            print(f"{SCRIPT}: metrics on http://{_bracketed(host)}:{port}/metrics", flush=True)

        def stop(signum, frame) -> None:
            dispatcher.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"{SCRIPT}: running as {dispatcher.owner}", flush=True)
        if args.once:
            dispatcher.run_once()
        else:
            dispatcher.run_forever()
    return 0


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
