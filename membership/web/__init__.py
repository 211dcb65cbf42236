"""The HTTP front end: security policy, tweens, views, schemas, errors, OpenAPI.

A view parses its input, makes one domain call, and presents the result
(see ARCHITECTURE.md).
"""

from ..dispatch import start_in_process
from .db import ReadConnections, bootstrap, database, root_factory
from .rendering import JSONRenderer


def includeme(config) -> None:
    config.set_root_factory(root_factory)
    config.include("pyramid_tm")
    config.include(".request")
    config.include("pyramid_retry")
    config.include("pyramid_zodbconn")
    config.include(".storage")
    # Reads on a connection per thread, kept open (db.py); the request tween marks them.
    config.registry.membership_reads = ReadConnections(database(config.registry))
    config.add_renderer("json", JSONRenderer)
    # A client that states no preference gets JSON, never the event stream.
    config.add_accept_view_order("text/event-stream")
    config.add_accept_view_order("application/json", weighs_more_than="text/event-stream")
    config.include(".security")
    config.include(".tweens")
    config.scan(".views")
    config.scan(".errors")
    config.include("membership.ui")  # the admin UI under /ui/ (its own route, session, errors)
    config.include("membership.scim")  # SCIM 2.0 under /scim/v2 (its own route and errors)
    bootstrap(database(config.registry))
    # FileStorage (make serve): webhooks, membership.expired and feed upkeep run in
    # this process; on ZEO/RelStorage, membership_dispatch does (membership.dispatch).
    config.registry.membership_dispatcher = start_in_process(
        database(config.registry), config.registry.membership_settings
    )
