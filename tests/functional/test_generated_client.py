"""A client generated from /openapi.json (openapi-python-client) works against the app.

The point of the document is that nobody hand-writes a client: this generates
one into a temporary directory and drives a small tour through it, in process
(httpx's WSGI transport), with Basic and Bearer credentials and a problem+json
error parsed as ``Problem``.
"""

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .helpers import ADMIN, PASSWORD

pytestmark = pytest.mark.slow
PACKAGE = "membership_client"


@pytest.fixture
def client_package(testapp, tmp_path):
    beside_python = Path(sys.executable).with_name("openapi-python-client")
    generator = (
        str(beside_python) if beside_python.exists() else shutil.which("openapi-python-client")
    )
    assert generator, "openapi-python-client is in the test extra: make install"
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(testapp.get("/openapi.json").json))
    result = subprocess.run(
        [generator, "generate", "--path", str(spec), "--meta", "none"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (tmp_path / PACKAGE / "__init__.py").exists(), result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_a_generated_client_drives_the_api(app, client_package):
    from membership_client import AuthenticatedClient, Client
    from membership_client.api.groups import (
        add_subgroup_member,
        check_group_member,
        create_group,
        create_subgroup,
        get_subgroup,
    )
    from membership_client.api.users import create_token, create_user, list_user_groups
    from membership_client.models import (
        EffectiveMembershipOut,
        GroupCreate,
        MembershipCreate,
        Problem,
        TokenCreate,
        UserCreate,
    )

    transport = httpx.WSGITransport(app=app)
    admin = Client(
        base_url="http://localhost",
        httpx_args={"transport": transport, "auth": httpx.BasicAuth(ADMIN, PASSWORD)},
    )
    user = create_user.sync(client=admin, body=UserCreate(id="alice", password="alice-secret"))
    assert user.id == "alice" and user.links.self_ == "http://localhost/users/alice"
    create_group.sync(client=admin, body=GroupCreate(name="eng"))
    create_subgroup.sync(group="eng", client=admin, body=GroupCreate(name="backend"))
    membership = add_subgroup_member.sync(
        group="eng", subgroup="backend", client=admin, body=MembershipCreate(user="alice")
    )
    assert membership.role == "member"

    check = check_group_member.sync(group="eng", user="alice", client=admin, effective=True)
    assert isinstance(check, EffectiveMembershipOut)
    assert check.via == "/groups/eng/groups/backend"

    token = create_token.sync(user="alice", client=admin, body=TokenCreate(name="laptop"))
    alice = AuthenticatedClient(
        base_url="http://localhost", token=token.token, httpx_args={"transport": transport}
    )
    groups = list_user_groups.sync(user="alice", client=alice)
    assert {(g.path, g.direct) for g in groups.items} == {
        ("/groups/eng", False),
        ("/groups/eng/groups/backend", True),
    }
    assert get_subgroup.sync(group="eng", subgroup="backend", client=alice).member_count == 1

    duplicate = create_group.sync_detailed(client=admin, body=GroupCreate(name="eng"))
    assert duplicate.status_code == 409
    assert isinstance(duplicate.parsed, Problem)
    assert "already exists" in duplicate.parsed.detail
