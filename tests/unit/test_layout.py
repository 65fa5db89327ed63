"""The layout's rules, checked on the source (docs/architecture.md draws them).

- no import cycle among the project's modules, counting imports inside functions;
- each layer imports only layers below it (``LAYERS``; the builder nothing of bulk, screening or ops);
- no call of another module's private name (``x._plan``, ``tx._table``);
- outside ``paybatch/cli/``, at most ``MAX_DEFERRED_IMPORTS`` imports of the project's own modules inside
  functions, each with a comment saying why (a fast CLI start; code shipped to Spark executors; a part
  absent from a Lambda bundle);
- no module over ``MAX_LINES`` lines.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("paybatch", "lambda_manifest_builder")
MAX_LINES = 350
MAX_DEFERRED_IMPORTS = 20
# Lower layers first; a module may import its own layer and those before it. Modules not named sit in the
# layer of their package's entry.
LAYERS: list[set[str]] = [
    {"paybatch.errors", "paybatch.constants", "paybatch.paths", "paybatch.retry", "paybatch.faults", "paybatch.config",
     "paybatch.contracts", "paybatch.aws", "paybatch.storage", "paybatch.dynamo", "paybatch.counters", "paybatch.resources",
     "paybatch.datasets",
     "paybatch.charts", "paybatch.spark", "paybatch.spark_worker", "paybatch.sample_files",
     "paybatch.retention", "paybatch.pricing", "paybatch.bulk.definition"},
    {"paybatch.tracking_store", "paybatch.transitions", "paybatch.iceberg", "paybatch.generate", "paybatch.screening",
     "paybatch.jobs", "paybatch.pipeline_status"},
    {"paybatch.convert", "paybatch.local", "paybatch.launchers", "paybatch.lake_tables"},
    {"paybatch.builder"},
    {"paybatch.bulk"},
    {"paybatch.ops"},
    {"paybatch.cli", "lambda_manifest_builder", "paybatch.__main__"},
]


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    deferred: bool  # inside a function
    commented: bool


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    lines = path.read_text().splitlines()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    # (node, inside a function, under `if TYPE_CHECKING`)
    stack: list[tuple[ast.AST, bool, bool]] = [(ast.parse(path.read_text()), False, False)]
    while stack:
        node, deferred, typing_only = stack.pop()
        for child in ast.iter_child_nodes(node):
            inner = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            typing = typing_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names]
            for name in dict.fromkeys(names):
                target = _resolve(name, known)
                if target and target != module and not typing:
                    found.append(Import(module, target, child.lineno, deferred, "#" in lines[child.lineno - 1]))
            stack.append((child, inner, typing))
    return found


def imports(known: dict[str, Path]) -> list[Import]:
    return [i for module, path in known.items() for i in _imports_of(module, path, known)]


def layer_of(module: str) -> int:
    if module == "paybatch":
        return 0  # the package's own __init__: its version only
    best, depth = len(LAYERS), -1
    for index, layer in enumerate(LAYERS):
        for entry in layer:
            if (module == entry or module.startswith(entry + ".")) and entry.count(".") > depth:
                best, depth = index, entry.count(".")
    return best


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    sys.setrecursionlimit(10_000)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            connect(v)
    return found


KNOWN = modules()
IMPORTS = imports(KNOWN)


def test_every_module_has_a_layer() -> None:
    assert [m for m in KNOWN if layer_of(m) == len(LAYERS)] == []


def test_no_import_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for i in IMPORTS:
        edges[i.source].add(i.target)
    assert cycles(edges) == []


def test_imports_go_down_the_layers() -> None:
    upward = sorted(f"{i.source}:{i.line} imports {i.target}" for i in IMPORTS if layer_of(i.target) > layer_of(i.source))
    assert upward == []


# The local endpoint exists to fix moto's internals (docs/architecture.md lists each fix): its private names are its job.
PRIVATE_NAMES_ALLOWED = {"paybatch.local.endpoint"}


def test_no_private_name_of_another_module() -> None:
    calls = []
    for module, path in KNOWN.items():
        if module in PRIVATE_NAMES_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = ast.unparse(node.value)
                if owner not in {"self", "cls", "os", "sys"} and not owner.startswith(("self.", "cls.")):
                    calls.append(f"{module}:{node.lineno} {owner}.{node.attr}")
    assert calls == []


def test_few_deferred_imports_each_with_its_reason() -> None:
    deferred = [i for i in IMPORTS if i.deferred and not i.source.startswith("paybatch.cli")]
    assert [f"{i.source}:{i.line}" for i in deferred if not i.commented] == []
    assert len(deferred) <= MAX_DEFERRED_IMPORTS, [f"{i.source}:{i.line} {i.target}" for i in deferred]


def test_no_module_is_too_long() -> None:
    assert {m: n for m, p in KNOWN.items() if (n := len(p.read_text().splitlines())) > MAX_LINES} == {}
