"""SCIM Groups: where they live in the tree, members as SCIM-sourced memberships,
the PATCH forms of Entra and Okta, and groups too large to answer inline."""

import pytest

from .conftest import GROUP, scim_error


@pytest.fixture
def settings(request, settings):
    return {**settings, **getattr(request, "param", {})}


@pytest.fixture
def people(scim):
    for name in ("alice", "bob", "carol"):
        scim.user(name)
    return scim


def member_ids(body: dict) -> list[str]:
    return sorted(m["value"] for m in body.get("members") or [])


def test_a_group_is_created_under_the_parent_named_by_a_slug(people, api):
    body = people.group("Platform Engineering", members=["alice"], externalId="g-1")
    rest = api.get("/groups/platform-engineering").json
    assert rest["id"] == body["id"]  # SCIM id = the stable group id
    assert rest["title"] == "Platform Engineering"
    membership = api.get("/groups/platform-engineering/members/alice").json
    assert membership["source"] == "scim"
    assert membership["added_by"] == "admin"
    # nobody was made owner of it on the way
    assert [m["user"] for m in api.get("/groups/platform-engineering/members").json["items"]] == [
        "alice"
    ]
    assert api.get("/groups/platform-engineering").headers["ETag"] == body["meta"]["version"]


def test_a_taken_name_gets_a_suffix_and_a_taken_display_name_is_409(people, api):
    api.group("/groups/eng", title="Not the same title")
    body = people.group("Eng")
    assert (
        api.get(f"/groups/@id/{body['id']}").location.removeprefix("http://localhost")
        == "/groups/eng-2"
    )
    scim_error(
        people.post("/Groups", {"schemas": [GROUP], "displayName": "ENG"}), 409, "uniqueness"
    )


@pytest.mark.parametrize(
    "settings", [{"membership.scim.groups_parent": "/groups/idp"}], indirect=True
)
def test_groups_parent_setting(people, api):
    api.group("/groups/idp")
    api.group("/groups/local")
    body = people.group("Sales")
    assert (
        api.get(f"/groups/@id/{body['id']}").location.removeprefix("http://localhost")
        == "/groups/idp/groups/sales"
    )
    listed = people.get("/Groups").json
    assert [g["displayName"] for g in listed["Resources"]] == ["Sales"]


def test_admins_is_not_a_scim_group(people, api):
    admins = api.get("/groups/admins").json["id"]
    scim_error(people.get(f"/Groups/{admins}"), 404)
    assert people.get("/Groups").json["totalResults"] == 0


def test_a_group_member_is_400_invalid_value(people):
    eng = people.group("Eng")
    res = people.post(
        "/Groups",
        {
            "schemas": [GROUP],
            "displayName": "Outer",
            "members": [{"value": eng["id"], "type": "Group"}],
        },
    )
    scim_error(res, 400, "invalidValue")
    op = [{"op": "add", "path": "members", "value": [{"value": eng["id"]}]}]
    scim_error(people.patch(f"/Groups/{eng['id']}", op), 400, "invalidValue")


def test_members_naming_no_user_are_skipped_not_refused(people):
    eng = people.group("Eng")
    ops = [{"op": "add", "path": "members", "value": [{"value": "alice"}, {"value": "nobody"}]}]
    res = people.patch(f"/Groups/{eng['id']}", ops)
    assert res.status_int == 200
    assert member_ids(res.json) == ["alice"]


def test_a_refused_patch_changes_nothing(people):
    eng = people.group("Eng")
    sales = people.group("Sales")
    ops = [
        {"op": "add", "path": "members", "value": [{"value": "alice"}]},
        {"op": "add", "path": "members", "value": [{"value": sales["id"], "type": "Group"}]},
    ]
    scim_error(people.patch(f"/Groups/{eng['id']}", ops), 400, "invalidValue")
    assert member_ids(people.get(f"/Groups/{eng['id']}").json) == []


def test_member_patch_forms(people):
    gid = people.group("Eng")["id"]
    add = [
        {
            "op": "Add",
            "path": "members",
            "value": [{"value": "alice", "$ref": None}, {"value": "bob"}],
        }
    ]
    res = people.patch(f"/Groups/{gid}", add)
    assert res.status_int == 200 and member_ids(res.json) == ["alice", "bob"]
    # adding an existing member is not an error
    assert people.patch(f"/Groups/{gid}", add).status_int == 200
    # Entra without its compatibility flag: remove with a value
    remove = [{"op": "Remove", "path": "members", "value": [{"value": "alice"}]}]
    assert member_ids(people.patch(f"/Groups/{gid}", remove).json) == ["bob"]
    # removing an absent member is not an error either
    assert people.patch(f"/Groups/{gid}", remove).status_int == 200
    # the filtered path
    res = people.patch(f"/Groups/{gid}", [{"op": "remove", "path": 'members[value eq "bob"]'}])
    assert member_ids(res.json) == []
    # Okta: rename and membership changes combined in one PATCH
    ops = [
        {"op": "replace", "value": {"id": gid, "displayName": "Engineering"}},
        {"op": "remove", "path": 'members[value eq "alice"]'},
        {"op": "add", "path": "members", "value": [{"value": "carol", "display": "Carol"}]},
    ]
    res = people.patch(f"/Groups/{gid}", ops)
    assert res.status_int == 200, res.text
    assert (res.json["displayName"], member_ids(res.json)) == ("Engineering", ["carol"])
    # a filter with another operator is evaluated on the members
    res = people.patch(f"/Groups/{gid}", [{"op": "remove", "path": 'members[value sw "car"]'}])
    assert member_ids(res.json) == []


def test_replace_members_touches_only_scim_memberships(people, api):
    gid = people.group("Eng", members=["alice", "bob"])["id"]
    api.member("/groups/eng", "carol", "owner")  # granted locally
    res = people.patch(
        f"/Groups/{gid}", [{"op": "replace", "path": "members", "value": [{"value": "bob"}]}]
    )
    assert member_ids(res.json) == ["bob", "carol"]
    res = people.put(f"/Groups/{gid}", {"schemas": [GROUP], "displayName": "Eng", "members": []})
    assert res.status_int == 200, res.text
    assert member_ids(res.json) == ["carol"]
    assert api.get("/groups/eng/members/carol").json["role"] == "owner"


def test_display_name_filter_and_excluded_members(people):
    gid = people.group("Eng", members=["alice"])["id"]
    people.group("Sales")
    res = people.get("/Groups?filter=displayName%20eq%20%22eng%22&excludedAttributes=members")
    assert [g["id"] for g in res.json["Resources"]] == [gid]
    assert "members" not in res.json["Resources"][0]
    res = people.get("/Groups?filter=members%5Bvalue%20eq%20%22alice%22%5D")
    assert [g["id"] for g in res.json["Resources"]] == [gid]
    res = people.get("/Groups?filter=externalId%20eq%20%22none%22")
    assert res.json["totalResults"] == 0


def test_rename_and_delete(people, api):
    gid = people.group("Eng", members=["alice"])["id"]
    res = people.patch(f"/Groups/{gid}", [{"op": "replace", "path": "displayName", "value": "R&D"}])
    assert res.json["displayName"] == "R&D"
    assert api.get("/groups/eng").json["title"] == "R&D"  # the name (path) stays
    assert people.get("/Groups?filter=displayName%20eq%20%22r%26d%22").json["totalResults"] == 1
    assert people.delete(f"/Groups/{gid}").status_int == 204
    assert api.get("/groups/eng").status_int == 404
    assert api.get("/users/alice/groups").json["items"] == []
    scim_error(people.get(f"/Groups/{gid}"), 404)


@pytest.mark.parametrize("settings", [{"membership.scim.max_inline_members": "2"}], indirect=True)
def test_large_groups_answer_204_and_leave_members_out_unless_asked(people):
    gid = people.group("Eng", members=["alice", "bob"])["id"]
    assert "members" in people.get(f"/Groups/{gid}").json  # 2: still inline
    res = people.patch(
        f"/Groups/{gid}", [{"op": "add", "path": "members", "value": [{"value": "carol"}]}]
    )
    assert res.status_int == 204 and res.headers["ETag"]
    assert "members" not in people.get(f"/Groups/{gid}").json
    asked = people.get(f"/Groups/{gid}?attributes=members").json
    assert member_ids(asked) == ["alice", "bob", "carol"]
