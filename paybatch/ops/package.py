"""Package this repository's code for AWS: the Lambda bundle and the Glue library zip.

The Lambda bundle holds paybatch, the builder and the environment configs, plus the pure
dependencies the Lambda runtime lacks (pinned from requirements.lock, manylinux wheels for
Python 3.11). The Glue library zip (for ``--extra-py-files``) holds paybatch and the configs;
Glue 5.1 ships pyarrow, numpy, pandas and boto3 itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from paybatch.paths import PROJECT_ROOT as ROOT

LAMBDA_DEPENDENCIES = ("pydantic", "pydantic-core", "annotated-types", "typing-extensions", "typing-inspection",
                       "aws-lambda-powertools", "jmespath", "pyyaml")
DEPENDENCIES_MARKER = ".with-dependencies"
SOURCES = ("paybatch", "lambda_manifest_builder", "environments")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "scripts", "*.so", "*.c")  # the Lambda converts nothing


def pinned(names: tuple[str, ...]) -> list[str]:
    """``name==version`` for each name, as requirements.lock pins it."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.lower().replace("_", "-")] = version.strip()
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
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target),
                        "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
                        "--only-binary=:all:", "--no-deps", *pinned(LAMBDA_DEPENDENCIES)], check=True)
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
