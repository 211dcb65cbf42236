"""``membership_dispatch <ini>``: deliver webhooks, raise ``membership.expired``, keep the feed.

For ZEO and RelStorage, where the app's workers run no dispatcher
(``membership.dispatch.in_process = false`` in production.ini). Run one or
more: a lease per subscription makes one process deliver it at a time, and
another takes over within ``membership.dispatch.lease_seconds`` if it dies.
SIGTERM or SIGINT stops it after the delivery in flight.
"""

import signal
import sys

from ..dispatch import Config, Dispatcher
from .common import app_environment, parser

SCRIPT = "membership_dispatch"


def main(argv: list[str] | None = None) -> int:
    cli = parser(
        SCRIPT,
        "Deliver webhooks (and the NATS sink), raise membership.expired, seal and trim "
        "the change feed.",
    )
    cli.add_argument("--once", action="store_true", help="one round, then exit")
    cli.add_argument("--name", help="this process's name in leases (default: host:pid:random)")
    args = cli.parse_args(sys.argv[1:] if argv is None else argv)
    with app_environment(args.config_uri) as env:
        registry = env["registry"]
        db = registry._zodb_databases[""]
        config = Config.from_settings(registry.membership_settings)
        dispatcher = Dispatcher(db, config, name=args.name)

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
