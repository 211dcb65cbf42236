"""The bench's report and helpers (``bench/``): what ``make bench`` prints from the
figures it measured. Figures here are made up; no test measures or asserts a time."""

import http.client
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest

from bench import baseline, loopback, report


def run(ok: int, seconds: float = 1.0, **statuses: int) -> dict:
    counts = {"200": ok, **{k.removeprefix("s"): v for k, v in statuses.items()}}
    requests = sum(counts.values())
    errors = requests - ok
    return {
        "rps": requests / seconds,
        "requests": requests,
        "seconds": seconds,
        "latency_ms": {"p50": 1.0, "p99": 2.0},
        "statuses": counts,
        "socket_errors": {},
        "loadavg": 1.0,
        "sent": requests,
        "ok": ok,
        "non_2xx": errors,
        "errors": errors,
        "ok_rps": ok / seconds,
    }


def row(
    server: str, op: str, size: int | None, *runs: dict, notes=(), slices: str | None = None
) -> dict:
    return {
        "server": server,
        "kind": None,
        "op": op,
        "size": size,
        "request": "GET /x",
        "slices": slices,
        "runs": list(runs),
        "median": {
            "rps": runs[0]["ok_rps"],
            "all_rps": runs[0]["rps"],
            "seconds": runs[0]["seconds"],
            "p50_ms": 1.0,
            "p99_ms": 2.0,
            "errors": runs[0]["errors"],
            "requests": runs[0]["requests"],
        },
        "notes": list(notes),
    }


def data(**extra) -> dict:
    results = [
        # Measured once at the start, and again alternating with the checks at 1,000.
        row("pyramid", "ceiling", None, run(2000)),
        row("pyramid", "ceiling", 1000, run(1250), slices="check-1000"),
        row("ours", "check", 1000, run(800), slices="check-1000"),
        row("previous", "check", 1000, run(400), slices="check-1000"),
        row("ours", "add", 1000, run(100)),
        row("previous", "add", 1000, run(200)),
        row("ours", "check-jwt", 1000, run(760)),
        row("ours", "check-metrics-on", 1000, run(700)),
        row("ours", "check-metrics-off", 1000, run(1000)),
        row(
            "ours",
            "add-production",
            1000,
            run(99, s503=1),
            notes=["production.ini's settings on FileStorage: retry.attempts = 10, threads = 8"],
        ),
        row("kinto", "add", 1000, run(50)),
        row("ours", "checks-batch", 1000, run(250)),
    ]
    base = {
        "date": "2026-11-29",
        "mode": "quick",
        "command": "make bench-quick",
        "elapsed_s": 60,
        "machine": {"cpus": 2},
        "software": {"wrk": "wrk 4", "membership": "abc1234"},
        "settings": {
            "mode": {"duration": 3, "runs": 1},
            "load": {"connections": 16, "threads": 1},
            "waitress": {"threads": "4"},
            "kind": "One waitress process serving a FileStorage.",
        },
        "results": results,
        "previous": {"commit": "18f2a7c"},
        "imports": [
            {"server": "ours", "size": 1000, "seconds": 2},
            {"server": "previous", "size": 1000, "seconds": 3},
        ],
        "throughput": [
            {
                "what": "change feed read",
                "unit": "events/s",
                "count": 6000,
                "seconds": 2.0,
                "rate": 3000.0,
            },
        ],
        "writecost": {
            "rows": [
                {"operation": "add", "objects": 4, "bytes": 2400},
                {"operation": "remove", "objects": 9, "bytes": 5600},
            ],
            "page_cold_objects": 12,
        },
        "skipped": ["ours scim-filter size=1000: /scim/v2 answers 404 (not on main yet)"],
        "failure": None,
    }
    return base | extra


def table_row(markdown: str, start: str) -> str:
    return next(line for line in markdown.splitlines() if line.startswith(start))


def test_previous_release_table_shows_current_over_previous():
    text = report.markdown(data(), [])
    assert "## Against the previous release (issue 18)" in text
    assert "(18f2a7c)" in text
    assert "| 2.00x |" in table_row(text, "| membership check | 1,000 |")
    assert "| 0.50x |" in table_row(text, "| add member | 1,000 |")
    target = table_row(text, "| add member at 1,000: current / previous release >= 2")
    assert target.endswith("| 0.50x | **no** |")
    target = table_row(text, "| membership check at 1,000: current / previous release >= 0.95")
    assert target.endswith("| 2.00x | yes |")


def test_the_check_is_divided_by_the_pyramid_app_run_alternating_with_it():
    text = report.markdown(data(), [])
    # % of bare WSGI (none here), of the Pyramid app at the start, of the one alternating.
    line = table_row(text, "| membership check `GET /x` | 1,000 |")
    assert line.endswith("| - | 40% | 64% | 0 |")
    # A case that did not run in those slices has no alternating figure.
    assert table_row(text, "| add member `GET /x` | 1,000 |").endswith("| - | 5% | - | 0 |")
    assert "## The check against the minimal Pyramid ACL view (issue 18)" in text
    assert "| 1,000 | 800 | 1,250 | 64% | >= 70% | **no** | 32% |" in text
    assert "| minimal Pyramid, in slices alternating with the check at 1,000 members | 1,250 |" in (
        text
    )
    target = "| check at 1,000 >= 70% of minimal Pyramid ACL view (alternating)"
    assert table_row(text, target).endswith("| 64% | **no** |")
    assert table_row(text, "| check at 1,000 >= 60% of minimal Pyramid").endswith("| 64% | yes |")


def test_the_check_target_meets_when_the_alternating_ratio_does():
    figures = data()
    figures["results"][1] = row("pyramid", "ceiling", 1000, run(1000), slices="check-1000")
    text = report.markdown(figures, [])
    assert "| 1,000 | 800 | 1,000 | 80% | >= 70% | yes | 40% |" in text
    target = "| check at 1,000 >= 70% of minimal Pyramid ACL view (alternating)"
    assert table_row(text, target).endswith("| 80% | yes |")


def test_without_alternating_slices_the_start_of_run_ceiling_is_named():
    figures = data()
    # An older results file: no Pyramid runs beside the check, no slice labels.
    figures["results"] = [
        r | {"slices": None}
        for r in figures["results"]
        if r["size"] is None or r["server"] != "pyramid"
    ]
    text = report.markdown(figures, [])
    assert "## The check against the minimal Pyramid ACL view" not in text
    assert table_row(text, "| membership check `GET /x` | 1,000 |").endswith("| 40% | - | 0 |")
    target = (
        "| check at 1,000 >= 70% of minimal Pyramid ACL view (measured at the start of the run)"
    )
    assert table_row(text, target).endswith("| 40% | **no** |")


def test_a_pyramid_run_from_other_slices_is_not_used_for_the_ratio():
    figures = data()
    figures["results"][1]["slices"] = "group-1000"
    text = report.markdown(figures, [])
    assert table_row(text, "| membership check `GET /x` | 1,000 |").endswith("| 40% | - | 0 |")


def test_the_previous_release_load_time_is_reported():
    text = report.markdown(data(), [])
    assert "Its `import_members` loaded 1,000 members (and the add pool) in 3 s." in text


def test_a_missing_previous_release_is_said_not_hidden():
    why = "commit 18f2a7c (bench/baseline.txt) is not in this clone's history"
    figures = data(previous={"commit": "18f2a7c", "missing": why})
    figures["results"] = [r for r in figures["results"] if r["server"] != "previous"]
    text = report.markdown(figures, [])
    assert f"Not measured: {why}." in text
    assert "current / previous release" not in text


def test_pairs_on_the_same_server_show_their_ratio_and_target():
    text = report.markdown(data(), [])
    assert "| 0.95x | >= 0.90 |" in table_row(text, "| check: JWT bearer / PAT (issue 15) |")
    line = table_row(text, "| check: metrics on / off (issue 16) | 1,000 |")
    assert "| 0.70x | >= 0.95 |" in line
    assert table_row(text, "| check: metrics on / off (issue 16) at 1,000 >= 0.95").endswith(
        "**no** |"
    )


def test_add_under_production_settings_reports_its_503_rate_and_kinto_ratio():
    text = report.markdown(data(), [])
    assert "retry.attempts = 10, threads = 8" in text
    assert "| 99 | 1.00 | 2.00 | 100 | 1 | 1.00% | 2.0x |" in text
    assert table_row(text, "| add (production settings, 16 connections): 0 % 503").endswith(
        "| 1.00% | **no** |"
    )


def test_writes_batch_checks_feed_and_skips_are_reported():
    text = report.markdown(data(), [])
    assert "| add | 4 | 2,400 |" in text
    assert "A page of 100 members loads 12 objects" in text
    assert table_row(text, "| an add writes <= 5 objects").endswith("| yes |")
    assert table_row(text, "| a page of 100 members loads <= 10 objects cold").endswith("**no** |")
    assert "25,000 answers/s" in text
    assert "| change feed read | 6,000 | 2.00 | 3,000 events/s |" in text
    assert "- skipped: ours scim-filter size=1000: /scim/v2 answers 404" in text


def test_writecost_absent_is_said():
    text = report.markdown(data(writecost={"missing": "bench/writecost.py is not here"}), [])
    assert "Not measured: bench/writecost.py is not here." in text


def test_baseline_txt_names_an_earlier_commit_of_this_repository():
    """The bench builds the previous release from this repository's own history:
    the commit baseline.txt names must be there, behind the current one."""
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: the bench says so and skips the previous release")
    commit = baseline.commit()
    present = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo, check=False
    )
    if present.returncode != 0:
        pytest.skip(f"{commit} is not in this clone (shallow?): the bench says so too")
    ancestor = subprocess.run(
        ["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=repo, check=False
    )
    assert ancestor.returncode == 0, f"{commit} is not an ancestor of HEAD"


def test_receiver_counts_webhook_posts():
    with loopback.Receiver() as receiver:
        address = urlsplit(receiver.url)
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        for _ in range(3):
            conn.request("POST", "/", body=b'{"type": "x"}')
            response = conn.getresponse()
            response.read()
            assert response.status == 204
        conn.close()
        assert receiver.count == 3
        receiver.reset()
        assert receiver.count == 0


def test_issuer_tokens_verify_against_its_published_keys():
    with loopback.Issuer() as issuer:
        settings = issuer.settings()
        assert settings["membership.oidc.issuer"] == issuer.url
        token = issuer.token("admin")
        keys = jwt.PyJWKClient(issuer.url + "/jwks")
        key = keys.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, key.key, algorithms=["RS256"], audience=loopback.AUDIENCE, issuer=issuer.url
        )
        assert claims["preferred_username"] == "admin"
        address = urlsplit(issuer.url)
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        conn.request("GET", "/.well-known/openid-configuration")
        discovery = json.loads(conn.getresponse().read())
        conn.close()
        assert discovery["jwks_uri"] == issuer.url + "/jwks"
