"""Lambda operations: deploy the builder's, the scheduler's, the screening API's and the bulk worker's code and configuration.

The bundle is the folder deploy/package.py builds (code, configs and dependencies); it is zipped,
uploaded to the artifacts bucket, and each function is created or updated with the environment
variables the CDK stack sets (deploy/stack.py ``lambda_environment``), so both paths agree.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from paybatch import constants
from paybatch.aws import AwsClients, account_id
from paybatch.config import Settings
from paybatch.errors import PaybatchError
from paybatch.ops.artifacts import require_artifacts_bucket
from paybatch.ops.glue import DEPLOY_ATTEMPTS
from paybatch.ops.package import LAMBDA_RUNTIMES
from paybatch.retry import retrying


def lambda_role_name(settings: Settings) -> str:
    return f"paybatch-{settings.env}-lambda"


def screening_api_role_name(settings: Settings) -> str:
    """The screening API's own role: it reads the stored lists and nothing else."""
    return f"paybatch-{settings.env}-screening-api"


def bulk_worker_role_name(settings: Settings) -> str:
    """The bulk worker's own role: the bulk ledger, the manifests it dispatches, its Glue jobs, its state machine's tokens."""
    return f"paybatch-{settings.env}-bulk-worker"


BULK_WORKER_CONCURRENCY = 5  # chunk tasks are quick (start a run, answer a token); Glue's MaxConcurrentRuns bounds the runs

SCREENING_API_HANDLER = constants.SCREENING_API_HANDLER
SCREENING_API_MEMORY_MB = 1024  # the list's index in memory, and numpy
SCREENING_API_CONCURRENCY = 20


def lambda_environment(settings: Settings) -> dict[str, str]:
    """The seed's environment variable names with this environment's values (read back as overrides)."""
    data = settings.model_dump(by_alias=False)
    env = {constants.ENV_NAME: settings.env, constants.TARGET: "aws", "POWERTOOLS_SERVICE_NAME": "paybatch",
           "POWERTOOLS_METRICS_NAMESPACE": "paybatch"}
    for var, dotted in constants.SETTING_OVERRIDES.items():
        if var == "PAYBATCH_LOCAL_PORT":
            continue
        node: Any = data
        for part in dotted.split("."):
            node = node[part]
        env[var] = str(node)
    return env


def functions(settings: Settings) -> list[tuple[str, str, str]]:
    """(role, function name, handler) of each function."""
    lam = settings.lambda_
    return [("builder", lam.builder_function, constants.BUILDER_HANDLER),
            ("scheduler", lam.scheduler_function, constants.SCHEDULER_HANDLER),
            ("screening-api", settings.screening.api_function, SCREENING_API_HANDLER),
            ("bulk-worker", settings.bulk.worker_function, constants.BULK_WORKER_HANDLER)]


def zip_bundle(folder: Path, handler: str) -> bytes:
    """A deterministic zip of one function's bundle folder (sorted entries, fixed timestamps)."""
    if not (folder / (handler.rpartition(".")[0].replace(".", "/") + ".py")).is_file():
        raise PaybatchError(f"no Lambda bundle with {handler} in {folder}: run `make package` first")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return out.getvalue()


@dataclass
class DeployedFunction:
    name: str
    action: str
    code_key: str


def deploy_lambdas(clients: AwsClients, bundles: Path) -> list[DeployedFunction]:
    """Each function from its own bundle (``bundles/<function>/``, `make package`): its zip uploaded, then the function."""
    settings = clients.settings
    bucket = require_artifacts_bucket(clients)
    lam, client = settings.lambda_, clients.client("lambda")
    account = account_id(clients)

    def deploy_function(role: str, name: str, handler: str) -> DeployedFunction:
        """Upload its code, update or create the function, then its concurrency: idempotent, so a step that met a fault
        runs again."""
        body = zip_bundle(bundles / role, handler)
        key = f"lambda/paybatch-{role}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
        retrying(clients.s3.put_object, Bucket=bucket, Key=key, Body=body, attempts=DEPLOY_ATTEMPTS)
        api = role == "screening-api"
        config = {"Runtime": LAMBDA_RUNTIMES[role], "Handler": handler, "MemorySize": SCREENING_API_MEMORY_MB if api else lam.memory_mb,
                  "Timeout": 30 if api else lam.timeout_seconds, "Environment": {"Variables": lambda_environment(settings)}}
        iam_role = {"screening-api": screening_api_role_name(settings),
                    "bulk-worker": bulk_worker_role_name(settings)}.get(role, lambda_role_name(settings))
        try:
            client.get_function(FunctionName=name)
            client.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key=key)
            client.update_function_configuration(FunctionName=name, **config)
            action = "updated"
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            client.create_function(FunctionName=name, Role=f"arn:aws:iam::{account}:role/{iam_role}",
                                   Code={"S3Bucket": bucket, "S3Key": key}, Description=f"paybatch {role} ({settings.env})", **config)
            action = "created"
        concurrency = {"builder": lam.reserved_concurrency, "scheduler": 1,
                       "bulk-worker": BULK_WORKER_CONCURRENCY}.get(role, SCREENING_API_CONCURRENCY)
        client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=concurrency)
        return DeployedFunction(name, action, key)

    deployed = [retrying(deploy_function, role, name, handler, attempts=DEPLOY_ATTEMPTS)
                for role, name, handler in functions(settings)]
    return deployed


def live_environment(clients: AwsClients) -> dict[str, str] | None:
    """The builder function's environment variables as deployed, or None where it is not deployed."""
    try:
        config = clients.client("lambda").get_function_configuration(FunctionName=clients.settings.lambda_.builder_function)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    return dict(config.get("Environment", {}).get("Variables", {}))
