"""The previous release, built from this repository's own history, to run beside the current code.

``bench/baseline.txt`` names the commit of the last release (first word of the
first line that is not a comment). ``ensure()`` checks it out with
``git worktree add --detach`` into ``var/bench/baseline`` and installs it into
its own virtualenv there (``pip install -e``), once per commit; the bench then
starts it with that virtualenv's ``pserve`` and loads its data with that
release's own ``initialize_membership_db`` and ``import_members``, exactly as
``bench/ours.py`` does for the current code.

A clone without that commit (a shallow clone, or a fork cut later) cannot
build it: ``ensure()`` raises ``BaselineMissing`` saying so, and the run goes
on without the comparison.
"""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE_FILE = REPO / "bench" / "baseline.txt"
CHECKOUT = REPO / "var" / "bench" / "baseline"


class BaselineMissing(RuntimeError):
    """The previous release cannot be built here; the message says why."""


def commit() -> str:
    """The commit recorded in ``bench/baseline.txt``."""
    for line in BASELINE_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line.split()[0]
    raise BaselineMissing(f"{BASELINE_FILE} names no commit")


def _git(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=timeout
    )


def ensure(log=print) -> tuple[str, Path]:
    """Check out and install the previous release; answer ``(short commit, its bin dir)``."""
    wanted = commit()
    found = _git("rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}")
    if found.returncode != 0:
        raise BaselineMissing(
            f"commit {wanted} (bench/baseline.txt) is not in this clone's history "
            "(a shallow clone?): `git fetch --unshallow` or fetch that commit to compare "
            "against the previous release"
        )
    full = found.stdout.strip()
    short = full[:7]
    venv = CHECKOUT / ".venv"
    stamp = venv / f".bench-installed-{full}"
    if stamp.exists():
        return short, venv / "bin"
    head = _git("rev-parse", "HEAD", cwd=CHECKOUT) if (CHECKOUT / ".git").exists() else None
    if head is None or head.returncode != 0:
        log(f"baseline: git worktree add {CHECKOUT.relative_to(REPO)} {short}")
        CHECKOUT.parent.mkdir(parents=True, exist_ok=True)
        _git("worktree", "prune")
        out = _git("worktree", "add", "--detach", "--force", str(CHECKOUT), full)
        if out.returncode != 0:
            raise BaselineMissing(f"git worktree add failed: {out.stderr.strip()}")
    elif head.stdout.strip() != full:
        out = _git("checkout", "--detach", "--force", full, cwd=CHECKOUT)
        if out.returncode != 0:
            raise BaselineMissing(f"git checkout {short} failed: {out.stderr.strip()}")
    log(f"baseline: installing {short} into {venv.relative_to(REPO)} (once, about a minute)")
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    out = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-e", str(CHECKOUT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise BaselineMissing(f"pip install -e {CHECKOUT} failed:\n{out.stderr[-2000:]}")
    for old in venv.glob(".bench-installed-*"):
        old.unlink()
    stamp.touch()
    return short, venv / "bin"
