"""The admin UI and the web layer import each other only as ARCHITECTURE.md allows."""

import ast
from pathlib import Path

import membership

PACKAGE = Path(membership.__file__).parent
#: What ``ui/`` may take from ``web/``: what both front ends share, never an API view.
UI_MAY_IMPORT = {
    "membership.web.request",
    "membership.web.schemas",
    "membership.web.errors",
    "membership.web.throttle",
    "membership.web.oidc",
}


def imports(layer: str) -> dict[str, set[str]]:
    """Every module a layer's files import (relative imports resolved), by file."""
    found: dict[str, set[str]] = {}
    for path in (PACKAGE / layer).rglob("*.py"):
        module = "membership." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.level else node.module
                if node.level and not node.module:
                    target = base
                names.add(target)
                names.update(f"{target}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def test_the_ui_imports_from_web_only_what_both_front_ends_share():
    wrong = {
        file: sorted(
            name
            for name in names
            if name.startswith("membership.web.")
            and not any(name == m or name.startswith(m + ".") for m in UI_MAY_IMPORT)
        )
        for file, names in imports("ui").items()
    }
    assert {file: names for file, names in wrong.items() if names} == {}


def test_the_web_layer_imports_nothing_from_the_ui():
    wrong = {
        file: sorted(name for name in names if name.startswith("membership.ui"))
        for file, names in imports("web").items()
    }
    assert {file: names for file, names in wrong.items() if names} == {}
