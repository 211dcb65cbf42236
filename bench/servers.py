"""Start and stop the servers a bench run measures.

Every server is ``pserve <ini>`` in its own process group, listening on a free
loopback port, with the same ``[server:main]`` section (ours, from
``development.ini``). ``Servers`` is a context manager that stops every
process group it started, whatever happens in between.
"""

import configparser
import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

HOST = "127.0.0.1"

# What development.ini says if it cannot be read (kept in step with it).
DEFAULT_SERVER_SETTINGS = {"use": "egg:membership#waitress", "threads": "4"}
# membership's runner is waitress plus a PORT override; other apps get plain waitress.
PLAIN_WAITRESS = "egg:waitress#main"

# WARNING and up, for every server alike, minus waitress's "Task queue depth"
# warning: with 16 connections on 4 threads the queue is never empty, so it
# fires on nearly every request and the bench would measure logging.
QUIET_LOGGING = """
[loggers]
keys = root, waitress_queue

[logger_waitress_queue]
level = ERROR
handlers =
qualname = waitress.queue

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)s [%(name)s] %(message)s
"""


class BenchError(RuntimeError):
    """A step of the bench failed; the message says which and why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_settings(ini: Path) -> dict[str, str]:
    """The ``[server:main]`` settings of ``ini``, minus where it listens.

    Every server of a run gets these (threads and all), so the ceiling, Kinto
    and membership differ only in the app; apps other than ours get
    ``use = egg:waitress#main`` (see ``plain``).
    """
    parser = configparser.RawConfigParser()
    if not parser.read(ini) or not parser.has_section("server:main"):
        return dict(DEFAULT_SERVER_SETTINGS)
    settings = dict(parser.items("server:main"))
    for key in ("listen", "host", "port"):
        settings.pop(key, None)
    return settings


def plain(settings: dict[str, str]) -> dict[str, str]:
    """The same settings for an app that is not membership: plain waitress."""
    return {**settings, "use": PLAIN_WAITRESS}


def write_ini(path: Path, app_settings: dict[str, str], server: dict[str, str], port: int) -> Path:
    """Write a complete pserve ini: the app, the shared server block, quiet logs."""
    lines = ["[app:main]"]
    lines += [f"{key} = {value}" for key, value in app_settings.items()]
    lines += ["", "[server:main]"]
    lines += [f"{key} = {value}" for key, value in server.items()]
    lines += [f"listen = {HOST}:{port}", ""]
    path.write_text("\n".join(lines) + QUIET_LOGGING)
    return path


class Server:
    """One ``pserve`` process group and where it answers."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.port = port
        self.log = log
        # PORT would move membership's listener (membership.server); never inherit it.
        self.env = {k: v for k, v in os.environ.items() if k != "PORT"} | (env or {})
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready_path: str = "/", timeout: float = 120.0) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group, stopped as one
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", ready_path)
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Servers:
    """Context manager owning every server of a run; stops them all on exit."""

    def __init__(self):
        self._servers: list[Server] = []

    def start(self, server: Server, **kwargs) -> Server:
        self._servers.append(server)
        server.start(**kwargs)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self._servers:
            self._servers.remove(server)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        while self._servers:
            self._servers.pop().stop()
        return False
