"""A bare WSGI app answering a constant 60-byte JSON body: waitress's own ceiling."""

BODY = b'{"user": "m0000500", "group": "/groups/g", "role": "member"}'
assert len(BODY) == 60

HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


def main(global_config, **settings):
    return app
