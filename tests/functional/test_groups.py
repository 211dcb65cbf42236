"""Groups at any depth: create, read, edit, delete, list."""


def test_create_group_and_subgroup_at_depth(api):
    res = api.post("/groups", {"name": "eng", "title": "Engineering"})
    assert res.status_int == 201
    assert res.location.endswith("/groups/eng")
    assert res.json["path"] == "/groups/eng"
    assert res.json["member_count"] == 0
    api.group("/groups/eng/groups/backend")
    deep = api.group("/groups/eng/groups/backend/groups/db")
    assert deep["path"] == "/groups/eng/groups/backend/groups/db"
    assert deep["links"]["parent"].endswith("/groups/eng/groups/backend")
    got = api.get("/groups/eng/groups/backend/groups/db")
    assert got.json["name"] == "db"


def test_duplicate_group_is_409(api):
    api.group("/groups/eng")
    assert api.post("/groups", {"name": "eng"}).status_int == 409


def test_patch_group_title_and_description(api):
    api.group("/groups/eng")
    res = api.patch("/groups/eng", {"description": "Builds things"})
    assert res.status_int == 200
    assert res.json["description"] == "Builds things"
    assert res.json["title"] == "eng"
    assert api.patch("/groups/eng", {"title": None}).status_int == 422  # merge patch: required


def test_delete_group_removes_subtree_and_index_entries(api):
    api.user("alice")
    api.group("/groups/eng")
    api.group("/groups/eng/groups/backend")
    api.member("/groups/eng/groups/backend", "alice")
    assert api.delete("/groups/eng").status_int == 204
    assert api.get("/groups/eng").status_int == 404
    assert api.get("/groups/eng/groups/backend").status_int == 404
    assert api.get("/users/alice/groups").json["items"] == []
    assert (
        "group:/groups/eng/groups/backend"
        not in api.get("/", as_="alice").json["identity"]["principals"]
    )


def test_admins_group_cannot_be_deleted(api):
    assert api.delete("/groups/admins").status_int == 409
    assert api.get("/groups/admins").status_int == 200


def test_list_groups_and_subgroups_with_paging(api):
    for name in ["a", "b", "c"]:
        api.group(f"/groups/{name}")
    listing = api.get("/groups?limit=2").json
    assert [g["name"] for g in listing["items"]] == ["a", "admins"]
    assert [g["name"] for g in api.get(listing["next"]).json["items"]] == ["b", "c"]
    api.group("/groups/a/groups/x")
    assert [g["name"] for g in api.get("/groups/a/groups").json["items"]] == ["x"]


def test_creator_without_inherited_ownership_becomes_owner(api):
    api.user("alice")
    api.group("/groups/eng")
    api.member("/groups/eng", "alice", "manager")
    res = api.post("/groups/eng/groups", {"name": "backend"}, as_="alice")
    assert res.status_int == 201
    assert api.get("/groups/eng/groups/backend/members/alice").json["role"] == "owner"
    # an admin creating a group is not added to it
    assert api.get("/groups/eng/members/admin").status_int == 404


def test_get_group_etag_304(api):
    api.group("/groups/eng")
    etag = api.get("/groups/eng").headers["ETag"]
    assert api.get("/groups/eng", headers={"If-None-Match": etag}).status_int == 304
    api.user("alice")
    api.member("/groups/eng", "alice")
    assert api.get("/groups/eng", headers={"If-None-Match": etag}).status_int == 200
