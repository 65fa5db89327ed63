"""Synthesise the CloudFormation template of each environment: ``python -m deploy.app [dev prod]``.

Writes ``deploy/templates/paybatch-<env>.template.json``. Each Lambda function's code asset is its bundle in
``deploy/build/lambda/<function>/`` (built by ``make package``; without them, source-only bundles are made so
synthesis still works offline).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import aws_cdk as cdk

from deploy.stack import PaybatchStack
from paybatch.config import load_settings
from paybatch.ops.package import DEPENDENCIES_MARKER, LAMBDA_HANDLERS, build_lambda_bundles, refresh_sources

DEPLOY = Path(__file__).resolve().parent
TEMPLATES = DEPLOY / "templates"
LAMBDA_BUNDLE = DEPLOY / "build" / "lambda"


def synth(envs: list[str], *, outdir: Path | None = None, templates: Path = TEMPLATES) -> dict[str, Path]:
    """Synthesise each environment's stack; returns the template file of each."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if all((LAMBDA_BUNDLE / f / DEPENDENCIES_MARKER).is_file() for f in LAMBDA_HANDLERS):
        refresh_sources(LAMBDA_BUNDLE)  # keep the installed dependencies, refresh this repository's code
    else:
        build_lambda_bundles(LAMBDA_BUNDLE, with_dependencies=False)
    app = cdk.App(outdir=str(outdir or DEPLOY / "cdk.out"))
    stacks = {}
    for env in envs:
        settings = load_settings(env, environ={**os.environ, "PAYBATCH_TARGET": "aws"})
        stacks[env] = PaybatchStack(app, f"paybatch-{env}", settings=settings, lambda_code=LAMBDA_BUNDLE,
                                    env=cdk.Environment(region=settings.region))
    assembly = app.synth()
    templates.mkdir(parents=True, exist_ok=True)
    written = {}
    for env, stack in stacks.items():
        template = assembly.get_stack_by_name(stack.stack_name).template
        path = templates / f"paybatch-{env}.template.json"
        path.write_text(json.dumps(template, indent=1, sort_keys=True) + "\n")
        written[env] = path
    return written


if __name__ == "__main__":
    for env, path in synth(sys.argv[1:] or ["dev", "prod"]).items():
        print(f"{env}: {path}")
