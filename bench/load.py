"""Drive one measured run with wrk and read back what it saw."""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import HOST, BenchError

LUA = Path(__file__).with_name("bench.lua")

WRK_MISSING = """\
bench: `wrk` (the HTTP load generator) is not installed or not on PATH.

Install it, then run the bench again:
    apt-get install -y wrk        # Debian / Ubuntu
    brew install wrk              # macOS
Nothing was started.
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return " ".join((out.stdout or out.stderr).split()[:2])  # "wrk debian/4.1.0-3+b2"


@dataclass
class Request:
    """What every request of a run looks like (see bench.lua for ``ids``)."""

    method: str
    path: str
    auth: str | None = None
    body: str | None = None
    ctype: str | None = None
    ids: str | None = None  # "prefix:start:count"
    idfile: str | None = None  # or one id per line

    def lua_args(self) -> list[str]:
        args = [f"method={self.method}", f"path={self.path}"]
        for key in ("auth", "body", "ctype", "ids", "idfile"):
            value = getattr(self, key)
            if value is not None:
                args.append(f"{key}={value}")
        return args


@dataclass
class Load:
    """How hard and how long: the same for every server in a run."""

    connections: int = 16
    duration: float = 20.0
    timeout: float = 30.0  # a request slower than this counts as a timeout
    threads: int = 1  # one wrk thread: it needs a fraction of a core; the server gets the rest


@dataclass
class RunResult:
    rps: float
    requests: int
    seconds: float
    latency_ms: dict[str, float]
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    loadavg: float  # the machine's 1-minute load average just before the run
    sent: int = 0  # generated ids used (answered or still in flight when wrk stopped)
    ok: int = field(init=False)
    non_2xx: int = field(init=False)

    def __post_init__(self):
        self.ok = sum(n for s, n in self.statuses.items() if s.startswith("2"))
        self.non_2xx = sum(n for s, n in self.statuses.items() if not s.startswith("2"))

    @property
    def ok_rps(self) -> float:
        """2xx answers per second: what a run achieved, errors left out."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


def run(port: int, request: Request, load: Load, duration: float | None = None) -> RunResult:
    duration = max(1, round(load.duration if duration is None else duration))
    argv = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{duration}s",
        f"--timeout={load.timeout:g}s",
        "-s",
        str(LUA),
        f"http://{HOST}:{port}{request.path.split('{')[0]}",
        "--",
        *request.lua_args(),
    ]
    loadavg = os.getloadavg()[0]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration + load.timeout + 60, check=False
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@bench ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    data = json.loads(line.removeprefix("@@bench "))
    seconds = data["duration_us"] / 1e6
    return RunResult(
        rps=data["requests"] / seconds if seconds else 0.0,
        requests=data["requests"],
        seconds=seconds,
        latency_ms={k: v / 1000 for k, v in data["latency_us"].items()},
        statuses=data["statuses"],
        socket_errors={k: v for k, v in data["errors"].items() if k != "status"},
        loadavg=loadavg,
        sent=data["sent"],
    )


def combine(parts: list[RunResult]) -> RunResult:
    """One result from consecutive slices of the same case: counts and seconds
    added up, latency percentiles the median of the slices' (an approximation)."""
    import statistics

    timed = [part for part in parts if part.requests] or parts
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for part in parts:
        for key, n in part.statuses.items():
            statuses[key] = statuses.get(key, 0) + n
        for key, n in part.socket_errors.items():
            errors[key] = errors.get(key, 0) + n
    requests = sum(part.requests for part in parts)
    seconds = sum(part.seconds for part in parts)
    return RunResult(
        rps=requests / seconds if seconds else 0.0,
        requests=requests,
        seconds=seconds,
        latency_ms={
            key: statistics.median(part.latency_ms[key] for part in timed)
            for key in timed[0].latency_ms
        },
        statuses=statuses,
        socket_errors=errors,
        loadavg=parts[0].loadavg,
        sent=sum(part.sent for part in parts),
    )
