"""Package this repository's code for AWS: one Lambda bundle per function, and the Glue library zip.

Each function's bundle (``deploy/build/lambda/<function>/``) holds only what its handler imports: the project's
modules its module-level imports reach (an import inside a function is the deliberate way to leave a part out,
as the scheduler leaves out Iceberg), the package data, the environment configs, and the third-party packages
those modules import that the Lambda runtime lacks (each a declared dependency in pyproject.toml), resolved with
everything they need at the versions requirements.lock pins, as manylinux wheels for Python 3.11. A module that
imports anything else (pyarrow, say) is refused by name: the function would fail on its first call.
The Glue library zip (for ``--extra-py-files``) holds paybatch and the configs; what
the Glue jobs need beyond Glue 5.1's provided modules goes in ``--additional-python-modules``
(``paybatch.resources``).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from paybatch import constants
from paybatch.errors import PaybatchError
from paybatch.paths import PROJECT_ROOT as ROOT

LAMBDA_HANDLERS = {"builder": constants.BUILDER_HANDLER, "scheduler": constants.SCHEDULER_HANDLER,
                   "bulk-worker": constants.BULK_WORKER_HANDLER, "screening-api": constants.SCREENING_API_HANDLER}
# What a function may import beyond the Lambda runtime (which provides boto3 and botocore): import name → distribution.
LAMBDA_DISTRIBUTIONS = {"pydantic": "pydantic", "aws_lambda_powertools": "aws-lambda-powertools", "yaml": "pyyaml",
                        "numpy": "numpy", "rapidfuzz": "rapidfuzz", "jellyfish": "jellyfish", "anyascii": "anyascii",
                        "nicknames": "nicknames", "typing_extensions": "typing-extensions"}
LAMBDA_DEPENDENCIES = tuple(sorted(set(LAMBDA_DISTRIBUTIONS.values()) - {"typing-extensions"}))
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"})
# Each function's runtime. The screening API runs on python3.12 (Amazon Linux 2023): the rapidfuzz the lock pins ships
# wheels for glibc 2.27 and later only, and python3.11's runtime (Amazon Linux 2) has glibc 2.26.
LAMBDA_RUNTIMES = {"builder": "python3.11", "scheduler": "python3.11", "bulk-worker": "python3.11", "screening-api": "python3.12"}
WHEEL_PLATFORMS = {"python3.11": ("manylinux2014_x86_64",), "python3.12": ("manylinux_2_28_x86_64", "manylinux2014_x86_64")}
PROJECT_PACKAGES = ("paybatch", "lambda_manifest_builder")
DATA_FILES = ("*.yaml", "*.json", "py.typed")  # package data (dataset schemas, the generator spec, rates, the ASL)
DEPENDENCIES_MARKER = ".with-dependencies"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "scripts")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared_dependencies() -> dict[str, str]:
    """pyproject.toml's runtime dependencies: normalised name → requirement as declared."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(r): r for r in project["dependencies"]}


def lock_pins() -> dict[str, str]:
    """Every ``name==version`` requirements.lock pins, by normalised name."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[_name(name)] = version.split()[0]
    return pins


def pinned(names: tuple[str, ...]) -> list[str]:
    """``name==version`` for each name, as requirements.lock pins it."""
    pins = lock_pins()
    missing = [n for n in names if n not in pins]
    if missing:
        raise SystemExit(f"requirements.lock does not pin {missing}")
    return [f"{n}=={pins[n]}" for n in names]


def _module_files() -> dict[str, Path]:
    found = {}
    for package in PROJECT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


def _imports(path: Path, module: str, is_package: bool) -> tuple[set[str], dict[str, bool]]:
    """(names imported at module level, names imported inside functions → whether the line says why)."""
    lines = path.read_text().splitlines()
    package = module if is_package else module.rpartition(".")[0]
    top: set[str] = set()
    deferred: dict[str, bool] = {}

    def names_of(node: ast.Import | ast.ImportFrom) -> set[str]:
        if isinstance(node, ast.Import):
            return {a.name for a in node.names}
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        return {base, *(f"{base}.{a.name}" for a in node.names)}

    tree = ast.parse(path.read_text())
    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            top |= names_of(statement)
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(function):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    for name in names_of(inner):
                        deferred[name] = deferred.get(name, False) or "#" in lines[inner.lineno - 1]
    return top, deferred


def _third_party(name: str) -> str | None:
    root = name.split(".")[0]
    if not root or root == "__future__" or root in PROJECT_PACKAGES or root in sys.stdlib_module_names or root in RUNTIME_PROVIDED:
        return None
    return root


def bundle_contents(handler: str) -> tuple[set[str], set[str]]:
    """(the project's modules, the distributions to install) that the function with ``handler`` needs.

    The project's modules are those its module-level imports reach. Third-party packages count wherever they are
    imported in those modules, inside functions too, except an import inside a function whose line says why it is
    left out (a comment): what else a function would miss is refused by name.
    """
    files = _module_files()
    modules: set[str] = set()
    distributions: set[str] = set()
    todo = [handler.rpartition(".")[0]]
    while todo:
        module = todo.pop()
        if module in modules:
            continue
        modules.add(module)
        parent = module.rpartition(".")[0]
        if parent in files:
            todo.append(parent)  # importing a.b runs a/__init__.py first
        top, deferred = _imports(files[module], module, files[module].name == "__init__.py")
        for name in top:
            if name.split(".")[0] in PROJECT_PACKAGES:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name:
                    todo.append(name)
        wanted = {root: module for name in top if (root := _third_party(name))}
        wanted.update({root: module for name, said_why in deferred.items() if (root := _third_party(name)) and not said_why})
        wanted.update({root: module for name in deferred if (root := _third_party(name)) in LAMBDA_DISTRIBUTIONS})
        for root, where in wanted.items():
            if root not in LAMBDA_DISTRIBUTIONS:
                raise PaybatchError(f"{where} imports {root}, which the function of {handler} would not have: import it inside "
                                    "the function that needs it with a comment saying why, or add it to LAMBDA_DISTRIBUTIONS")
            distributions.add(LAMBDA_DISTRIBUTIONS[root])
    return modules, distributions


def copy_sources(target: Path, modules: set[str]) -> None:
    """The modules' files, the package data and the environment configs under ``target``."""
    files = _module_files()
    for module in sorted(modules):
        destination = target / files[module].relative_to(ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(files[module], destination)
    for pattern in DATA_FILES:
        for path in (ROOT / "paybatch").rglob(pattern):
            if "__pycache__" not in path.parts:
                destination = target / path.relative_to(ROOT)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
    shutil.copytree(ROOT / "environments", target / "environments", ignore=IGNORE, dirs_exist_ok=True)


def refresh_sources(target: Path) -> None:
    """This repository's code in an existing bundle (its installed dependencies kept): what synthesis does."""
    for function, handler in LAMBDA_HANDLERS.items():
        for package in PROJECT_PACKAGES:
            shutil.rmtree(target / function / package, ignore_errors=True)
        copy_sources(target / function, bundle_contents(handler)[0])


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_lambda_bundles(target: Path, *, with_dependencies: bool = True) -> dict[str, Path]:
    """One folder per function under ``target``, each ready for ``lambda_.Code.from_asset`` (and for zipping)."""
    if target.exists():
        shutil.rmtree(target)
    folders = {}
    for function, handler in LAMBDA_HANDLERS.items():
        folder = target / function
        folder.mkdir(parents=True)
        modules, distributions = bundle_contents(handler)
        copy_sources(folder, modules)
        if with_dependencies and distributions:
            (folder / DEPENDENCIES_MARKER).write_text("dependencies installed by paybatch.ops.package\n")
            undeclared = sorted(d for d in distributions if d not in declared_dependencies() and d != "typing-extensions")
            if undeclared:
                raise SystemExit(f"the {function} function needs {undeclared}, which pyproject.toml does not declare")
            # pip resolves what they need in turn; the lock's pins hold every version (transitive ones included).
            runtime = LAMBDA_RUNTIMES[function]
            platforms = [arg for platform in WHEEL_PLATFORMS[runtime] for arg in ("--platform", platform)]
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(folder), *platforms,
                            "--implementation", "cp", "--python-version", runtime.removeprefix("python"), "--only-binary=:all:",
                            "--constraint", str(ROOT / "requirements.lock"),
                            *pinned(tuple(sorted(distributions)))], check=True)
        folders[function] = folder
    return folders


def build_glue_library(target: Path) -> Path:
    """``paybatch.zip`` for Glue's --extra-py-files: the package and the environment configs."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("paybatch", "environments"):
            for path in sorted((ROOT / name).rglob("*")):
                # The compiled parser goes in (paybatch copies it out of the zip to load it); its C source does not.
                if (path.is_file() and "__pycache__" not in path.parts and "scripts" not in path.parts
                        and path.suffix != ".c"):
                    archive.write(path, path.relative_to(ROOT))
    return target


def main(argv: list[str]) -> None:
    """``python -m paybatch.ops.package deploy/build``: every function's bundle and the Glue zip, with their sizes."""
    out = Path(argv[0] if argv else "deploy/build")
    for function, folder in build_lambda_bundles(out / "lambda").items():
        modules, distributions = bundle_contents(LAMBDA_HANDLERS[function])
        print(f"{folder}  {folder_size(folder) / 2**20:6.1f} MiB  {len(modules)} modules, {', '.join(sorted(distributions))}")
    glue_zip = build_glue_library(out / "paybatch.zip")
    print(f"{glue_zip}  {glue_zip.stat().st_size / 2**20:6.1f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
