"""The public SCIM test tool, in process: every check SUCCESS, none skipped."""

from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import check_server


def test_scim2_tester_passes_every_check(app, token):
    client = WSGISCIMClient(
        app, base_url="http://localhost/scim/v2", headers={"Authorization": f"Bearer {token}"}
    )
    client.discover()
    results = check_server(client)
    assert len(results) > 50  # the whole battery ran, not an early stop
    failed = [
        f"{r.status.name} {r.title}: {r.reason}" for r in results if r.status.name != "SUCCESS"
    ]
    assert failed == []
