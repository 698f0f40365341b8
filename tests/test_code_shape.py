"""The code's shape: no function over ``MAX_FUNCTION_LINES`` lines, and no flow imports another.

Both walk the source with ``ast`` (nothing is imported or run). A function's length counts
from its ``def`` line to its last line, docstring and comments included, decorators not.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ewp", "features", "models", "flows", "reports", "web", "benchmarks", "tests")
MAX_FUNCTION_LINES = 120
# The scheduler's flows run the train and score flows on a timetable: composing flows is
# its whole job. The monitor's backfill publishes past weeks' lists through the score flow's
# own step (``ewp.flows.score.publish_week``), so a backfilled list is exactly the list
# ``ewp score --as-of`` would have published: composing, not copying.
COMPOSES_FLOWS = frozenset({"ewp.flows.schedule", "ewp.flows.monitor"})


def _modules() -> dict[str, ast.Module]:
    """Every module of the packages, parsed, by dotted name."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            # The top-level folders install under the ewp namespace (pyproject's package-dir).
            name = ".".join(parts if package in {"ewp", "tests"} else ("ewp", *parts))
            modules[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return modules


def long_functions(modules: dict[str, ast.Module], *, limit: int) -> list[str]:
    """``module.function (n lines)`` for every function or method over ``limit`` lines."""
    found = []
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{name}.{node.name} ({lines} lines)")
    return found


def _defines_flow(tree: ast.Module) -> bool:
    """Whether a module declares a flow (``@ewp_flow(...)`` or ``@flow``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                called = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(called, ast.Name) and called.id in {"ewp_flow", "flow"}:
                    return True
    return False


def _imported(tree: ast.Module) -> set[str]:
    """The modules a module imports from (at any depth: imports inside functions count)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def flow_imports(modules: dict[str, ast.Module]) -> list[str]:
    """``a imports b`` for every module of ``flows`` declaring a flow that imports another."""
    flows = {
        name
        for name, tree in modules.items()
        if name.startswith("ewp.flows.") and _defines_flow(tree)
    }
    return [
        f"{name} imports {other}"
        for name in sorted(flows - COMPOSES_FLOWS)
        for other in sorted(_imported(modules[name]) & flows)
        if other != name
    ]


def test_no_function_is_over_the_limit():
    assert long_functions(_modules(), limit=MAX_FUNCTION_LINES) == []


def test_no_flow_imports_another_flow():
    modules = _modules()
    assert {"ewp.flows.train", "ewp.flows.score"} <= {
        n for n, t in modules.items() if _defines_flow(t)
    }
    assert flow_imports(modules) == []


def test_the_checks_name_what_they_catch():
    source = ast.parse(
        "from prefect import flow\n"
        "from ewp.flows.other import thing\n"
        "@flow\n"
        "def long():\n" + "    x = 1\n" * 4
    )
    other = ast.parse("@ewp_flow(name='o')\ndef thing():\n    pass\n")
    modules = {"ewp.flows.one": source, "ewp.flows.other": other}
    assert long_functions(modules, limit=4) == ["ewp.flows.one.long (5 lines)"]
    assert long_functions(modules, limit=5) == []
    assert flow_imports(modules) == ["ewp.flows.one imports ewp.flows.other"]
