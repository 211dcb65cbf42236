"""Request guards that must run before any view reads the body."""

from pyramid.registry import Registry

from .errors import problem

DEFAULT_MAX_BODY = 1024 * 1024


def body_limit_tween_factory(handler, registry: Registry):
    """413 for a body over ``membership.max_body_bytes`` before any of it is read."""
    limit = int(registry.settings.get("membership.max_body_bytes", DEFAULT_MAX_BODY))

    def body_limit_tween(request):
        length = request.content_length
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if (length is not None and length > limit) or (chunked and length is None):
            if chunked and length is None:
                data = request.body_file_raw.read(limit + 1)
                if len(data) <= limit:
                    request.body = data
                    return handler(request)
            return problem(
                413,
                "Content Too Large",
                f"the body may be at most {limit} bytes",
                errors=[{"field": "body", "message": f"larger than {limit} bytes"}],
            )
        return handler(request)

    return body_limit_tween


def includeme(config) -> None:
    config.add_tween("membership.tweens.body_limit_tween_factory")


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def needs_transaction(request) -> bool:
    """``tm.activate_hook``: reads are not committed (``db.find_app_root`` still begins
    one, so they see every earlier write)."""
    return request.method not in SAFE_METHODS


def retry_attempts(request) -> int | None:
    """``retry.activate_hook``: one attempt for reads, so pyramid_retry does not copy
    their bodies for attempts that cannot happen; writes get ``retry.attempts``."""
    return 1 if request.method in SAFE_METHODS else None
