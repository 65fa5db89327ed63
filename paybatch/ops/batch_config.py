"""Batch configuration changes: presets or explicit values, validated, shown as a diff, applied live.

A change goes through the same Settings model as the config file (so a bad value is refused with
the same message), then to the builder and scheduler Lambdas' environment variables and to the
conversion job's workers and concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from paybatch.aws import AwsClients
from paybatch.config import Settings
from paybatch.errors import ConfigError, PaybatchError
from paybatch.ops.lambdas import functions, lambda_environment, live_environment
from paybatch.resources import glue_job_specs

# Presets scale the environment's own values: light halves them, heavy doubles them (within the model's limits).
PRESETS: dict[str, dict[str, float]] = {
    "light": {"max_files_per_manifest": 0.5, "max_batch_size_gb": 0.5, "number_of_workers": 0.5, "max_concurrent_runs": 0.5},
    "standard": {"max_files_per_manifest": 1, "max_batch_size_gb": 1, "number_of_workers": 1, "max_concurrent_runs": 1},
    "heavy": {"max_files_per_manifest": 2, "max_batch_size_gb": 2, "number_of_workers": 2, "max_concurrent_runs": 2},
}
FIELDS = {  # name → (section, setting, environment variable or None)
    "max_files_per_manifest": ("batching", "max_files_per_manifest", "MAX_FILES_PER_MANIFEST"),
    "max_batch_size_gb": ("batching", "max_batch_size_gb", "MAX_BATCH_SIZE_GB"),
    "max_wait_seconds": ("batching", "max_wait_seconds", "MAX_WAIT_SECONDS"),
    "number_of_workers": ("glue", "number_of_workers", None),
    "max_concurrent_runs": ("glue", "max_concurrent_runs", None),
}


@dataclass
class Change:
    name: str
    current: Any
    new: Any


def current_values(settings: Settings) -> dict[str, Any]:
    return {name: getattr(getattr(settings, section), field) for name, (section, field, _) in FIELDS.items()}


def plan(settings: Settings, preset: str | None, values: dict[str, Any]) -> tuple[Settings, list[Change]]:
    """The new settings (validated by the model) and the list of changes; refuses unknown presets and bad values."""
    if preset is not None and preset not in PRESETS:
        raise PaybatchError(f"unknown preset {preset!r}: one of {', '.join(PRESETS)}")
    base = current_values(settings)
    wanted = dict(base)
    if preset:
        for name, factor in PRESETS[preset].items():
            wanted[name] = type(base[name])(max(1, round(base[name] * factor)))
    wanted.update({k: v for k, v in values.items() if v is not None})
    data = settings.model_dump(by_alias=True)
    for name, (section, field, _) in FIELDS.items():
        data[section][field] = wanted[name]
    try:
        new = Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])} = {e.get('input')!r}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"refused: {problems}") from None
    changes = [Change(name, base[name], wanted[name]) for name in FIELDS if base[name] != wanted[name]]
    return new, changes


def live_values(clients: AwsClients) -> dict[str, Any] | None:
    """What is deployed now (the builder's environment and the conversion job), or None when nothing is deployed."""
    env = live_environment(clients)
    if env is None:
        return None
    values = {name: env.get(var) for name, (_, _, var) in FIELDS.items() if var}
    try:
        job = clients.glue.get_job(JobName=clients.settings.glue.jobs.convert)["Job"]
        values["number_of_workers"] = job.get("NumberOfWorkers")
        values["max_concurrent_runs"] = job.get("ExecutionProperty", {}).get("MaxConcurrentRuns")
    except ClientError:
        pass
    return values


def apply(clients: AwsClients, new: Settings) -> list[str]:
    """Push the new values to every Lambda and the conversion job; returns what was updated."""
    done = []
    client = clients.client("lambda")
    for _, name, _ in functions(new):
        try:
            current = client.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise PaybatchError(f"Lambda function {name} is not deployed in {new.env!r}: run deploy-lambda.sh first") from None
            raise
        client.update_function_configuration(FunctionName=name, Environment={"Variables": {**current, **lambda_environment(new)}})
        done.append(f"lambda {name}: environment")
    spec = next(s for s in glue_job_specs(new) if s.role == "convert")
    job = clients.glue.get_job(JobName=spec.name)["Job"]
    update = {k: v for k, v in job.items() if k in ("Role", "Command", "DefaultArguments", "MaxRetries", "Timeout", "GlueVersion",
                                                    "WorkerType", "ExecutionProperty", "NumberOfWorkers")}
    update.update(NumberOfWorkers=new.glue.number_of_workers, ExecutionProperty={"MaxConcurrentRuns": new.glue.max_concurrent_runs})
    clients.glue.update_job(JobName=spec.name, JobUpdate=update)
    done.append(f"glue {spec.name}: {new.glue.number_of_workers} workers, {new.glue.max_concurrent_runs} concurrent runs")
    return done
