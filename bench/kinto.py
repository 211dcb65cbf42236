"""The peer: Kinto, in its own virtualenv, memory backends, HTTP Basic auth.

Kinto keeps a group's members as one list inside the group record, so the
equivalent operations are: read the whole group record (Kinto's only way to
check a membership or read a page), add a member with a JSON-Patch ``add`` to
``/data/members/-``, and "which groups is this principal in" with
``GET /buckets/b/groups?contains_members=...``.
"""

import secrets
import subprocess
import sys
from pathlib import Path

from bench.client import Client, basic
from bench.servers import BenchError, Server, free_port, plain, write_ini

VERSION = "26.5.0"
BUCKET = "b"
GROUP = "g"
AUTH = basic("bench", "bench")  # basicauth: any credentials make a principal


def ensure_venv(venv: Path) -> Path:
    """Install Kinto into ``venv`` unless it is already there; answer its pserve."""
    pserve = venv / "bin" / "pserve"
    marker = venv / f".kinto-{VERSION}"
    if pserve.exists() and marker.exists():
        return pserve
    print(f"bench: installing Kinto {VERSION} into {venv} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"kinto=={VERSION}", "waitress"],
        check=True,
        timeout=900,
    )
    marker.touch()
    return pserve


def make_server(venv: Path, workdir: Path, server_settings: dict[str, str]) -> Server:
    port = free_port()
    app = {
        "use": "egg:kinto",
        "kinto.storage_backend": "kinto.core.storage.memory",
        "kinto.storage_url": "",
        "kinto.cache_backend": "kinto.core.cache.memory",
        "kinto.cache_url": "",
        "kinto.permission_backend": "kinto.core.permission.memory",
        "kinto.permission_url": "",
        "kinto.userid_hmac_secret": secrets.token_hex(16),
        "multiauth.policies": "basicauth",
        "kinto.bucket_create_principals": "system.Authenticated",
    }
    ini = write_ini(workdir / "kinto.ini", app, plain(server_settings), port)
    return Server("kinto", [str(venv / "bin" / "pserve"), str(ini)], port, workdir / "kinto.log")


def version(venv: Path) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import kinto; print(kinto.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or VERSION


def build(port: int, size: int, member, nested_user: str, groups_of_user: int) -> Client:
    """Bucket ``b``; group ``g`` with ``size`` members; ``groups_of_user`` groups
    holding ``nested_user`` (Kinto has no nesting: they are flat)."""
    client = Client(port, auth=AUTH)
    client.request("PUT", f"/v1/buckets/{BUCKET}", {"data": {}}, expect=(200, 201))
    group = f"/v1/buckets/{BUCKET}/groups/{GROUP}"
    members = [member(i) for i in range(size)]
    client.request("PUT", group, {"data": {"members": members}}, expect=(200, 201))
    for i in range(groups_of_user):
        client.request(
            "PUT",
            f"/v1/buckets/{BUCKET}/groups/n{i:02d}",
            {"data": {"members": [nested_user, f"other-{i}"]}},
            expect=(200, 201),
        )
    _, body, _ = client.request("GET", f"{group}", expect=(200,))
    if len(body["data"]["members"]) != size:
        raise BenchError(f"kinto group has {len(body['data']['members'])} members, not {size}")
    return client
