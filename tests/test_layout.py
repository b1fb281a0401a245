"""The intended import arrows between the packages (README "Layout"), kept by a test.

    uav (kernel)  <-  missions  <-  simulators
          ^                            |
          +-------  processing         (simulators may read missions: a rehearsal flies a Plan)

The kernel (``uav/`` without ``uav/cli/``) imports none of the others; ``missions`` and
``processing`` import only the kernel; ``simulators`` imports the kernel and ``missions``;
only the command line (``uav/cli/``), ``tests/`` and ``benchmarks/`` tie everything together.
Also kept here: no module in the packages is over 600 lines, and the exports need no part of
the review web app.
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


MAX_MODULE_LINES = 600  # developers' guide: a module a newcomer can read in one sitting


def long_modules(root: Path = ROOT) -> list[str]:
    found = []
    for package in (*sorted(PACKAGES), "benchmarks"):
        # the review page's scripts too: each a concern a newcomer can read in one sitting
        for path in sorted([*(root / package).rglob("*.py"), *(root / package).rglob("*.js")]):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_MODULE_LINES:
                found.append(f"{path.relative_to(root).as_posix()}: {lines} lines")
    return found


def test_no_module_is_over_600_lines():
    assert long_modules() == []


def test_the_line_count_sees_a_long_module(tmp_path):
    # The check above must be able to fail: a 601-line module in a package is reported.
    for n, name in ((MAX_MODULE_LINES, "fits"), (MAX_MODULE_LINES + 1, "long")):
        (tmp_path / "missions" / "sub").mkdir(parents=True, exist_ok=True)
        (tmp_path / "missions" / "sub" / f"{name}.py").write_text("x = 1\n" * n, encoding="utf-8")
    assert long_modules(tmp_path) == [f"missions/sub/long.py: {MAX_MODULE_LINES + 1} lines"]


def _relative_targets(path: Path) -> set[str]:
    """Modules a file imports, relative imports resolved against its package (dotted names)."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}
    return out


def test_exports_do_not_import_the_review_web_app():
    # An export is a file written from the flight GeoPackage; it must work where the review
    # page (an HTTP server and its static files) is not wanted.
    for path in sorted((ROOT / "processing" / "export").rglob("*.py")):
        bad = sorted(m for m in _relative_targets(path) if m.startswith("processing.review"))
        assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def _module_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports (files only; a package is its __init__)."""
    files = {}
    for package in (*sorted(PACKAGES), "benchmarks"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            files[".".join(parts)] = path
    return {name: {t for t in _relative_targets(path) if t in files and t != name}
            for name, path in files.items()}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other round a circle (Tarjan's components),
    leaving out a package's front door re-exporting its own modules (``__init__`` names)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []

    def edges(v):
        # a module importing its own package's front door is the front door's business
        return {t for t in graph.get(v, ()) if not v.startswith(t + ".")}

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    # data flows one way, and so do imports: the channel does not need the server that makes
    # it, signing does not need the handshake that uses it
    assert import_circles(_module_graph()) == []


def test_the_circle_check_sees_a_circle():
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert import_circles(graph) == [["a.x", "a.y", "a.z"]]
