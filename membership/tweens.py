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
