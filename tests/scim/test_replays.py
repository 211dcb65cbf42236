"""The request sequences Microsoft's and Okta's SCIM documentation show, replayed
with their exact shapes, asserting statuses and the state they leave.

Sources: Microsoft Entra "Tutorial: Develop and plan provisioning for a SCIM
endpoint" (request/response examples) and Okta "SCIM 2.0 protocol reference"
(the Users and Groups sections).
"""

import uuid

import pytest

from .conftest import GROUP, PATCH, USER

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def q(text: str) -> str:
    return text.replace(" ", "%20").replace('"', "%22")


def test_entra_id_sequence(scim, api):
    # "Test connection": a filter on a random value answers 200 and nothing
    probe = scim.get("/Users?filter=" + q(f'userName eq "{uuid.uuid4()}"'))
    assert probe.status_int == 200 and probe.json["totalResults"] == 0
    # lookups before the create
    assert (
        scim.get("/Users?filter=" + q('userName eq "Test_User_ab6490ee"')).json["totalResults"] == 0
    )
    created = scim.post(
        "/Users",
        {
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e8b-4e55-a0d0-b0ae9ef2ea3e",
            "active": True,
            "emails": [
                {"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}
            ],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName",
            },
            "roles": [],
        },
    )
    assert created.status_int == 201, created.text
    uid = created.json["id"]
    for expression in (
        'userName eq "Test_User_ab6490ee-1e8b-4e55-a0d0-b0ae9ef2ea3e"',
        'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"',
        'emails[type eq "work"].value eq "test_user_fd0ea19b@testuser.com"',
    ):
        found = scim.get("/Users?filter=" + q(expression))
        assert [r["id"] for r in found.json["Resources"]] == [uid], expression
    # duplicate create
    dup = scim.post(
        "/Users", {"schemas": [USER], "userName": "test_user_ab6490ee-1e8b-4e55-a0d0-b0ae9ef2ea3e"}
    )
    assert dup.status_int == 409 and dup.json["scimType"] == "uniqueness"
    # attribute update, without the 2020 compatibility flag
    ops = [
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "updatedEmail@microsoft.com",
        },
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    ]
    assert scim.patch(f"/Users/{uid}", ops).status_int == 200
    # soft delete, booleans as strings
    assert (
        scim.patch(
            f"/Users/{uid}", [{"op": "Replace", "path": "active", "value": "False"}]
        ).status_int
        == 200
    )
    rest = api.get(f"/users/{uid}").json
    assert (rest["active"], rest["email"], rest["family_name"]) == (
        False,
        "updatedEmail@microsoft.com",
        "updatedFamilyName",
    )
    # with the compatibility flag: path-less replace with dotted and extension keys
    ops = [
        {
            "op": "replace",
            "value": {"active": True, "name.givenName": "New", f"{ENTERPRISE}:department": "x"},
        }
    ]
    assert scim.patch(f"/Users/{uid}", ops).status_int == 200
    assert api.get(f"/users/{uid}").json["given_name"] == "New"

    # groups: lookup by displayName without members, create empty, fill by PATCH
    lookup = scim.get(
        "/Groups?excludedAttributes=members&filter=" + q('displayName eq "Group1DisplayName"')
    )
    assert lookup.status_int == 200 and lookup.json["totalResults"] == 0
    group = scim.post(
        "/Groups",
        {
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1DisplayName",
            "meta": {"resourceType": "Group"},
            "schemas": [GROUP],
            "members": [],
        },
    )
    assert group.status_int == 201, group.text
    gid = group.json["id"]
    add = [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": uid}]}]
    assert scim.patch(f"/Groups/{gid}", add).status_int == 200
    again = scim.get(
        "/Groups?excludedAttributes=members&filter=" + q('displayName eq "Group1DisplayName"')
    )
    assert [g["id"] for g in again.json["Resources"]] == [gid]
    assert "members" not in again.json["Resources"][0]
    # rename
    rename = [
        {
            "op": "Replace",
            "path": "displayName",
            "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName",
        }
    ]
    assert scim.patch(f"/Groups/{gid}", rename).status_int == 200
    # remove member, old and new forms
    remove = [{"op": "Remove", "path": "members", "value": [{"value": uid}]}]
    assert scim.patch(f"/Groups/{gid}", remove).status_int == 200
    assert scim.patch(f"/Groups/{gid}", add).status_int == 200
    remove = [{"op": "remove", "path": f'members[value eq "{uid}"]'}]
    assert scim.patch(f"/Groups/{gid}", remove).status_int == 200
    assert "members" not in scim.get(f"/Groups/{gid}").json
    # hard deletes
    assert scim.delete(f"/Groups/{gid}").status_int == 204
    assert scim.delete(f"/Users/{uid}").status_int == 204
    assert scim.get(f"/Users/{uid}").status_int == 404


def test_okta_sequence(scim, api):
    # existence check
    check = scim.get(
        "/Users?filter=" + q('userName eq "john.doe@example.com"') + "&startIndex=1&count=100"
    )
    assert check.status_int == 200 and check.json["totalResults"] == 0
    body = {
        "schemas": [USER],
        "userName": "john.doe@example.com",
        "name": {"givenName": "John", "familyName": "Doe"},
        "emails": [{"primary": True, "value": "john.doe@example.com", "type": "work"}],
        "displayName": "John Doe",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    created = scim.post("/Users", body)
    assert created.status_int == 201, created.text
    uid = created.json["id"]
    assert scim.post("/Users", body).status_int == 409
    # import: page with startIndex/count until totalResults
    for n in range(5):
        scim.user(f"user{n}@example.com")
    seen, start = [], 1
    while True:
        page = scim.get(f"/Users?startIndex={start}&count=2").json
        seen += [r["id"] for r in page["Resources"]]
        start += page["itemsPerPage"]
        if start > page["totalResults"]:
            break
    assert len(seen) == len(set(seen)) == 7  # admin, john and five more
    # an update sent as a full PUT
    put = {**body, "id": uid, "name": {"givenName": "Johnny", "familyName": "Doe"}}
    put.pop("password")
    assert scim.put(f"/Users/{uid}", put).status_int == 200
    assert api.get(f"/users/{uid}").json["given_name"] == "Johnny"
    # deactivation: path-less replace
    deactivate = [{"op": "replace", "value": {"active": False}}]
    assert scim.patch(f"/Users/{uid}", deactivate).json["active"] is False
    # groups: push group, rename and membership changes combined
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []})
    gid = group.json["id"]
    other = scim.get("/Users?filter=" + q('userName eq "user0@example.com"')).json["Resources"][0][
        "id"
    ]
    ops = [
        {"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}},
        {
            "op": "add",
            "path": "members",
            "value": [{"value": uid, "display": "john.doe@example.com"}],
        },
        {
            "op": "add",
            "path": "members",
            "value": [{"value": other, "display": "user0@example.com"}],
        },
    ]
    res = scim.request("PATCH", f"/Groups/{gid}", {"schemas": [PATCH], "Operations": ops})
    assert res.status_int == 200, res.text
    ops = [
        {"op": "remove", "path": f'members[value eq "{other}"]'},
        {"op": "add", "path": "members", "value": [{"value": other}]},
    ]
    assert scim.patch(f"/Groups/{gid}", ops).status_int == 200
    final = scim.get(f"/Groups/{gid}").json
    assert final["displayName"] == "Test SCIMv2 renamed"
    assert sorted(m["value"] for m in final["members"]) == sorted([uid, other])
    # Okta never deletes users; the deactivated one keeps its membership
    assert api.get(f"/groups/@id/{gid}").status_int == 307
    assert scim.delete(f"/Groups/{gid}").status_int == 204


@pytest.mark.slow
def test_a_10000_member_group_filled_100_members_per_patch(app, scim, api):
    """The shape Entra uses for big groups. Users come in through the domain's bulk
    import (one transaction), so the test measures the PATCHes, not 10,000 POSTs."""
    from membership.domain import Actor, Context
    from membership.domain.users import create_missing_users
    from membership.web.db import database

    from .conftest import with_root

    ids = [f"u{n:05d}" for n in range(10_000)]
    with_root(
        database(app.registry),
        lambda root: create_missing_users(Context(root, Actor.script("test")), ids),
    )
    gid = scim.group("Everyone")["id"]
    statuses = set()
    for start in range(0, len(ids), 100):
        batch = [{"value": userid} for userid in ids[start : start + 100]]
        res = scim.patch(f"/Groups/{gid}", [{"op": "add", "path": "members", "value": batch}])
        statuses.add(res.status_int)
    assert statuses == {200, 204}  # inline up to 1,000 members, 204 after
    assert api.get("/groups/everyone").json["member_count"] == 10_000
    assert "members" not in scim.get(f"/Groups/{gid}").json
    found = scim.get("/Groups?filter=" + q(f'members[value eq "{ids[-1]}"]')).json
    assert [g["id"] for g in found["Resources"]] == [gid]
    # removal of one member stays a small change
    res = scim.patch(f"/Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{ids[0]}"]'}])
    assert res.status_int == 204
    assert api.get("/groups/everyone").json["member_count"] == 9_999
