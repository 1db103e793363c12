"""The shape of the house, read from the source: no import circle between modules; inference, evaluation and
export import no training module; the Python API does not import the dashboards callback; the root of
pipeline/ holds only small shared helpers; models/ imports neither pipeline nor Lightning."""
from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "models")
ROOT_HELPERS = {"__init__.py", "atomic_io.py", "console.py", "errors.py", "quiet.py"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> Dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def _imports(path: Path, name: str, known: Set[str]) -> Set[str]:
    """The project modules `path` imports, at any depth of its code (function-level imports count too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `from a.b import name`: the module a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@functools.lru_cache(maxsize=1)
def _graph() -> Dict[str, Set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import circle as a list of modules (first == last), or [] when there is none."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's __init__ is imported before its submodules: a submodule importing its own
            # package's names is not a circle of modules.
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def test_the_graph_is_read_from_the_source():
    graph = _graph()
    assert "pipeline.core.module" in graph["pipeline.core.checkpoints"]
    assert "pipeline.inference.batch" in graph["pipeline.inference.api"]
    assert "pipeline.benchmarks.inference" in graph["pipeline.benchmarks.runner"]


def test_no_import_circle_between_modules():
    cycle = _cycle(_graph())
    assert not cycle, "import circle: " + " -> ".join(cycle)


def test_the_circle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("stage", ["pipeline.core", "pipeline.inference", "pipeline.evaluation", "pipeline.export",
                                   "pipeline.data", "models"])
def test_shared_stages_import_no_training_module_in_the_source(stage):
    graph = _graph()
    leaning = sorted(f"{name} -> {target}" for name, targets in graph.items()
                     if name == stage or name.startswith(stage + ".")
                     for target in targets if target.startswith("pipeline.training"))
    assert not leaning


def test_core_imports_only_models_data_and_the_shared_helpers():
    allowed = ("models", "pipeline.core", "pipeline.data", *(f"pipeline.{Path(h).stem}" for h in ROOT_HELPERS))
    graph = _graph()
    wrong = sorted(f"{name} -> {target}" for name, targets in graph.items() if name.startswith("pipeline.core")
                   for target in targets
                   if target != "pipeline" and not any(target == a or target.startswith(a + ".") for a in allowed))
    assert not wrong


def test_models_import_neither_pipeline_nor_lightning():
    for path in sorted((REPO / "models").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("pipeline", "pytorch_lightning", "lightning")), f"{path}: {name}"


def test_the_root_of_pipeline_holds_only_the_small_shared_helpers():
    assert {p.name for p in (REPO / "pipeline").glob("*.py")} <= ROOT_HELPERS


def test_no_module_is_both_a_function_and_a_package():
    """An attribute a package exports lazily never shares its name with one of its submodules."""
    import pipeline
    import pipeline.inference

    for package in (pipeline, pipeline.inference):
        folder = Path(package.__file__).parent
        submodules = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if p.is_dir()}
        assert not set(package.__all__) & submodules, package.__name__


def test_importing_inference_evaluation_or_export_loads_no_training_module():
    """One fresh interpreter runs every statement: what any of them loads is in its sys.modules, so no
    `pipeline.training` module there means none of them loads one (the Dashboards callback included)."""
    statements = ["import pipeline.inference", "from pipeline import Recognizer",
                  "from pipeline.inference import predict", "import pipeline.evaluation.evaluate",
                  "import pipeline.export.exporter", "import pipeline.core.checkpoints"]
    code = "; ".join([*statements, "import sys",
                      "print(' '.join(sorted(m for m in sys.modules if m.startswith('pipeline'))))"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    loaded = done.stdout.split()
    assert {"pipeline.inference.api", "pipeline.inference.batch", "pipeline.evaluation.evaluate",
            "pipeline.export.exporter", "pipeline.core.module"} <= set(loaded)
    assert not [m for m in loaded if m.startswith("pipeline.training")]
