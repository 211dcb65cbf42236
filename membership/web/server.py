"""``egg:membership#waitress``: waitress, with ``PORT`` and the body limit applied.

PasteDeploy lets an ini's own values win over ``pserve ... http_port=``
overrides, so the port override lives here instead: ``PORT=8080 pserve
development.ini`` serves on 8080 whatever ``listen`` says.

waitress reads a whole request body (spooling it to disk) before it calls the
app, so the app's own limit would come too late: ``max_request_body_size`` is
set from ``membership.max_body_bytes`` here, and a ``Content-Length`` over it
is refused from the header (413) before a byte of body is read. That answer,
like waitress's other refusals (431 for oversized headers, 400 for a broken
chunked body), is waitress's own plain-text one: README, Deployment.
"""

import os

from waitress import serve_paste


def serve(app, global_conf: dict, **settings) -> int:
    port = os.environ.get("PORT")
    if port:
        hosts = [entry.rsplit(":", 1)[0] for entry in settings.get("listen", "").split()]
        settings["listen"] = " ".join(f"{host}:{port}" for host in hosts or ["localhost"])
    ours = getattr(getattr(app, "registry", None), "membership_settings", None)
    if ours is not None and "max_request_body_size" not in settings:
        # waitress refuses a body of max_request_body_size bytes or more
        settings["max_request_body_size"] = str(ours.max_body_bytes + 1)
    return serve_paste(app, global_conf, **settings)
