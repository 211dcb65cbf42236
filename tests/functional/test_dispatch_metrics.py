"""The dispatcher feeds ``/metrics``: webhook deliveries by outcome and the feed's lag.

A real FileStorage in a temporary directory, so the app starts its in-process
dispatcher thread (as ``make serve`` does), and a real receiver on loopback.
The metric objects are process-wide, so each test compares values before and
after what it does.
"""

import socket
import time

import pytest

from membership.dispatch import start_in_process
from membership.web.db import database

from ..unit.test_webhooks import Receiver
from .test_metrics import delta, scrape, value

# /metrics is an operations endpoint, not part of the documented API.
pytestmark = pytest.mark.no_spec_check

DELIVERIES = "membership_webhook_deliveries_total"
LAG = "membership_changes_lag_seconds"


@pytest.fixture
def settings(settings, tmp_path):
    return {
        **settings,
        "zodbconn.uri": f"file://{tmp_path}/Data.fs",
        "membership.webhooks.allow_private": "true",
        "membership.webhooks.retry_min": "0.2",
        "membership.webhooks.retry_max": "0.5",
        "membership.dispatch.poll_seconds": "0.05",
    }


@pytest.fixture(autouse=True)
def dispatcher(app):
    """The dispatcher thread ``make serve`` starts on a FileStorage (``force``: these
    tests import the console scripts, which keep it from starting by itself)."""
    return start_in_process(database(app.registry), app.registry.membership_settings, force=True)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def wait_until(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.05)


def test_the_in_process_dispatcher_counts_deliveries_by_outcome(api, testapp, receiver):
    before = scrape(testapp)
    hook = api.post("/webhooks", {"url": receiver.url}, status=201).json
    api.group("/groups/eng")
    api.group("/groups/ops")
    wait_until(lambda: {"/groups/eng", "/groups/ops"} <= targets(receiver), "two deliveries")
    wait_until(
        lambda: (
            delta(before, scrape(testapp), DELIVERIES, outcome="delivered") == len(receiver.calls)
        ),
        "the counter",
    )
    delivered = len(receiver.calls)
    assert delivered >= 2
    assert delta(before, scrape(testapp), DELIVERIES, outcome="failed") == 0

    # the receiver fails twice, then 410 Gone: failed three times, then gave up
    receiver.answers = [(500, {}), (503, {}), (410, {})]
    api.group("/groups/qa")
    wait_until(lambda: not api.get(f"/webhooks/{hook['id']}").json["active"], "the disable")
    wait_until(
        lambda: delta(before, scrape(testapp), DELIVERIES, outcome="gave_up") == 1, "gave_up"
    )
    after = scrape(testapp)
    assert delta(before, after, DELIVERIES, outcome="failed") == 3  # 500, 503 and the 410
    assert delta(before, after, DELIVERIES, outcome="delivered") == delivered
    assert len(receiver.calls) == delivered + 3


def targets(receiver: Receiver) -> set[str]:
    return {message["data"]["target"] for message in receiver.messages()}


def test_the_lag_is_the_age_of_the_oldest_change_not_delivered(api, testapp, receiver):
    receiver.default = (503, {"Retry-After": "3600"})  # nothing gets through, for an hour
    api.post("/webhooks", {"url": receiver.url}, status=201)
    api.group("/groups/eng")
    wait_until(lambda: receiver.calls, "a first attempt")
    wait_until(lambda: value(scrape(testapp), LAG) > 0, "a lag above 0")
    first = value(scrape(testapp), LAG)
    assert 0 < first < 3600
    # once the receiver takes it (the subscription is resumed by a PATCH of its URL), 0
    receiver.default = (200, {})
    hook = api.get("/webhooks").json["items"][0]
    api.patch(f"/webhooks/{hook['id']}", {"cursor": hook["cursor"]}, status=200)
    wait_until(lambda: value(scrape(testapp), LAG) == 0, "the lag back at 0")


def test_a_metrics_address_that_cannot_be_served_is_one_line_and_exit_1(tmp_path, capsys):
    from membership.scripts import dispatch

    (tmp_path / "own").mkdir()
    ini = tmp_path / "own" / "dispatch.ini"
    ini.write_text(
        f"[app:main]\nuse = egg:membership\nzodbconn.uri = file://{ini.parent}/Data.fs\n"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = dispatch.main([str(ini), "--once", "--metrics-listen", f"127.0.0.1:{port}"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"membership_dispatch: cannot serve metrics on 127.0.0.1:{port}: " in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as refused:
        dispatch.main([str(ini), "--metrics-listen", "9464"])
    assert refused.value.code == 2
    assert "--metrics-listen: not host:port" in capsys.readouterr().err
