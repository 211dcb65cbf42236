"""Small verbs for tests: create users, groups and memberships through the API."""

import base64

ADMIN = "admin"
PASSWORD = "correct horse battery"


def basic(userid: str, password: str = PASSWORD) -> dict:
    token = base64.b64encode(f"{userid}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """WebTest with the admin's credentials by default and JSON bodies."""

    def __init__(self, testapp) -> None:
        self.app = testapp

    def request(self, method: str, path: str, body=None, *, as_=ADMIN, status="*", headers=None):
        all_headers = dict(basic(as_) if isinstance(as_, str) else (as_ or {}))
        all_headers.update(headers or {})
        kwargs = {"headers": all_headers, "status": status, "expect_errors": True}
        if body is not None:
            return getattr(self.app, method.lower() + "_json")(path, body, **kwargs)
        return getattr(self.app, method.lower())(path, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body, **kw):
        return self.request("PATCH", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def user(self, userid: str, password: str = PASSWORD, **fields) -> dict:
        res = self.post("/users", {"id": userid, "password": password, **fields}, status=201)
        return res.json

    def group(self, path: str, **fields) -> dict:
        parent, _, name = path.rstrip("/").rpartition("/")
        res = self.post(parent or "/groups", {"name": name, **fields}, status=201)
        return res.json

    def member(self, group_path: str, userid: str, role: str = "member", **fields) -> dict:
        body = {"user": userid, "role": role, **fields}
        return self.post(f"{group_path}/members", body, status=201).json

    def token(self, userid: str = ADMIN, **fields) -> str:
        res = self.post(f"/users/{userid}/tokens", fields, as_=userid, status=201)
        return res.json["token"]
