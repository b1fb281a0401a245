"""The intended import arrows between the packages (README "Layout"), kept by a test.

    uav (kernel)  <-  missions  <-  simulators
          ^                            |
          +-------  processing         (simulators may read missions: a rehearsal flies a Plan)

The kernel (``uav/`` without ``uav/cli/``) imports none of the others; ``missions`` and
``processing`` import only the kernel; ``simulators`` imports the kernel and ``missions``;
only the command line (``uav/cli/``), ``tests/`` and ``benchmarks/`` tie everything together.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"uav", "missions", "processing", "simulators"}
ALLOWED = {
    "uav": set(),
    "missions": {"uav"},
    "processing": {"uav"},
    "simulators": {"uav", "missions"},
}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out & PACKAGES


def crossings() -> list[str]:
    found = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel.parts[:2] == ("uav", "cli"):
                continue  # the command line joins the packages by design
            for target in sorted(_imports(path) - allowed - {package}):
                found.append(f"{rel.as_posix()} imports {target}")
    return found


def test_no_import_crosses_the_intended_arrows():
    assert crossings() == []


def test_the_command_line_loads_packages_through_their_front_doors_or_modules():
    # Every package has a face: __all__ in its __init__ naming what a newcomer starts from.
    import importlib

    for package in ("missions", "processing", "simulators", "missions.formats"):
        mod = importlib.import_module(package)
        assert mod.__doc__ and getattr(mod, "__all__", None), package
        for name in mod.__all__:
            assert getattr(mod, name) is not None, f"{package}.{name}"
