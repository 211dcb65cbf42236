"""A Deny on ``view`` for a subgroup holds everywhere: listings, effective answers,
``via``, explanations. And delegation reaches no further than granted.

Cast: /groups/eng with a visible subgroup ``open`` and a subgroup ``secret``
that denies ``view`` to eng's members; alice owns eng's view through
membership, sam is only in ``secret``, olivia only in ``open``.
"""

import pytest

from .helpers import ADMIN

ENG = "/groups/eng"
OPEN = f"{ENG}/groups/open"
SECRET = f"{ENG}/groups/secret"


@pytest.fixture
def world(api):
    for path in (ENG, OPEN, SECRET):
        api.group(path, title=path.rsplit("/", 1)[-1], description="about " + path)
    for user in ("alice", "sam", "olivia", "mallory"):
        api.user(user)
    api.member(ENG, "alice")
    api.member(SECRET, "sam")
    api.member(OPEN, "olivia")
    deny = {"action": "Deny", "principal": "user:alice", "permissions": ["view"]}
    api.put(f"{SECRET}/acl", {"entries": [deny]}, status=200)
    return api


def test_a_denied_subgroup_is_not_listed_under_its_parent(world):
    names = [g["name"] for g in world.get(f"{ENG}/groups", as_="alice").json["items"]]
    assert names == ["open"]
    listed = world.get(f"{ENG}/groups", as_=ADMIN).json["items"]
    assert [g["name"] for g in listed] == ["open", "secret"]  # admins see it


def test_effective_members_do_not_come_through_a_denied_subgroup(world):
    seen = [
        m["user"] for m in world.get(f"{ENG}/members?effective=true", as_="alice").json["items"]
    ]
    assert seen == ["alice", "olivia"]
    everyone = world.get(f"{ENG}/members?effective=true").json["items"]
    assert [m["user"] for m in everyone] == ["alice", "olivia", "sam"]


def test_the_effective_check_never_names_a_denied_group_as_via(world):
    assert world.get(f"{ENG}/members/sam?effective=true", as_="alice").status_int == 404
    assert world.get(f"{ENG}/members/olivia?effective=true", as_="alice").json["via"] == OPEN
    assert world.get(f"{ENG}/members/sam?effective=true").json["via"] == SECRET


def test_a_users_group_listing_leaves_out_what_the_caller_may_not_view(world):
    """mallory may read sam's page and eng's subtree (local ACEs) but not secret."""
    grant = {"action": "Allow", "principal": "user:mallory", "permissions": ["view"]}
    world.put("/users/sam/acl", {"entries": [grant]}, status=200)
    world.patch(f"{ENG}/acl", {"add": [grant]}, status=200)  # and eng, so all below it
    deny = {"action": "Deny", "principal": "user:mallory", "permissions": ["view"]}
    world.patch(f"{SECRET}/acl", {"add": [deny]}, status=200)
    world.member(OPEN, "sam")
    paths = [g["path"] for g in world.get("/users/sam/groups", as_="mallory").json["items"]]
    assert paths == [ENG, OPEN]
    paths = [g["path"] for g in world.get("/users/sam/groups").json["items"]]
    assert paths == [ENG, OPEN, SECRET]


def test_explaining_a_principal_tells_only_what_bears_on_this_node(world):
    world.group("/groups/hidden")
    world.member("/groups/hidden", "olivia", "owner")
    world.member(OPEN, "alice", "owner")  # alice may ask about others at OPEN
    body = world.get(f"{OPEN}/permissions?principal=user:olivia", as_="alice").json
    assert not any("hidden" in p for p in body["principals"])
    assert not any("admins" in p for p in body["principals"])
    assert f"group:{OPEN}" in body["principals"]


def test_unknown_and_invisible_principals_are_answered_alike(world):
    world.member(OPEN, "alice", "owner")
    unknown = world.get(f"{OPEN}/permissions?principal=user:nobody", as_="alice")
    stranger = world.get(f"{OPEN}/permissions?principal=user:mallory", as_="alice")
    assert unknown.status_int == stranger.status_int == 200
    assert unknown.json["allowed"] == stranger.json["allowed"]
    group_gone = world.get(f"{OPEN}/permissions?principal=group:/groups/nope", as_="alice")
    group_there = world.get(f"{OPEN}/permissions?principal=group:/groups/hidden2", as_="alice")
    assert group_gone.status_int == group_there.status_int == 200


# Delegation


@pytest.fixture
def creator(world):
    """mallory may create groups under eng (a local ACE), and nothing else there."""
    grant = {"action": "Allow", "principal": "user:mallory", "permissions": ["create-group"]}
    world.patch(f"{ENG}/acl", {"add": [grant]}, status=200)
    return world


def test_create_group_alone_does_not_make_the_creator_owner(creator):
    creator.post(f"{ENG}/groups", {"name": "sneaky"}, as_="mallory", status=201)
    members = creator.get(f"{ENG}/groups/sneaky/members").json["items"]
    assert members == []
    # so mallory cannot make anyone an effective member of eng through it
    res = creator.post(f"{ENG}/groups/sneaky/members", {"user": "sam"}, as_="mallory")
    assert res.status_int == 403
    assert creator.get(f"{ENG}/members/sam?effective=true").status_int == 200  # via secret only
    assert creator.get(f"{ENG}/members/mallory?effective=true").status_int == 404


def test_a_creator_who_manages_the_parents_members_becomes_owner(creator):
    creator.member(ENG, "olivia", "manager")
    creator.post(f"{ENG}/groups", {"name": "team"}, as_="olivia", status=201)
    members = creator.get(f"{ENG}/groups/team/members").json["items"]
    assert [(m["user"], m["role"]) for m in members] == [("olivia", "owner")]


def test_moving_a_group_under_another_needs_managing_its_members(creator):
    """Moving makes the moved group's members effective members of the destination."""
    creator.group("/groups/mine")
    creator.member("/groups/mine", "mallory", "owner")
    creator.member("/groups/mine", "sam")
    res = creator.post("/groups/mine/move", {"to": ENG}, as_="mallory")
    assert res.status_int == 403
    assert res.json["errors"][0]["field"] == "to"
    creator.member(ENG, "mallory", "manager")
    creator.post("/groups/mine/move", {"to": ENG}, as_="mallory", status=200)


# Bounds


@pytest.fixture
def settings(settings, request):
    if request.node.get_closest_marker("depth3"):
        return {**settings, "membership.max_depth": "3"}
    return settings


@pytest.mark.depth3
def test_nesting_is_bounded_by_max_depth(api):
    api.group("/groups/a")
    api.group("/groups/a/groups/b")
    api.group("/groups/a/groups/b/groups/c")
    res = api.post("/groups/a/groups/b/groups/c/groups", {"name": "d"})
    assert res.status_int == 422
    assert "max_depth" in res.json["detail"]
    api.group("/groups/x")
    api.group("/groups/x/groups/y")
    res = api.post("/groups/x/move", {"to": "/groups/a/groups/b"})  # x/y would be at depth 4
    assert res.status_int == 422
    assert res.json["errors"][0]["field"] == "to"
    api.post("/groups/x/groups/y/move", {"to": "/groups/a/groups/b"}, status=200)


@pytest.mark.parametrize(
    "principal", ["group:/groups/eng/", "group:groups/eng", "group://groups/eng", "user:Alice"]
)
def test_ace_principals_only_in_canonical_form(world, principal):
    entry = {"action": "Allow", "principal": principal, "permissions": ["view"]}
    res = world.put(f"{ENG}/acl", {"entries": [entry]})
    assert res.status_int == 400
    assert res.json["errors"][0]["field"] == "entries.0.principal"


def test_contradicting_operations_on_one_user_are_refused_naming_both(world):
    ops = [{"op": "add" if n % 2 == 0 else "remove", "user": "mallory"} for n in range(2000)]
    before = len(world.get("/history?limit=1000").json["items"])
    res = world.patch(f"{ENG}/members", ops)
    assert res.status_int == 422
    assert "operations 0 and 1" in res.json["detail"]
    assert len(world.get("/history?limit=1000").json["items"]) == before


def test_a_bulk_change_records_one_event_per_user_with_the_net_effect(world):
    ops = [
        {"op": "add", "user": "mallory"},
        {"op": "replace", "user": "mallory", "role": "manager"},
        {"op": "add", "user": "olivia"},
    ]
    world.patch(f"{ENG}/members", ops, status=200)
    events = world.get(f"{ENG}/history?limit=3").json["items"]
    assert [(e["action"], e["target"].rsplit("/", 1)[-1]) for e in events[:2]] == [
        ("membership.created", "olivia"),
        ("membership.created", "mallory"),
    ]
    assert events[1]["after"]["role"] == "manager"
    assert events[2]["action"] != "membership.changed"
