"""Who may do what on a group, its members and its subgroups.

The cast: anonymous, an authenticated stranger, a member, a manager and an
owner of /groups/eng/groups/backend, an owner of the parent /groups/eng,
and an admin. Each row says who is allowed; everyone else must be refused.
"""

import pytest

from .helpers import ADMIN

GROUP = "/groups/eng/groups/backend"
CAST = ["anonymous", "stranger", "member", "manager", "owner", "parent_owner", ADMIN]
DENIED = {"anonymous": 401}


@pytest.fixture
def world(api):
    api.group("/groups/eng")
    api.group(GROUP)
    for user in ["stranger", "member", "manager", "owner", "parent_owner", "target", "target2"]:
        api.user(user)
    api.member(GROUP, "member")
    api.member(GROUP, "manager", "manager")
    api.member(GROUP, "owner", "owner")
    api.member("/groups/eng", "parent_owner", "owner")
    api.member(GROUP, "target")
    api.group(f"{GROUP}/groups/sub")
    return api


def as_(who):
    return None if who == "anonymous" else who


# (description, method, path, body, expected success status, who may)
OPERATIONS = [
    ("read group", "GET", GROUP, None, 200, {"member", "manager", "owner", "parent_owner", ADMIN}),
    (
        "list members",
        "GET",
        f"{GROUP}/members",
        None,
        200,
        {"member", "manager", "owner", "parent_owner", ADMIN},
    ),
    (
        "check membership",
        "GET",
        f"{GROUP}/members/target",
        None,
        200,
        {"member", "manager", "owner", "parent_owner", ADMIN},
    ),
    (
        "list subgroups",
        "GET",
        f"{GROUP}/groups",
        None,
        200,
        {"member", "manager", "owner", "parent_owner", ADMIN},
    ),
    (
        "read subgroup",
        "GET",
        f"{GROUP}/groups/sub",
        None,
        200,
        {"member", "manager", "owner", "parent_owner", ADMIN},
    ),
    (
        "add member",
        "POST",
        f"{GROUP}/members",
        {"user": "target2"},
        201,
        {"manager", "owner", "parent_owner", ADMIN},
    ),
    (
        "add owner",
        "POST",
        f"{GROUP}/members",
        {"user": "target2", "role": "owner"},
        201,
        {"owner", "parent_owner", ADMIN},
    ),
    (
        "change role to manager",
        "PATCH",
        f"{GROUP}/members/target",
        {"role": "manager"},
        200,
        {"manager", "owner", "parent_owner", ADMIN},
    ),
    (
        "remove member",
        "DELETE",
        f"{GROUP}/members/target",
        None,
        204,
        {"manager", "owner", "parent_owner", ADMIN},
    ),
    (
        "bulk add",
        "PATCH",
        f"{GROUP}/members",
        [{"op": "add", "user": "target2"}],
        200,
        {"manager", "owner", "parent_owner", ADMIN},
    ),
    (
        "create subgroup",
        "POST",
        f"{GROUP}/groups",
        {"name": "new"},
        201,
        {"manager", "owner", "parent_owner", ADMIN},
    ),
    ("edit group", "PATCH", GROUP, {"title": "Backend"}, 200, {"owner", "parent_owner", ADMIN}),
    (
        "delete subgroup",
        "DELETE",
        f"{GROUP}/groups/sub",
        None,
        204,
        {"owner", "parent_owner", ADMIN},
    ),
    ("delete group", "DELETE", GROUP, None, 204, {"owner", "parent_owner", ADMIN}),
    ("create top-level group", "POST", "/groups", {"name": "other"}, 201, {ADMIN}),
    ("list all users", "GET", "/users", None, 200, {ADMIN}),
]


@pytest.mark.parametrize("who", CAST)
@pytest.mark.parametrize(
    "name,method,path,body,ok,allowed", OPERATIONS, ids=[op[0] for op in OPERATIONS]
)
def test_access(world, who, name, method, path, body, ok, allowed):
    res = world.request(method, path, body, as_=as_(who))
    if who in allowed:
        assert res.status_int == ok, f"{who} should be able to {name}: {res.status_int} {res.text}"
    else:
        expected = DENIED.get(who, 403)
        assert res.status_int == expected, f"{who} must not {name}: {res.status_int} {res.text}"
        assert res.content_type == "application/problem+json"


def test_member_of_subgroup_may_view_parent_but_not_siblings(world):
    world.group("/groups/eng/groups/frontend")
    assert world.get("/groups/eng", as_="member").status_int == 200
    assert world.get("/groups/eng/groups/frontend", as_="member").status_int == 200
    world.group("/groups/ops")
    assert world.get("/groups/ops", as_="member").status_int == 403


def test_user_reads_own_groups_but_not_others(world):
    assert world.get("/users/member/groups", as_="member").status_int == 200
    assert world.get("/users/owner/groups", as_="member").status_int == 403
