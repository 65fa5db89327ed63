"""Package this repository's code for AWS: the Lambda bundle and the Glue library zip.

The Lambda bundle holds paybatch, the builder and the environment configs, plus the dependencies the
Lambda runtime lacks: the few direct ones it imports (each a declared dependency in pyproject.toml),
resolved with everything they need at the versions requirements.lock pins, as manylinux wheels for
Python 3.11. The Glue library zip (for ``--extra-py-files``) holds paybatch and the configs; what
the Glue jobs need beyond Glue 5.1's provided modules goes in ``--additional-python-modules``
(``paybatch.resources``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from paybatch.paths import PROJECT_ROOT as ROOT

# What the builder, the scheduler and the screening API import beyond the Lambda runtime (which provides boto3).
LAMBDA_DEPENDENCIES = ("pydantic", "aws-lambda-powertools", "pyyaml", "numpy", "rapidfuzz", "jellyfish", "anyascii", "nicknames")
DEPENDENCIES_MARKER = ".with-dependencies"
SOURCES = ("paybatch", "lambda_manifest_builder", "environments")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "scripts", "*.so", "*.c")  # the Lambda converts nothing


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


def copy_sources(target: Path) -> None:
    for name in SOURCES:
        shutil.copytree(ROOT / name, target / name, ignore=IGNORE, dirs_exist_ok=True)


def build_lambda_bundle(target: Path, *, with_dependencies: bool = True) -> Path:
    """A folder ready for ``lambda_.Code.from_asset`` (and for zipping by deploy-lambda.sh)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    copy_sources(target)
    if with_dependencies:
        (target / DEPENDENCIES_MARKER).write_text("dependencies installed by deploy/package.py\n")
        undeclared = [n for n in LAMBDA_DEPENDENCIES if n not in declared_dependencies()]
        if undeclared:
            raise SystemExit(f"the Lambda bundle needs {undeclared}, which pyproject.toml does not declare")
        # pip resolves what they need in turn; the lock's pins hold every version (transitive ones included).
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target),
                        "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
                        "--only-binary=:all:", "--constraint", str(ROOT / "requirements.lock"),
                        *pinned(LAMBDA_DEPENDENCIES)], check=True)
    return target


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
