"""Traversal without shadowing, and groups found by their stable id."""

import pytest

from membership.model import Container
from membership.paths import RESERVED_NAMES
from membership.web.openapi import registered_views


def test_every_view_name_on_a_container_is_reserved(app):
    """A view on a container must win over data of the same name, whatever exists."""
    for context, name, _ in registered_views(app.registry):
        if isinstance(context, type) and issubclass(context, Container) and name:
            assert name.startswith("@") or name in RESERVED_NAMES, (context, name)


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_nothing_is_created_under_a_reserved_name(api, name):
    res = api.post("/users", {"id": name, "password": "long enough"})
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "id"
    assert res.json["errors"][0]["message"].startswith(f"{name!r} is reserved")
    res = api.post("/groups", {"name": name})
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "name"


def test_a_reserved_name_reaches_the_view_not_a_membership(api):
    """In 0.1 ``/groups/eng/members/export`` answered 404 "not a member"."""
    api.group("/groups/eng")
    res = api.get("/groups/eng/members/export")
    assert res.status_int == 404
    assert "not a member" not in res.json["detail"]


def test_a_group_is_found_by_its_id_wherever_it_moves(api):
    api.group("/groups/eng")
    api.group("/groups/ops")
    group_id = api.group("/groups/eng/groups/backend")["id"]
    res = api.get(f"/groups/@id/{group_id}")
    assert res.status_int == 307
    assert res.headers["Location"] == "http://localhost/groups/eng/groups/backend"
    api.post("/groups/eng/groups/backend/move", {"to": "/groups/ops"}, status=200)
    moved = api.get(f"/groups/@id/{group_id}")
    assert moved.headers["Location"] == "http://localhost/groups/ops/groups/backend"
    assert api.get("/groups/ops/groups/backend").json["id"] == group_id
    items = api.get("/groups/ops/groups").json["items"]
    assert [g["id"] for g in items] == [group_id]


def test_an_id_reveals_nothing_to_whoever_may_not_view_the_group(api):
    api.user("stranger")
    group_id = api.group("/groups/eng")["id"]
    assert api.get(f"/groups/@id/{group_id}", as_="stranger").status_int == 404
    assert api.get("/groups/@id/00000000-0000-0000-0000-000000000000").status_int == 404
    assert api.get(f"/groups/@id/{group_id}", as_=None).status_int == 401
    assert api.get("/groups/@id").status_int == 400
