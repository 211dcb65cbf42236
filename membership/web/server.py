"""``egg:membership#waitress``: waitress, with ``PORT`` from the environment honoured.

PasteDeploy lets an ini's own values win over ``pserve ... http_port=``
overrides, so the port override lives here instead: ``PORT=8080 pserve
development.ini`` serves on 8080 whatever ``listen`` says.
"""

import os

from waitress import serve_paste


def serve(app, global_conf: dict, **settings) -> int:
    port = os.environ.get("PORT")
    if port:
        hosts = [entry.rsplit(":", 1)[0] for entry in settings.get("listen", "").split()]
        settings["listen"] = " ".join(f"{host}:{port}" for host in hosts or ["localhost"])
    return serve_paste(app, global_conf, **settings)
