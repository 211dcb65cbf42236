"""SCIM 2.0 (RFC 7643/7644) under ``/scim/v2``: identity providers provision users and
groups into the tree through the same domain functions as the REST API.

A front end beside ``web/`` and ``ui/``: its own route, its own error shape
(SCIM Errors, ``application/scim+json``), the same security policy (Bearer
tokens; the view needs ``provision`` on the root). See the README's SCIM
section for what is supported and how groups map onto the tree.
"""

PREFIX = "/scim/v2"


def includeme(config) -> None:
    from ..permissions import Permission
    from ..web.db import root_factory
    from .errors import ScimProblem
    from .models import provider
    from .views import scim_error_view, scim_forbidden_view, scim_view

    settings = config.registry.membership_settings
    config.registry.scim_provider = provider(settings.scim_max_filter_scan)
    config.add_route("scim", PREFIX + "*subpath", factory=root_factory)
    config.add_view(scim_view, route_name="scim", permission=Permission.PROVISION)
    config.add_view(scim_error_view, context=ScimProblem)
    config.add_forbidden_view(scim_forbidden_view, route_name="scim")
