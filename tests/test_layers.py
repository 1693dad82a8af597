"""Which package may import which: data flows one way. The admin writers never reach into the
request path's pipeline or the HTTP layer; the request path reads the control plane through
gateway.control_plane, not through the writers (the rule dry run, an admin operation built on
the planner, is the one pipeline module that uses them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(package: str) -> dict[str, set[str]]:
    """{module file: the gateway modules it imports}."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.startswith("gateway")}
    return found


@pytest.mark.parametrize(
    ("package", "forbidden", "allowed_in"),
    [
        ("gateway.admin", ("gateway.pipeline", "gateway.api", "gateway.console"), ()),
        ("gateway.control_plane", ("gateway.admin", "gateway.pipeline", "gateway.api"), ()),
        ("gateway.pipeline", ("gateway.admin", "gateway.api", "gateway.console"), ("rule_dry_run.py",)),
    ],
)
def test_imports_flow_one_way(package: str, forbidden: tuple[str, ...], allowed_in: tuple[str, ...]) -> None:
    wrong = {
        module: sorted(n for n in names if n.startswith(forbidden))
        for module, names in imports(package).items()
        if not module.endswith(allowed_in or ("\0",))
    }
    assert not {m: n for m, n in wrong.items() if n}
