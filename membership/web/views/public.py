"""Routes outside the tree: served before traversal, without credentials."""

import venusian
from pyramid.security import NO_PERMISSION_REQUIRED


class Public:
    """Context of a public route: nothing to traverse, nothing to protect."""

    __acl__ = ()

    def __init__(self, request):
        self.request = request


def public_route(path: str, *, name: str | None = None):
    """Serve the decorated view at ``path`` (GET, HEAD), as a route matched before
    traversal, unauthenticated; the route is named ``name`` or after the view.

    Like ``view_config``, it takes effect when ``config.scan()`` finds it; it
    adds the route as well as the view, so nothing else needs to know. The
    probes use it so that none depends on the tree it probes, ``/docs`` so its
    assets never pass the security policy.
    """

    def decorator(view):
        def register(scanner, view_name, ob):
            config = scanner.config
            route = name or view_name
            config.add_route(route, path, factory=Public)
            config.add_view(
                ob,
                route_name=route,
                request_method=("GET", "HEAD"),
                permission=NO_PERMISSION_REQUIRED,
            )

        venusian.attach(view, register, category="pyramid")
        return view

    return decorator
