"""An OAuth client acting with a client-credentials JWT (principal ``client:<id>``), from
the real loopback issuer of ``test_jwt.py``: it holds what ACEs naming it grant, and
everything it may do works, without a user account behind it.

A client never becomes a member, so creating a group does not make it the owner:
what it may do on the new group is what its ACEs above grant.
"""

import json

import pytest

from membership.dispatch import Config, Dispatcher
from membership.web.db import database

from ..unit.test_webhooks import Receiver
from .helpers import bearer
from .test_jwt import AUDIENCE
from .test_jwt import issuer as issuer  # the fixture: the real loopback issuer

ENG = "/groups/eng"
CLIENT = "client:provisioner"


def allow(api, path: str, *permissions: str, principal: str = CLIENT) -> None:
    ace = {"action": "Allow", "principal": principal, "permissions": list(permissions)}
    api.patch(f"{path}/acl", {"add": [ace]}, status=200)


@pytest.fixture
def settings(settings, issuer):
    return {
        **settings,
        "membership.oidc.issuer": issuer.url,
        "membership.oidc.audience": AUDIENCE,
        "membership.oidc.jwks_refetch_seconds": "0",
        "membership.webhooks.allow_private": "true",  # the receiver is on 127.0.0.1
    }


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def client(api, issuer):
    """The provisioner client's bearer headers."""
    api.group(ENG)
    api.user("alice")
    return bearer(issuer.token(sub="svc-1", azp="provisioner"))


def test_a_client_with_create_group_creates_a_top_level_group_and_is_not_its_owner(api, client):
    assert api.post("/groups", {"name": "svc"}, as_=client).status_int == 403  # denied side
    allow(api, "", "create-group")
    res = api.post("/groups", {"name": "svc", "title": "Service"}, as_=client)
    assert res.status_int == 201, res.text
    assert res.json["member_count"] == 0  # nobody was made its owner
    assert api.get("/groups/svc/members").json["items"] == []
    # no owner role: it holds on the group what its ACE on / grants, nothing more
    assert api.patch("/groups/svc", {"title": "x"}, as_=client).status_int == 403
    history = api.get("/groups/svc/history").json["items"]
    assert [(e["action"], e["actor"]) for e in history] == [("group.created", CLIENT)]
    assert api.get(f"/history?actor={CLIENT}").json["items"][0]["target"] == "/groups/svc"


def test_a_client_creates_a_subgroup_and_adds_members(api, client):
    assert api.post(f"{ENG}/groups", {"name": "backend"}, as_=client).status_int == 403
    allow(api, ENG, "view", "create-group", "manage-members")
    res = api.post(f"{ENG}/groups", {"name": "backend"}, as_=client)
    assert res.status_int == 201, res.text
    assert res.json["member_count"] == 0
    res = api.post(f"{ENG}/groups/backend/members", {"user": "alice"}, as_=client)
    assert res.status_int == 201, res.text
    assert res.json["added_by"] == CLIENT
    assert api.get(f"{ENG}/groups/backend/members/alice", as_=client).status_int == 200
    res = api.patch(f"{ENG}/members", [{"op": "add", "user": "alice"}], as_=client)
    assert res.status_int == 200, res.text


def test_a_client_asks_about_its_own_permissions(api, client):
    allow(api, ENG, "view")
    res = api.get(f"{ENG}/permissions", as_=client)
    assert res.status_int == 200, res.text
    assert res.json["principal"] == CLIENT and res.json["allowed"] == ["view"]
    res = api.get(f"{ENG}/permissions?principal=user:alice", as_=client)
    assert res.status_int == 403  # about someone else: manage-acl


def test_a_client_cannot_take_manage_acl_from_itself(api, client):
    allow(api, ENG, "view", "manage-acl")
    res = api.put(f"{ENG}/acl", {"entries": []}, as_=client)
    assert res.status_int == 409, res.text
    assert "away from you" in res.json["detail"]


def test_a_client_subscribes_to_a_webhook_it_owns_and_gets_deliveries(api, app, client, receiver):
    body = {"url": receiver.url, "path": ENG}
    assert api.post("/webhooks", body, as_=client).status_int == 403  # no view-history
    allow(api, ENG, "view", "view-history")
    res = api.post("/webhooks", body, as_=client)
    assert res.status_int == 201, res.text
    assert res.json["owner"] == CLIENT
    hook = res.json["id"]
    assert [h["id"] for h in api.get("/webhooks", as_=client).json["items"]] == [hook]
    assert api.get(f"/webhooks/{hook}", as_=client).status_int == 200
    api.user("mallory")
    mallory = bearer(api.token("mallory"))
    assert api.get(f"/webhooks/{hook}", as_=mallory).status_int in (403, 404)
    assert api.get("/webhooks", as_=mallory).json["items"] == []
    # the dispatcher delivers to it: the client still holds view-history on eng
    api.member(ENG, "alice")
    Dispatcher(database(app.registry), Config(allow_private=True), name="test").run_once()
    types = [json.loads(body)["type"] for _, body in receiver.calls]
    assert types == ["membership.created"]
    assert api.get(f"/webhooks/{hook}").json["active"] is True


def test_a_client_may_batch_check_where_an_ace_lets_it(api, client):
    api.member(ENG, "alice")
    items = [
        {"user": "alice", "group": ENG},
        {"principal": CLIENT, "permission": "view", "path": ENG},
    ]
    answers = api.post("/checks", {"items": items}, as_=client, status=200).json["items"]
    assert [a.get("error") for a in answers] == ["forbidden", "forbidden"]
    allow(api, ENG, "view")
    answers = api.post("/checks", {"items": items}, as_=client, status=200).json["items"]
    assert answers[0]["member"] is True and answers[1]["allowed"] is True
