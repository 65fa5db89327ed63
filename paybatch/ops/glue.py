"""Glue operations: deploy the jobs (scripts, library, definitions) and explain failed runs.

``deploy_glue`` uploads every entry script and the paybatch library zip to the artifacts bucket,
then creates each job or updates it in place with the environment's settings (the same
definition the local provisioner and the CDK stack use). ``failed_runs`` lists failed runs with
their error and the manifest and files involved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from paybatch.aws import AwsClients, account_id
from paybatch.contracts.tracking import utcnow
from paybatch.errors import PaybatchError
from paybatch.launchers import launcher_for
from paybatch.ops.artifacts import require_artifacts_bucket
from paybatch.ops.diagnose import require_resources
from paybatch.resources import LIBRARY_KEY, GlueJobSpec, glue_job_specs, glue_role_name, glue_script_key, job_definition
from paybatch.retry import retrying
from paybatch.tracking_store import TrackingStore

DEPLOY_ATTEMPTS = 8  # each deploy step is idempotent: throttling, 5xx or a lost answer runs it again

FAILED_STATES = ("FAILED", "ERROR", "TIMEOUT")


@dataclass
class DeployedJob:
    name: str
    action: str  # created | updated
    script: str
    workers: int | None
    max_concurrent_runs: int


def role_arn(clients: AwsClients) -> str:
    return f"arn:aws:iam::{account_id(clients)}:role/{glue_role_name(clients.settings)}"


def deploy_glue(clients: AwsClients, library: Path) -> list[DeployedJob]:
    """Upload scripts and library, then create or update every job; fails clearly when the artifacts bucket is missing."""
    settings = clients.settings
    bucket = require_artifacts_bucket(clients)
    retrying(clients.s3.upload_file, str(library), bucket, LIBRARY_KEY, attempts=DEPLOY_ATTEMPTS)
    arn = role_arn(clients)

    def deploy_job(spec: GlueJobSpec) -> DeployedJob:
        """Upload one script, then update or create its job: idempotent, so a step that met a fault runs again."""
        clients.s3.upload_file(str(spec.script_path), bucket, glue_script_key(spec))
        definition = job_definition(settings, spec, arn)
        try:
            clients.glue.get_job(JobName=spec.name)
            update = {k: v for k, v in definition.items() if k != "Name"}
            clients.glue.update_job(JobName=spec.name, JobUpdate=update)
            action = "updated"
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EntityNotFoundException":
                raise
            clients.glue.create_job(**definition)  # a lost answer: the retry finds the job and updates it
            action = "created"
        return DeployedJob(spec.name, action, definition["Command"]["ScriptLocation"], definition.get("NumberOfWorkers"),
                           spec.max_concurrent_runs)

    deployed = [retrying(deploy_job, spec, attempts=DEPLOY_ATTEMPTS) for spec in glue_job_specs(settings)]
    return deployed


@dataclass
class FailedRun:
    job_name: str
    run_id: str
    state: str
    started: str
    error: str
    batch_id: str | None = None
    manifest_status: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)


def failed_runs(clients: AwsClients, since_hours: float = 24) -> list[dict[str, Any]]:
    """Failed, errored or timed-out runs of every job in the window, newest first, with their manifest and files."""
    require_resources(clients)
    settings = clients.settings
    launcher = launcher_for(settings, clients)
    store = TrackingStore(clients)
    manifests = {m.get("run_id"): m for m in store.ops_manifests(completed_days=max(1.0, since_hours / 24)) if m.get("run_id")}
    cutoff = utcnow() - dt.timedelta(hours=since_hours)
    found: list[FailedRun] = []
    for spec in glue_job_specs(settings):
        try:
            runs = launcher.list_job_runs(spec.name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "EntityNotFoundException":
                raise PaybatchError(f"Glue job {spec.name} does not exist in {settings.env!r}: run deploy-glue.sh") from None
            raise
        for run in runs:
            started = run.get("StartedOn")
            started_at = started if isinstance(started, dt.datetime) else dt.datetime.fromisoformat(str(started)) if started else None
            if run.get("JobRunState") not in FAILED_STATES or (started_at and started_at.astimezone(dt.UTC) < cutoff):
                continue
            manifest = manifests.get(run["Id"])
            batch = manifest["batch_id"] if manifest else (run.get("Arguments") or {}).get("--batch_id")
            involved = [{"file": f["file_key"], "status": f["status"], "error": f.get("error")}
                        for f in _manifest_files(store, manifest)]
            found.append(FailedRun(spec.name, run["Id"], run["JobRunState"], str(started or ""), str(run.get("ErrorMessage") or ""),
                                   batch, manifest["manifest_status"] if manifest else None, involved))
    return [asdict(r) for r in sorted(found, key=lambda r: r.started, reverse=True)]


def _manifest_files(store: TrackingStore, manifest: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The tracking items of a manifest's files, read one by one (at most a manifest's worth, never a scan)."""
    if not manifest:
        return []
    items = (store.get_file(manifest["manifest_date"], entry["key"]) for entry in manifest.get("files", []))
    return [item for item in items if item is not None]
