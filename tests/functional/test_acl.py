"""Per-node ACLs through the API: listing, validation, guard rails, explanations.

The cast around /groups/eng/groups/backend (depth 2) and its subgroup db
(depth 3): an owner, a manager and a member of backend, an owner of eng,
a member of eng, a stranger, and bob (no memberships) to grant things to.
"""

import pytest
from pyramid.authorization import ACLHelper

from membership.domain.acl import explain
from membership.domain.queries import principals_for
from membership.model import node_at
from membership.permissions import Permission
from membership.web.db import database

from .conftest import with_root
from .helpers import ADMIN

ENG = "/groups/eng"
BACKEND = "/groups/eng/groups/backend"
DB = f"{BACKEND}/groups/db"


def ace(action, principal, *permissions):
    return {"action": action, "principal": principal, "permissions": list(permissions)}


@pytest.fixture
def world(api):
    for path in (ENG, BACKEND, DB, "/groups/ops"):
        api.group(path)
    for user in ["owner", "manager", "member", "eng_owner", "eng_member", "stranger", "bob"]:
        api.user(user)
    api.member(BACKEND, "owner", "owner")
    api.member(BACKEND, "manager", "manager")
    api.member(BACKEND, "member")
    api.member(ENG, "eng_owner", "owner")
    api.member(ENG, "eng_member")
    return api


def put_acl(api, path, *entries, as_=ADMIN, **kw):
    return api.put(f"{path.rstrip('/')}/acl", {"entries": list(entries)}, as_=as_, **kw)


# Listing


def test_effective_listing_at_depth_in_check_order(world):
    put_acl(world, BACKEND, ace("Allow", "system.Authenticated", "view"), status=200)
    body = world.get(f"{DB}/acl", status=200).json
    assert body["path"] == DB
    assert body["entries"] == []
    assert [a["principal"] for a in body["builtin"]] == [
        "group:/groups/admins",  # first on every node: nothing local can precede it
        f"group:{DB}",
        f"group:{DB}#manager",
        f"group:{DB}#owner",
    ]
    nodes = [(a["node"], a["builtin"]) for a in body["effective"]]
    assert nodes == [
        *[(DB, True)] * 4,
        *[(BACKEND, True)] * 4,
        (BACKEND, False),
        *[(ENG, True)] * 4,
        ("/", True),
    ]
    assert body["effective"][8] == {
        **ace("Allow", "system.Authenticated", "view"),
        "node": BACKEND,
        "builtin": False,
    }
    assert body["effective"][-1]["principal"] == "group:/groups/admins"
    assert body["effective"][-1]["permissions"] == ["*"]


def test_nodes_link_to_their_acl_and_history(world):
    for path in ("/", "/users/bob", BACKEND):
        links = world.get(path, status=200).json["links"]
        base = "http://localhost" + path.rstrip("/")
        assert (links["acl"], links["history"]) == (f"{base}/acl", f"{base}/history")


def test_root_and_user_acls(world):
    root = world.get("/acl", status=200).json
    assert root["builtin"] == [ace("Allow", "group:/groups/admins", "*")]
    mine = world.get("/users/bob/acl", as_="bob", status=200).json
    assert mine["effective"][1]["principal"] == "user:bob"
    assert mine["effective"][1]["node"] == "/users/bob"
    world.get("/users/owner/acl", as_="bob", status=403)
    world.get("/acl", as_="bob", status=403)


# Who may read and change


OPERATIONS = {
    "read": ("GET", None, 200),
    "replace": ("PUT", {"entries": [ace("Allow", "user:bob", "view")]}, 200),
    "patch": ("PATCH", {"add": [ace("Allow", "user:bob", "view")]}, 200),
}
MAY = {
    "read": {"owner", "manager", "member", "eng_owner", "eng_member", ADMIN},
    "replace": {"owner", "eng_owner", ADMIN},
    "patch": {"owner", "eng_owner", ADMIN},
}


@pytest.mark.parametrize("who", ["anonymous", "stranger", *sorted(MAY["read"])])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_who_may_read_and_change_an_acl(world, who, operation):
    method, body, ok = OPERATIONS[operation]
    res = world.request(method, f"{BACKEND}/acl", body, as_=None if who == "anonymous" else who)
    if who in MAY[operation]:
        assert res.status_int == ok, res.text
    else:
        assert res.status_int == (401 if who == "anonymous" else 403), res.text


# Validation


@pytest.mark.parametrize(
    "entries,field",
    [
        ([ace("Permit", "user:bob", "view")], "entries.0.action"),
        ([ace("Allow", "bob", "view")], "entries.0.principal"),
        ([ace("Allow", "user:", "view")], "entries.0.principal"),
        ([ace("Allow", "user:nobody", "view")], "entries.0.principal"),
        ([ace("Allow", "user:BOB", "view")], "entries.0.principal"),
        ([ace("Allow", "group:/groups/nope", "view")], "entries.0.principal"),
        ([ace("Allow", "group:/groups/eng#boss", "view")], "entries.0.principal"),
        ([ace("Allow", "group:/groups/eng/members", "view")], "entries.0.principal"),
        ([ace("Allow", "system.Nobody", "view")], "entries.0.principal"),
        ([ace("Allow", "user:bob", "fly")], "entries.0.permissions.0"),
        ([ace("Allow", "user:bob", "view", "*")], "entries.0.permissions.1"),
        ([ace("Allow", "user:bob")], "entries.0.permissions"),
        ([ace("Allow", "user:bob", "view"), ace("Deny", 7, "view")], "entries.1.principal"),
        ([ace("Allow", "user:bob", "view"), ace("Allow", "user:bob", "view")], "entries.1"),
        ([{**ace("Allow", "user:bob", "view"), "extra": 1}], "entries.0.extra"),
        ([{"action": "Allow", "permissions": ["view"]}], "entries.0.principal"),
    ],
)
def test_bad_entries_are_400_naming_the_entry(world, entries, field):
    res = put_acl(world, BACKEND, *entries)
    assert res.status_int == 400, res.text
    assert res.content_type == "application/problem+json"
    assert res.json["errors"][0]["field"] == field
    assert world.get(f"{BACKEND}/acl").json["entries"] == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "entries"),
        ({"entries": "everyone"}, "entries"),
        ({"entries": [], "more": 1}, "more"),
    ],
)
def test_bad_put_bodies(world, body, field):
    res = world.put(f"{BACKEND}/acl", body)
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == field


def test_patch_adds_and_removes_single_entries(world):
    view = ace("Allow", "user:bob", "view")
    edit = ace("Deny", "user:stranger", "edit")
    res = world.patch(f"{BACKEND}/acl", {"add": [view, edit]}, status=200)
    assert res.json["entries"] == [view, edit]
    res = world.patch(f"{BACKEND}/acl", {"add": [view]}, status=200)  # already there: no-op
    assert res.json["entries"] == [view, edit]
    res = world.patch(f"{BACKEND}/acl", {"remove": [view]}, status=200)
    assert res.json["entries"] == [edit]
    res = world.patch(f"{BACKEND}/acl", {"remove": [view]})
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "remove.0"
    res = world.patch(f"{BACKEND}/acl", {"add": [ace("Allow", "user:ghost", "view")]})
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "add.0.principal"
    assert world.patch(f"{BACKEND}/acl", {}).status_int == 400


def test_if_match_is_honoured(world):
    etag = world.get(f"{BACKEND}/acl", status=200).headers["ETag"]
    body = {"entries": [ace("Allow", "user:bob", "view")]}
    world.put(f"{BACKEND}/acl", body, headers={"If-Match": etag}, status=200)
    res = world.put(f"{BACKEND}/acl", {"entries": []}, headers={"If-Match": etag})
    assert res.status_int == 412
    res = world.patch(f"{BACKEND}/acl", {"remove": body["entries"]}, headers={"If-Match": etag})
    assert res.status_int == 412
    assert world.get(f"{BACKEND}/acl").json["entries"] == body["entries"]


# Guard rails


@pytest.mark.parametrize(
    "path,entry",
    [
        (BACKEND, ace("Deny", "system.Everyone", "view")),
        (BACKEND, ace("Deny", "system.Authenticated", "manage-acl")),
        (BACKEND, ace("Deny", "group:/groups/admins", "edit")),
        (DB, ace("Deny", "group:/groups/admins#owner", "delete")),
        ("/users/bob", ace("Deny", "system.Authenticated", "view")),
        ("/", ace("Deny", "group:/groups/admins", "view")),
        ("/", ace("Deny", "group:/groups/admins#member", "manage-acl")),
    ],
)
def test_nobody_can_lock_the_admins_out(world, path, entry):
    """Whatever a local ACE denies, and to whom, the admins ACE is checked first."""
    res = put_acl(world, path, ace("Allow", "user:bob", "view"), entry)
    if entry["principal"].startswith("group:/groups/admins"):
        assert res.status_int == 409, res.text  # meaningless, so refused
        assert "group:/groups/admins" in res.json["detail"]
        assert world.get(f"{path.rstrip('/')}/acl").json["entries"] == []
    else:
        assert res.status_int == 200, res.text
    allowed = explain_as(world, path.rstrip("/"), f"user:{ADMIN}").json["allowed"]
    assert sorted(allowed) == sorted(str(p) for p in Permission)


@pytest.mark.parametrize(
    "principal",
    [
        "user:admin",
        "group:/groups/admins",
        "system.Authenticated",
        "system.Everyone",
        "group:/groups/eng",
    ],
)
def test_a_manager_cannot_deny_the_admins_by_any_principal(world, principal):
    """The attack: an owner of a subgroup denies every permission to a principal the
    admin carries. It is taken, or refused, but the admin keeps everything there."""
    world.member(ENG, ADMIN)  # so group:/groups/eng is one of the admin's principals
    world.post(f"{BACKEND}/groups", {"name": "mine"}, as_="owner", status=201)
    target = f"{BACKEND}/groups/mine"
    every = [str(p) for p in Permission]
    res = put_acl(world, target, ace("Deny", principal, *every), as_="owner")
    assert res.status_int in (200, 409), res.text
    assert world.get(target).status_int == 200
    assert world.patch(target, {"title": "still mine"}).status_int == 200
    assert world.get(f"{target}/acl").status_int == 200
    assert world.delete(target).status_int == 204
    # and the same Deny does shut out someone who is not an admin
    world.post(f"{BACKEND}/groups", {"name": "mine2"}, as_="owner", status=201)
    put_acl(world, f"{BACKEND}/groups/mine2", ace("Deny", "user:member", "view"), as_="owner")
    assert world.get(f"{BACKEND}/groups/mine2", as_="member").status_int == 403


def test_deny_everyone_at_the_root_leaves_admins_alone(world):
    put_acl(world, "/", ace("Deny", "system.Everyone", "view"), status=200)
    assert world.get(BACKEND).status_int == 200
    assert world.get("/users").status_int == 200


def test_non_admin_cannot_grant_what_they_do_not_hold(world):
    res = put_acl(world, BACKEND, ace("Allow", "user:bob", "view", "create-user"), as_="owner")
    assert res.status_int == 403
    assert res.json["errors"] == [
        {
            "field": "entries.0.permissions",
            "message": "grants create-user, which you do not hold here",
        }
    ]
    put_acl(world, BACKEND, ace("Allow", "user:bob", "view", "edit"), as_="owner", status=200)


def test_lifting_a_deny_is_granting(world):
    deny = ace("Deny", "user:bob", "create-user")
    put_acl(world, BACKEND, deny, status=200)
    res = world.patch(f"{BACKEND}/acl", {"remove": [deny]}, as_="owner")
    assert res.status_int == 403
    assert res.json["errors"][0]["field"] == "remove.0"
    world.patch(f"{BACKEND}/acl", {"remove": [deny]}, status=200)


def test_nobody_takes_manage_acl_from_themselves(world):
    res = put_acl(
        world, BACKEND, ace("Deny", "group:/groups/eng#owner", "manage-acl"), as_="eng_owner"
    )
    assert res.status_int == 409
    assert "away from you" in res.json["detail"]
    # A direct owner keeps manage-acl through the role ACE, which is checked first.
    put_acl(world, BACKEND, ace("Deny", "group:/groups/eng#owner", "view"), as_="owner", status=200)


# Effect


def test_change_takes_effect_on_the_very_next_request(world):
    world.get(BACKEND, as_="bob", status=403)
    put_acl(world, BACKEND, ace("Allow", "user:bob", "view"), as_="owner", status=200)
    world.get(BACKEND, as_="bob", status=200)
    world.get(f"{DB}/members", as_="bob", status=200)  # inherited below
    world.get(ENG, as_="bob", status=403)  # not above
    put_acl(world, BACKEND, as_="owner", status=200)
    world.get(BACKEND, as_="bob", status=403)


def test_visible_to_all_authenticated_users(world):
    world.get("/groups/ops", as_="stranger", status=403)
    put_acl(world, "/groups/ops", ace("Allow", "system.Authenticated", "view"), status=200)
    world.get("/groups/ops", as_="stranger", status=200)
    world.get("/groups/ops", as_=None, status=401)


def test_deny_a_user_on_a_subtree(world):
    world.get(DB, as_="eng_member", status=200)
    put_acl(world, BACKEND, ace("Deny", "user:eng_member", "view"), status=200)
    world.get(BACKEND, as_="eng_member", status=403)
    world.get(DB, as_="eng_member", status=403)
    world.get(ENG, as_="eng_member", status=200)
    world.get(DB, as_="member", status=200)


def test_delegate_member_management_to_another_groups_managers(world):
    world.user("opsman")
    world.member("/groups/ops", "opsman", "manager")
    world.post(f"{BACKEND}/members", {"user": "bob"}, as_="opsman", status=403)
    put_acl(
        world,
        BACKEND,
        ace("Allow", "group:/groups/ops#manager", "view", "manage-members"),
        as_="owner",
        status=200,
    )
    world.post(f"{BACKEND}/members", {"user": "bob"}, as_="opsman", status=201)
    world.post(f"{DB}/members", {"user": "bob"}, as_="opsman", status=201)
    world.post(f"{BACKEND}/groups", {"name": "x"}, as_="opsman", status=403)


# Explanations


def explain_as(world, path, principal=None, as_=ADMIN):
    query = f"?principal={principal}" if principal else ""
    return world.get(f"{path}/permissions{query}", as_=as_)


def decisions(body):
    return {row["permission"]: row for row in body["permissions"]}


def test_explains_an_allowed_permission_with_its_ace(world):
    body = explain_as(world, DB, "user:eng_owner").json
    edit = decisions(body)["edit"]
    assert edit["allowed"] is True
    assert edit["decided_by"]["principal"] == "group:/groups/eng#owner"
    assert edit["decided_by"]["node"] == ENG
    assert edit["decided_by"]["builtin"] is True
    assert "group:/groups/eng#owner" in body["principals"]


def test_explains_denied_by_default_and_denied_by_an_ace(world):
    deny = ace("Deny", "user:eng_member", "view")
    put_acl(world, BACKEND, deny, status=200)
    rows = decisions(explain_as(world, DB, "user:eng_member").json)
    assert rows["view"]["allowed"] is False
    assert rows["view"]["decided_by"] == {**deny, "node": BACKEND, "builtin": False}
    assert rows["edit"] == {"permission": "edit", "allowed": False, "decided_by": None}


def test_explains_group_and_system_principals(world):
    put_acl(world, "/groups/ops", ace("Allow", "system.Authenticated", "view"), status=200)
    body = explain_as(world, "/groups/ops", "system.Authenticated").json
    assert body["allowed"] == ["view"]
    assert explain_as(world, "/groups/ops", "system.Everyone").json["allowed"] == []
    body = explain_as(world, DB, f"group:{BACKEND}%23manager").json
    assert body["allowed"] == ["view", "manage-members", "create-group"]
    # a member of backend is a member of eng: it may view eng, not manage it
    body = explain_as(world, ENG, f"group:{BACKEND}%23manager").json
    # only what bears on eng: backend's own principal is no business of eng's
    assert body["principals"][-2:] == [f"group:{BACKEND}#manager", f"group:{ENG}"]
    assert body["allowed"] == ["view"]
    assert decisions(body)["view"]["decided_by"]["principal"] == f"group:{ENG}"


def test_who_may_ask(world):
    assert explain_as(world, BACKEND, as_="member").json["principal"] == "user:member"
    assert explain_as(world, BACKEND, "user:member", as_="member").status_int == 200
    assert explain_as(world, BACKEND, "user:bob", as_="bob").status_int == 200  # self, no view
    assert explain_as(world, BACKEND, "user:owner", as_="member").status_int == 403
    assert explain_as(world, BACKEND, "user:member", as_="owner").status_int == 200
    assert explain_as(world, BACKEND, "user:member", as_=None).status_int == 401
    ghost = explain_as(world, BACKEND, "user:ghost")  # unknown: answered like a stranger
    stranger = explain_as(world, BACKEND, "user:stranger")
    assert ghost.status_int == stranger.status_int == 200
    assert ghost.json["allowed"] == stranger.json["allowed"] == []
    for malformed in ("group:/groups/eng/", "group:groups/eng", "user:Bob", "bob"):
        res = explain_as(world, BACKEND, malformed)
        assert res.status_int == 400
        assert res.json["errors"][0]["field"] == "principal"


def test_explanation_agrees_with_the_security_policy(world, app):
    put_acl(world, BACKEND, ace("Deny", "user:eng_member", "view"), status=200)
    put_acl(world, "/groups/ops", ace("Allow", "group:/groups/eng", "view", "edit"), status=200)
    helper = ACLHelper()
    users = ["owner", "manager", "member", "eng_owner", "eng_member", "stranger", ADMIN]
    paths = ["/", "/users/bob", ENG, BACKEND, DB, "/groups/ops"]

    def check(root):
        for userid in users:
            principals = principals_for(root, userid)
            for path in paths:
                node = node_at(root, path)
                for row in explain(node, principals):
                    expected = bool(helper.permits(node, principals, row["permission"]))
                    assert row["allowed"] is expected, (userid, path, row)

    with_root(database(app.registry), check)


# ACEs follow moves and deletions


def test_aces_follow_a_moved_group(world):
    put_acl(world, "/groups/ops", ace("Allow", f"group:{BACKEND}#manager", "view"), status=200)
    put_acl(world, DB, ace("Allow", f"group:{DB}", "create-group"), status=200)
    world.post(f"{BACKEND}/move", {"to": "/groups"}, status=200)
    ops = world.get("/groups/ops/acl").json["entries"]
    assert ops == [ace("Allow", "group:/groups/backend#manager", "view")]
    db = world.get("/groups/backend/groups/db/acl").json["entries"]
    assert db == [ace("Allow", "group:/groups/backend/groups/db", "create-group")]
    world.get("/groups/ops", as_="manager", status=200)


def test_aces_naming_a_deleted_group_or_user_go_with_it(world):
    put_acl(
        world,
        "/groups/ops",
        ace("Allow", f"group:{DB}", "view"),
        ace("Allow", "user:bob", "view"),
        ace("Allow", "group:/groups/eng", "view"),
        status=200,
    )
    world.delete(BACKEND, status=204)
    world.delete("/users/bob", status=204)
    assert world.get("/groups/ops/acl").json["entries"] == [
        ace("Allow", "group:/groups/eng", "view")
    ]
    # A new bob, or a new group at the old path, inherits nothing.
    world.user("bob")
    world.get("/groups/ops", as_="bob", status=403)
    world.group(BACKEND)
    world.group(DB)
    assert world.get(f"{DB}/acl").json["entries"] == []


def test_bodies_match_their_declared_schemas(world):
    from membership.web.schemas import AclOut, PermissionsOut

    put_acl(world, BACKEND, ace("Deny", "user:eng_member", "view"), status=200)
    for path in ("/", "/users/bob", BACKEND, DB):
        AclOut.model_validate(world.get(f"{path.rstrip('/')}/acl", status=200).json)
        PermissionsOut.model_validate(
            world.get(f"{path.rstrip('/')}/permissions?principal=user:eng_member").json
        )
