"""SCIM Users: create, read, filters, paging, attributes, ETags, PATCH forms, PUT, DELETE."""

import pytest

from .conftest import SCIM_JSON, USER, scim_error


def test_create_answers_201_with_location_and_scim_json(scim, api):
    res = scim.post(
        "/Users",
        {
            "schemas": [USER],
            "userName": "Alice.Smith@Example.com",
            "externalId": "00u1",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "displayName": "Alice Smith",
            "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
            "active": True,
            # Okta's create: a password and an empty groups list, both accepted and ignored
            "password": "t1meMa$heen",
            "groups": [],
        },
    )
    assert res.status_int == 201
    assert res.content_type == SCIM_JSON
    body = res.json
    assert body["id"] == "alice.smith-example.com"  # membership.scim.user_ids = slug
    assert res.location.endswith("/scim/v2/Users/alice.smith-example.com")
    assert body["meta"]["version"] == res.headers["ETag"]
    rest = api.get("/users/alice.smith-example.com").json
    assert rest["user_name"] == "Alice.Smith@Example.com"
    assert (rest["given_name"], rest["family_name"], rest["external_id"]) == (
        "Alice",
        "Smith",
        "00u1",
    )
    assert rest["email"] == "alice@example.com"
    assert rest["display_name"] == "Alice Smith"
    # the REST ETag is meta.version
    assert api.get("/users/alice.smith-example.com").headers["ETag"] == body["meta"]["version"]


def test_ids_get_a_suffix_when_the_slug_is_taken(scim, api):
    api.user("bob", user_name="robert")
    assert scim.user("Bob")["id"] == "bob-2"


@pytest.mark.parametrize("settings", [{"membership.scim.user_ids": "uuid"}], indirect=True)
def test_ids_can_be_uuids(scim):
    ident = scim.user("bob")["id"]
    assert len(ident) == 36 and ident.count("-") == 4


@pytest.fixture
def settings(request, settings):
    return {**settings, **getattr(request, "param", {})}


def test_duplicate_user_name_is_409_uniqueness_whatever_its_case(scim):
    scim.user("bob@example.com")
    res = scim.post("/Users", {"schemas": [USER], "userName": "BOB@example.com"})
    scim_error(res, 409, "uniqueness")


def test_unknown_ids_and_paths_are_scim_404s(scim):
    scim_error(scim.get("/Users/nobody"), 404)
    scim_error(scim.get("/Groups/nothing"), 404)
    scim_error(scim.get("/Widgets"), 404)
    scim_error(scim.get("/Users/x/y"), 404)
    scim_error(scim.get(""), 404)


def test_discovery_endpoints_answer_and_refuse_other_methods(scim):
    config = scim.get("/ServiceProviderConfig").json
    assert config["patch"]["supported"] and config["etag"]["supported"]
    schemas = scim.get("/Schemas").json
    user_schema = scim.get("/Schemas/" + USER).json
    names = {a["name"] for a in user_schema["attributes"]}
    assert names == {"userName", "name", "displayName", "active", "emails"}  # what we store
    assert schemas["totalResults"] == 2
    assert scim.get("/ResourceTypes/User").json["endpoint"] == "/Users"
    for path in ("/ServiceProviderConfig", "/Schemas", "/ResourceTypes", "/ResourceTypes/User"):
        res = scim.post(path, {})
        scim_error(res, 405)
        assert res.headers["Allow"] == "GET"
    scim_error(scim.delete("/Users"), 405)


def test_bodies_sent_as_application_json_are_accepted(scim):
    res = scim.app.post_json(
        "/scim/v2/Users",
        {"schemas": [USER], "userName": "carol"},
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert res.status_int == 201


def test_malformed_bodies_are_400(scim):
    res = scim.app.post(
        "/scim/v2/Users",
        b"{not json",
        headers={"Authorization": f"Bearer {scim.token}", "Content-Type": SCIM_JSON},
        expect_errors=True,
    )
    scim_error(res, 400, "invalidSyntax")
    scim_error(scim.post("/Users", {"schemas": [USER]}), 400)  # no userName


@pytest.fixture
def people(scim):
    scim.user(
        "alice@example.com",
        externalId="ext-a",
        emails=[{"value": "Alice@Work.example", "type": "work", "primary": True}],
    )
    scim.user("bob@example.com", externalId="ext-b", displayName="Bob")
    scim.user("carol@example.com", active=False)
    return scim


@pytest.mark.parametrize(
    "expression, expected",
    [
        ('userName eq "ALICE@example.com"', ["alice-example.com"]),
        ('externalId eq "ext-b"', ["bob-example.com"]),
        ('id eq "carol-example.com"', ["carol-example.com"]),
        ('emails.value eq "alice@work.example"', ["alice-example.com"]),
        ('emails[type eq "work"].value eq "Alice@Work.example"', ["alice-example.com"]),
        (
            'userName eq "alice@example.com" or externalId eq "ext-b"',
            ["alice-example.com", "bob-example.com"],
        ),
        ('userName eq "bob@example.com" and active eq true', ["bob-example.com"]),
        ("active eq false", ["carol-example.com"]),  # no index: a bounded scan
        ('displayName co "o"', ["bob-example.com"]),
        ('userName eq "nobody-a1b2c3"', []),  # Entra's "test connection"
    ],
)
def test_filters(people, expression, expected):
    res = (
        people.get("/Users", headers={}, token=...)
        if False
        else people.request(
            "GET", "/Users?filter=" + expression.replace(" ", "%20").replace('"', "%22")
        )
    )
    assert res.status_int == 200, res.text
    assert [r["id"] for r in res.json["Resources"]] == expected
    assert res.json["totalResults"] == len(expected)


def test_an_invalid_filter_is_400_invalid_filter(people):
    scim_error(people.get("/Users?filter=userName%20eq"), 400, "invalidFilter")
    scim_error(people.get("/Users?filter=nosuch%20eq%20%22x%22"), 400, "invalidFilter")


@pytest.mark.parametrize("settings", [{"membership.scim.max_filter_scan": "2"}], indirect=True)
def test_a_filter_without_index_past_the_bound_is_400_too_many(people):
    scim_error(people.get("/Users?filter=active%20eq%20false"), 400, "tooMany")
    # the indexed forms still answer
    assert (
        people.get("/Users?filter=userName%20eq%20%22bob@example.com%22").json["totalResults"] == 1
    )


def test_attributes_and_excluded_attributes(people):
    res = people.get("/Users?attributes=userName")
    first = res.json["Resources"][0]
    assert set(first) == {"schemas", "id", "userName"}
    res = people.get("/Users/alice-example.com?excludedAttributes=emails")
    assert "emails" not in res.json and "userName" in res.json
    res = people.post(
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'externalId eq "ext-a"',
            "attributes": ["externalId"],
        },
    )
    assert res.json["Resources"] == [
        {"schemas": [USER], "id": "alice-example.com", "externalId": "ext-a"}
    ]


def test_index_paging_and_count_zero(people):
    everyone = people.get("/Users").json
    assert everyone["totalResults"] == 4  # admin too
    ids = [r["id"] for r in everyone["Resources"]]
    page = people.get("/Users?startIndex=2&count=2").json
    assert [r["id"] for r in page["Resources"]] == ids[1:3]
    assert (page["startIndex"], page["itemsPerPage"], page["totalResults"]) == (2, 2, 4)
    again = people.get("/Users?startIndex=4&count=2").json  # continues from a checkpoint
    assert [r["id"] for r in again["Resources"]] == ids[3:]
    empty = people.get("/Users?count=0").json
    assert (empty["totalResults"], empty["Resources"]) == (4, [])
    assert people.get("/Users?startIndex=9").json["Resources"] == []
    assert len(people.get("/Users?count=5000").json["Resources"]) == 4  # capped at 1000


def test_cursor_paging(people):
    seen, cursor = [], ""
    while True:
        page = people.get(f"/Users?count=3&cursor={cursor}").json
        seen += [r["id"] for r in page["Resources"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    assert seen == [r["id"] for r in people.get("/Users").json["Resources"]]
    scim_error(people.get("/Users?cursor=%25%25"), 400)


def test_root_search_covers_users_and_groups(people):
    people.group("Engineering")
    res = people.post(
        "/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'displayName eq "Engineering" or userName eq "bob@example.com"',
        },
    )
    assert res.status_int == 200, res.text
    assert res.json["totalResults"] == 2


def test_etags_if_none_match_and_if_match(people):
    res = people.get("/Users/alice-example.com")
    etag = res.headers["ETag"]
    assert res.json["meta"]["version"] == etag
    assert people.get("/Users/alice-example.com", headers={"If-None-Match": etag}).status_int == 304
    stale = {"If-Match": '"stale"'}
    op = [{"op": "replace", "path": "displayName", "value": "A"}]
    scim_error(people.patch("/Users/alice-example.com", op, headers=stale), 412)
    scim_error(people.delete("/Users/alice-example.com", headers=stale), 412)
    res = people.patch("/Users/alice-example.com", op, headers={"If-Match": etag})
    assert res.status_int == 200 and res.headers["ETag"] != etag


def test_entra_patch_forms(people, api):
    uid = "/Users/alice-example.com"
    res = people.patch(uid, [{"op": "Replace", "path": "active", "value": "False"}])
    assert res.status_int == 200, res.text
    assert res.json["active"] is False
    assert api.get("/users/alice-example.com").json["active"] is False
    res = people.patch(
        uid,
        [
            {
                "op": "replace",
                "value": {
                    "name.givenName": "Alicia",
                    "displayName": "Alicia S",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Eng",
                },
            }
        ],
    )
    assert res.status_int == 200, res.text
    assert (res.json["name"]["givenName"], res.json["displayName"]) == ("Alicia", "Alicia S")
    res = people.patch(
        uid, [{"op": "Add", "path": 'emails[type eq "work"].value', "value": "new@work.example"}]
    )
    assert res.status_int == 200, res.text
    assert api.get("/users/alice-example.com").json["email"] == "new@work.example"


def test_okta_deactivation_is_a_pathless_replace(people, api):
    res = people.patch("/Users/bob-example.com", [{"op": "replace", "value": {"active": False}}])
    assert res.status_int == 200 and res.json["active"] is False
    assert api.get("/users/bob-example.com").json["active"] is False


def test_put_replaces_the_user(people, api):
    res = people.put(
        "/Users/bob-example.com",
        {
            "schemas": [USER],
            "userName": "bob@example.com",
            "active": True,
            "name": {"givenName": "Robert"},
        },
    )
    assert res.status_int == 200, res.text
    body = api.get("/users/bob-example.com").json
    assert (body["given_name"], body["external_id"], body["display_name"]) == ("Robert", None, "")


def test_renaming_onto_a_taken_user_name_is_409(people):
    op = [{"op": "replace", "path": "userName", "value": "ALICE@example.com"}]
    scim_error(people.patch("/Users/bob-example.com", op), 409, "uniqueness")


def test_delete_removes_the_user_with_memberships_and_tokens(people, api):
    group = people.group("Eng", members=["bob-example.com"])
    assert people.delete("/Users/bob-example.com").status_int == 204
    assert api.get("/users/bob-example.com").status_int == 404
    assert people.get(f"/Groups/{group['id']}").json.get("members") is None
    assert (
        people.get("/Users?filter=userName%20eq%20%22bob@example.com%22").json["totalResults"] == 0
    )
    people.user("bob@example.com")  # the userName is free again


def test_me_is_the_tokens_user(scim):
    assert scim.get("/Me").json["id"] == "admin"
    scim_error(scim.delete("/Me"), 405)


def test_root_search_refuses_attributes_of_neither_kind(people):
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'nosuch eq "x"',
    }
    scim_error(people.post("/.search", body), 400, "invalidFilter")


def test_a_startindex_walk_during_writes_returns_each_lasting_user_exactly_once(app, scim):
    """2,000 users walked 100 at a time while another thread adds users (before and
    after the walk's position) and deletes some: every user that exists for the whole
    walk comes exactly once, one deleted meanwhile at most once, and nothing repeats."""
    import threading

    from membership.domain.users import create_user, delete_user
    from membership.web.db import database
    from tests.functional.conftest import script_context, with_root

    db = database(app.registry)

    def create(names):
        def run(root):
            ctx = script_context(root, app.registry)
            for name in names:
                create_user(ctx, name)

        with_root(db, run)

    create([f"u{n:05d}" for n in range(0, 4000, 2)])  # even numbers: 2,000 users
    doomed = {f"u{n:05d}" for n in range(1000, 4000, 300)}
    lasting = {f"u{n:05d}" for n in range(0, 4000, 2)} - doomed | {"admin"}
    page_done, wrote = threading.Event(), threading.Event()
    stop = False

    def writer():
        round_ = 0
        while True:
            page_done.wait()
            page_done.clear()
            if stop:
                return
            # odd numbers all over the key range: before and after the walker's place
            create([f"u{n:05d}-{round_}" for n in range(1 + 2 * round_ % 400, 4000, 400)])

            def remove(root):
                ctx = script_context(root, app.registry)
                for name in sorted(doomed):
                    if name in root.users:
                        delete_user(ctx, root.users[name])
                        return

            with_root(db, remove)
            round_ += 1
            wrote.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[str] = []
    try:
        start = 1
        while True:
            res = scim.get(f"/Users?startIndex={start}&count=100&attributes=id")
            assert res.status_int == 200, res.text
            ids = [r["id"] for r in res.json["Resources"]]
            if not ids:
                break
            assert len(seen) < 3_000, "the walk does not end"
            seen += ids
            start += len(ids)
            page_done.set()
            assert wrote.wait(30)
            wrote.clear()
    finally:
        stop = True
        page_done.set()
        thread.join(30)
    assert len(seen) == len(set(seen))  # nothing twice
    assert lasting <= set(seen)  # nothing that lasted is missed
    assert seen == sorted(seen)  # id order, page after page
    assert any("-" in name for name in seen)  # users added meanwhile may appear
