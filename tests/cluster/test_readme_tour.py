"""README.md's tour, run as written against a real server: the README is executable and true.

Which blocks: every ```sh block between ``<!-- tour:begin -->`` and ``<!-- tour:end -->`` in
README.md. In document order they are one story, run on one fresh server started as
``MEMBERSHIP_ADMIN_PASSWORD=change-me-now make serve`` would start it.

Inside a block, a line starting with ``http`` (with any ``\\`` continuation lines) is a step;
a line starting with ``#`` is prose; anything else is an error. Each step states the status it
answers in a comment: its trailing comment (``http ... # 404: not direct``) or else the comment
line right before it, starting with the status (``# 201``). A step without one is an error.

Captures, for later steps: ``# 201 -> TOKEN=.token`` sets ``$TOKEN`` from the JSON answer (a
dotted path; a number indexes a list: ``.items.0.id``); ``NAME=header:ETag`` from a header.
Several captures are separated by spaces.

Each step runs in ``bash -u`` (quoting, ``$NAME`` and ``\\`` behave as in a reader's shell; an
unset ``$NAME`` fails), with ``http`` replaced by the real httpie with ``--ignore-stdin
--print=hb --pretty=none`` added and ``:6543`` by the test's port, under a timeout.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "change-me-now"  # README, Quick start
STEP_TIMEOUT = 30  # seconds, per command

BLOCK = re.compile(r"<!-- tour:begin -->\n```sh\n(.*?)^```\n<!-- tour:end -->", re.S | re.M)
# "201", "404: not direct", "201 -> TOKEN=.token", "200 -> ETAG=header:ETag"
EXPECT = re.compile(r"(?P<status>[1-5]\d\d)\b(?:[^>]*?->(?P<captures>.*))?")
TRAILING = re.compile(r"\s#\s*(?P<comment>[1-5]\d\d\b.*)$")
CAPTURE = re.compile(r"([A-Za-z_]\w*)=(header:[\w-]+|\.[\w.-]*)")


@dataclass
class Step:
    line: int  # in README.md
    command: str
    status: int
    captures: list[tuple[str, str]] = field(default_factory=list)


def parse_expectation(comment: str) -> tuple[int, list[tuple[str, str]]] | None:
    match = EXPECT.match(comment.strip())
    if not match:
        return None
    return int(match["status"]), CAPTURE.findall(match["captures"] or "")


def tour_steps(text: str) -> list[Step]:
    """The steps of the marked blocks, in document order."""
    begins, ends = text.count("<!-- tour:begin -->"), text.count("<!-- tour:end -->")
    blocks = list(BLOCK.finditer(text))
    assert begins == ends == len(blocks), (
        f"README.md: {begins} tour:begin, {ends} tour:end markers, {len(blocks)} marked "
        "```sh blocks: each marked block is <!-- tour:begin -->, ```sh ... ```, <!-- tour:end -->"
    )
    steps = []
    for block in blocks:
        first = text.count("\n", 0, block.start(1)) + 1
        lines = block[1].splitlines()
        expected = None  # from the comment line right before a command
        i = 0
        while i < len(lines):
            lineno, line = first + i, lines[i].strip()
            if not line or line.startswith("#"):
                expected = parse_expectation(line[1:]) if line else None
                i += 1
                continue
            assert line.startswith("http "), f"README.md:{lineno}: not an http command: {line}"
            parts = [lines[i].rstrip()]
            while parts[-1].endswith("\\"):
                i += 1
                assert i < len(lines), f"README.md:{lineno}: a `\\` continues past the block"
                parts.append(lines[i].rstrip())
            i += 1
            trailing = TRAILING.search(parts[-1])
            expectation = parse_expectation(trailing["comment"]) if trailing else expected
            assert expectation, f"README.md:{lineno}: no expected status: {parts[0]}"
            steps.append(Step(lineno, "\n".join(parts), *expectation))
            expected = None
    return steps


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """``make serve``: initialize_membership_db, then ``PORT=… pserve development.ini``
    (a copy whose database is a temp Data.fs). Yields the port."""
    text = (REPO / "development.ini").read_text()
    ours = text.replace("file://%(here)s/var/Data.fs", f"file://{tmp_path}/Data.fs")
    assert ours != text, "development.ini: its zodbconn.uri is not the one this test rewrites"
    ini = tmp_path / "development.ini"
    ini.write_text(ours)
    # nothing from the caller's environment may point the server elsewhere
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERSHIP_")}
    env["MEMBERSHIP_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    subprocess.run(
        [str(BIN / "initialize_membership_db"), str(ini)],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    log = (tmp_path / "pserve.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "pserve"), str(ini)],
        env={**env, "PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "pserve.log").read_text()
            assert time.monotonic() < deadline, "pserve did not answer in 30 s"
            try:
                urllib.request.urlopen(f"http://localhost:{port}/", timeout=1).read()
                break
            except urllib.error.HTTPError:
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        yield port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(10)
        log.close()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: object  # parsed JSON, or the text


def parse_answer(out: str) -> Answer:
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.splitlines()
    match = re.match(r"HTTP/[\d.]+ (\d{3})", status_line)
    assert match, f"no status line in httpie's output:\n{out}"
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        parsed = json.loads(body) if body.strip() else None
    except ValueError:
        parsed = body
    return Answer(int(match[1]), headers, parsed)


def capture(answer: Answer, spec: str) -> str:
    if spec.startswith("header:"):
        value = answer.headers.get(spec.removeprefix("header:").lower())
        assert value is not None, f"no {spec} in the answer"
        return value
    value = answer.body
    for key in filter(None, spec.split(".")):
        if isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            raise AssertionError(f"no {spec} in the answer")
    return value if isinstance(value, str) else json.dumps(value)


def run(step: Step, port: int, variables: dict[str, str], home: Path) -> tuple[Answer, str]:
    httpie = f"{shlex.quote(str(BIN / 'http'))} --ignore-stdin --print=hb --pretty=none"
    script = httpie + step.command.removeprefix("http").replace(":6543", f":{port}")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HTTPIE_CONFIG_DIR": str(home / "httpie"),  # no user defaults, no sessions
        "LANG": "C.UTF-8",
        "NO_PROXY": "*",
        **variables,
    }
    try:
        done = subprocess.run(
            ["bash", "-u", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"README.md:{step.line}: no answer in {STEP_TIMEOUT} s\n$ {step.command}")
    if done.returncode != 0:
        pytest.fail(
            f"README.md:{step.line}: httpie failed ({done.returncode})\n$ {step.command}\n"
            f"{done.stdout}{done.stderr}"
        )
    return parse_answer(done.stdout), done.stdout


def test_the_tour_in_readme_works_top_to_bottom(server, tmp_path):
    steps = tour_steps(README.read_text())
    assert len(steps) >= 40, f"only {len(steps)} steps marked in README.md"
    variables: dict[str, str] = {}
    for number, step in enumerate(steps, 1):
        answer, out = run(step, server, variables, tmp_path)
        where = f"step {number}, README.md:{step.line}"
        if answer.status != step.status:
            pytest.fail(
                f"{where}: expected {step.status}, got {answer.status}\n"
                f"$ {step.command}\n{out[:3000]}"
            )
        for name, spec in step.captures:
            try:
                variables[name] = capture(answer, spec)
            except AssertionError as exc:
                pytest.fail(f"{where}: {name}={spec}: {exc}\n$ {step.command}\n{out[:3000]}")


def test_the_tour_parser():
    """The syntax above, on a made-up block (no server)."""
    text = (
        "<!-- tour:begin -->\n```sh\n# prose\nhttp :6543/   # 200\n\n"
        "# 201 -> TOKEN=.token ID=.items.0.id\n"
        "http POST :6543/x \\\n  'a:=[1]'\n"
        "http :6543/y  # 404: not here -> ETAG=header:ETag\n```\n<!-- tour:end -->\n"
    )
    steps = tour_steps(text)
    assert [(s.line, s.status, s.captures) for s in steps] == [
        (4, 200, []),
        (7, 201, [("TOKEN", ".token"), ("ID", ".items.0.id")]),
        (9, 404, [("ETAG", "header:ETag")]),
    ]
    assert steps[1].command == "http POST :6543/x \\\n  'a:=[1]'"
    with pytest.raises(AssertionError, match="no expected status"):
        tour_steps(text.replace("   # 200", ""))
    with pytest.raises(AssertionError, match="not an http command"):
        tour_steps(text.replace("http :6543/y", "echo [] | http :6543/y"))
    answer = parse_answer('HTTP/1.1 201 Created\nETag: "x"\n\n{"items": [{"id": "g1"}]}')
    assert (answer.status, capture(answer, "header:etag")) == (201, '"x"')
    assert capture(answer, ".items.0.id") == "g1"
