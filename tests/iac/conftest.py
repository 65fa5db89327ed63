"""One synthesis of the dev and prod stacks per test run (CDK synthesis takes ~15 s)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from deploy.app import synth

    root = tmp_path_factory.mktemp("cdk")
    return synth(["dev", "prod"], outdir=root / "cdk.out", templates=root / "templates")


@pytest.fixture(scope="session")
def template_data(templates: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {env: json.loads(path.read_text()) for env, path in templates.items()}
