"""paybatch as a package: the wheel declares what it needs, installs into an empty Python and runs.

`pip install dist/paybatch-*.whl` (here uv, the same resolution, with requirements.lock as constraints so
the test does not depend on what PyPI released today) into a fresh Python 3.11 environment.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from paybatch.ops.package import LAMBDA_DEPENDENCIES, declared_dependencies, lock_pins
from paybatch.paths import PROJECT_ROOT

UV = Path(sys.executable).with_name("uv")


def test_declared_dependencies_are_pinned_and_carry_ranges() -> None:
    declared, pins = declared_dependencies(), lock_pins()
    assert {"boto3", "pydantic", "pyarrow", "pyiceberg", "typer"} <= set(declared)
    assert all(name in pins for name in declared), set(declared) - set(pins)
    assert all(any(op in req for op in "<>=~") for req in declared.values()), "every runtime dependency has a range"
    assert set(LAMBDA_DEPENDENCIES) <= set(declared)


@pytest.mark.slow
def test_the_wheel_installs_into_an_empty_python_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([str(UV), "build", "--quiet", "--wheel", "--out-dir", str(dist), str(PROJECT_ROOT)], check=True, timeout=300)
    [wheel] = dist.glob("paybatch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = email.message_from_bytes(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    requires = metadata.get_all("Requires-Dist") or []
    assert any(r.startswith("pyiceberg[") for r in requires) and any("extra == \"spark\"" in r for r in requires)
    assert any(n.endswith(".so") and "_strict_ndjson" in n for n in names), "the compiled parser ships in the wheel"
    assert "paybatch/schemas/authorization.yaml" in names and "paybatch/generate/payments.yaml" in names

    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(UV), "pip", "install", "--quiet", "--python", str(python), str(wheel),
                    "--constraint", str(PROJECT_ROOT / "requirements.lock")], check=True, timeout=600)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PAYBATCH_STATE_DIR": str(tmp_path / "state")}
    shown = subprocess.run([str(venv / "bin" / "paybatch"), "--help"], capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=120)
    assert shown.returncode == 0 and "generate" in shown.stdout and "convert" in shown.stdout, shown.stderr
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, env=env)
    names_installed = {p["name"].lower() for p in json.loads(installed.stdout)} if installed.returncode == 0 else set()
    assert not names_installed & {"pyspark", "moto", "aws-cdk-lib", "pytest"}, "extras stay out of a plain install"
    # Configuration lives outside the package: point it at the environments folder.
    config = subprocess.run([str(venv / "bin" / "paybatch"), "config", "show", "--env", "prod", "--json"], capture_output=True,
                            text=True, env={**env, "PAYBATCH_CONFIG_DIR": str(PROJECT_ROOT / "environments")}, cwd=tmp_path,
                            timeout=120)
    assert config.returncode == 0 and json.loads(config.stdout)["env"] == "prod", config.stderr
    unknown = subprocess.run([str(venv / "bin" / "paybatch"), "config", "show", "--env", "prod"], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=120)
    assert unknown.returncode == 2 and "PAYBATCH_CONFIG_DIR" in unknown.stderr
    # The compiled parser loads from the installed wheel, outside the source tree.
    parser = subprocess.run([str(python), "-c", "from paybatch.convert.ndjson import strict_parser_available as a; print(a())"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert parser.stdout.strip() == "True", parser.stderr
    assert os.path.exists(venv / "bin" / "paybatch")


def test_the_compiled_parser_runs_on_glue_5_1s_platform() -> None:
    """Glue 5.1 is x86_64 with glibc 2.34 (AWS's Glue docs): the parser shipped in paybatch.zip must ask no newer glibc."""
    import re

    [library] = (PROJECT_ROOT / "paybatch" / "convert").glob("_strict_ndjson*.so")
    header = library.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 62, "an x86-64 ELF"  # EM_X86_64
    symbols = subprocess.run(["objdump", "-T", str(library)], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(p) for p in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", symbols)}
    assert versions and max(versions) <= (2, 34), sorted(versions)
