"""The package layout: one role per room, imports pointing down, nothing generic installed.

Rooms and their order, top first (a room may import the rooms below its line, never one above
it nor a sibling on its own line):

    ewp.cli                                the command: a thin face
    ewp.web | ewp.benchmarks               the review workspace; benchmarks
    ewp.flows                              Prefect flows that wire the rooms below
    ewp.reports | ewp.stores | ewp.data    reports; stores and services; data in
    ewp.models                             estimators, rules, evaluation, selection
    ewp.features                           officer histories, labels, explanations
    ewp.core                               contract, config, errors, primitives

Every import counts, including those inside functions and under ``TYPE_CHECKING``. The
repository's top-level folders (``models/`` ...) install as ``ewp.models`` ... through
setuptools' ``package-dir``, so a wheel of ewp holds nothing but ``ewp/``.
"""

from __future__ import annotations

import ast
import functools
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ewp.cli",),
    ("ewp.web", "ewp.benchmarks"),
    ("ewp.flows",),
    ("ewp.reports", "ewp.stores", "ewp.data"),
    ("ewp.models",),
    ("ewp.features",),
    ("ewp.core",),
)
RANK = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}


def _package_dirs() -> dict[str, Path]:
    """Installed package name -> folder, from pyproject's ``package-dir``."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: ROOT / folder for name, folder in setuptools["package-dir"].items()}


def _modules() -> dict[str, Path]:
    """Every module of the installed package, by its installed name."""
    modules: dict[str, Path] = {}
    for package, folder in _package_dirs().items():
        nested = [p for p in _package_dirs().values() if p != folder and p.is_relative_to(folder)]
        for path in folder.rglob("*.py"):
            if "__pycache__" in path.parts or any(path.is_relative_to(n) for n in nested):
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()


@functools.cache
def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported name) for every absolute import in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return out


def _resolve(name: str) -> str | None:
    """The module an imported name is (or is an attribute of): the longest known prefix."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _room(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = {_resolve(name) for _, name in _imports(path)} - {None, module}
        # Importing a package's own submodule from its __init__ (or the reverse, a package
        # re-exported by its parent) is not an edge between rooms.
        graph[module] = {t for t in targets if t is not None and not module.startswith(t + ".")}
    return graph


def test_every_module_has_a_room_with_a_layer() -> None:
    """A new module goes into one of the rooms (``ewp/`` itself holds only __init__.py)."""
    homeless = sorted(m for m in MODULES if m != "ewp" and _room(m) not in RANK)
    assert homeless == []


def test_no_module_imports_a_generic_top_level_name() -> None:
    """``import models`` would only work from a checkout: every import says ``ewp.models``."""
    generic = {name.split(".")[1] for name in _package_dirs() if name != "ewp"}
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in [*MODULES.values(), *(ROOT / "tests").rglob("*.py")]
        for line, name in _imports(path)
        if name.split(".")[0] in generic
    ]
    assert found == []


def test_imports_point_down_the_layers() -> None:
    """No room imports a room above it or a sibling on its own layer."""
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            source_room, target_room = _room(module), _room(target)
            if source_room == target_room or source_room not in RANK:
                continue
            if RANK[source_room] >= RANK.get(target_room, len(LAYERS)):
                upward.append(f"{module} -> {target}")
    assert sorted(upward) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_cycle_finder_finds_a_circle() -> None:
    """The check below can fail: a -> b -> c -> a is found, d hanging off it is not in it."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert _cycles(_graph()) == []


def test_no_room_holds_more_than_a_third_of_the_code() -> None:
    lines: Counter[str] = Counter()
    for module, path in MODULES.items():
        lines[_room(module)] += len(path.read_text().splitlines())
    total = sum(lines.values())
    assert {room: n for room, n in lines.items() if n > total / 3} == {}


def test_pyproject_lists_every_package_under_ewp() -> None:
    """The explicit package list covers every folder with an __init__.py, all under ewp."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert set(setuptools["packages"]) == packages
    assert {name.split(".")[0] for name in setuptools["packages"]} == {"ewp"}


@pytest.mark.slow
def test_wheel_installs_only_the_ewp_package(tmp_path: Path) -> None:
    """A wheel of ewp holds ``ewp/`` (every module, the report and workspace templates) and
    its metadata, and no top-level ``models``, ``features`` ... that another project's
    modules of those names would collide with. Built from a copy of the sources, so that no
    stale ``build/`` folder of the checkout can add or hide a file."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in {path.relative_to(ROOT).parts[0] for path in _package_dirs().values()}:
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("ewp-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_text = archive.read(entry_points).decode()
    assert {name.split("/")[0] for name in names} == {"ewp", entry_points.split("/")[0]}
    installed = {
        name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for name in names
        if name.endswith(".py")
    }
    assert installed == set(MODULES)
    assert "ewp/reports/templates/weekly.html.j2" in names
    assert "ewp/web/templates/base.html.j2" in names
    assert "ewp = ewp.cli:app" in entry_text
