"""Changes out: webhooks, the NATS sink, ``membership.expired``, feed upkeep.

Where it runs: on a FileStorage (one process owns the file, ``make serve``)
as a daemon thread of the app process, started here; on ZEO or RelStorage
as ``membership_dispatch <ini>`` processes (``scripts/dispatch.py``), any
number of them, leases deciding who delivers what. Imports the domain and
the model, like a script; the web imports it, never the other way round.
"""

import atexit
import logging
import sys

from .dispatcher import Config, Dispatcher

__all__ = ["Config", "Dispatcher", "start_in_process"]

log = logging.getLogger(__name__)


def _inside_console_script() -> bool:
    """A console script loads the app too (``scripts/common.py``); it must not get a
    dispatcher writing beside it (``membership_dispatch`` runs its own)."""
    return "membership.scripts.common" in sys.modules


def start_in_process(db, settings, *, force: bool = False) -> Dispatcher | None:
    """The in-process dispatcher, started when configured, the storage is a FileStorage
    and this process is a server (not a console script); None otherwise.

    It stops when ``db`` closes.
    """
    from ZODB.FileStorage import FileStorage

    if not force:
        if not settings.dispatch_in_process or _inside_console_script():
            return None
        if not isinstance(db.storage, FileStorage):
            return None
    exclusive = isinstance(db.storage, FileStorage)  # no other process can open it
    dispatcher = Dispatcher(db, Config.from_settings(settings), exclusive=exclusive).start()
    close = db.close

    def close_after_the_dispatcher() -> None:
        dispatcher.stop()
        close()

    db.close = close_after_the_dispatcher
    atexit.register(dispatcher.stop)
    log.info("dispatcher started in this process (%s)", dispatcher.owner)
    return dispatcher
