"""Create (idempotently) and inspect every resource an environment names, on the local endpoint.

Everything is built from ``paybatch.resources``, the same specs the CDK stack reads.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from paybatch.aws import AwsClients
from paybatch.bulk.definition import execution_role_name, local_substitutions, render, state_machine_arn
from paybatch.errors import LocalStackError
from paybatch.generate.cards import LOCAL_PAN_KEY
from paybatch.lake_tables import lake_table_inputs
from paybatch.resources import (
    GlueJobSpec,
    TableSpec,
    bucket_names,
    glue_job_specs,
    glue_role_name,
    glue_script_key,
    job_definition,
    queue_specs,
    table_specs,
)
from paybatch.retention import apply_lifecycle
from paybatch.retry import is_retryable, retrying

NOTIFIED_EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def create_bucket(clients: AwsClients, name: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": name}
    if clients.settings.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": clients.settings.region}
    try:
        clients.s3.create_bucket(**kwargs)
    except ClientError as exc:
        if _code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise


def create_table(clients: AwsClients, spec: TableSpec) -> None:
    ddb = clients.dynamodb
    kwargs: dict[str, Any] = {
        "TableName": spec.name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in spec.attributes.items()],
        "KeySchema": [
            {"AttributeName": spec.partition_key, "KeyType": "HASH"},
            {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
        ],
    }
    if spec.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    try:
        ddb.create_table(**kwargs)
        ddb.get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise
    if spec.ttl_attribute:
        current = ddb.describe_time_to_live(TableName=spec.name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
            ddb.update_time_to_live(
                TableName=spec.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )


def create_queues(clients: AwsClients) -> None:
    sqs = clients.sqs
    for spec in queue_specs(clients.settings):
        attributes = {
            "VisibilityTimeout": str(spec.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(spec.retention_seconds),
        }
        if spec.dead_letter_queue:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": clients.queue_arn(spec.dead_letter_queue), "maxReceiveCount": spec.max_receive_count}
            )
        try:
            sqs.create_queue(QueueName=spec.name, Attributes=attributes)
        except ClientError as exc:
            if _code(exc) not in {"QueueAlreadyExists", "QueueNameExists"}:
                raise
            sqs.set_queue_attributes(QueueUrl=clients.queue_url(spec.name), Attributes=attributes)


def configure_notifications(clients: AwsClients) -> None:
    """S3 → SQS: the input bucket tells the ingest queue about every created and removed object."""
    settings = clients.settings
    clients.s3.put_bucket_notification_configuration(
        Bucket=settings.buckets.input,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "paybatch-file-events",
                    "QueueArn": clients.queue_arn(settings.queues.ingest),
                    "Events": NOTIFIED_EVENTS,
                }
            ]
        },
    )


def glue_job_definition(clients: AwsClients, spec: GlueJobSpec) -> dict[str, Any]:
    """The CreateJob request for one job on the local endpoint (its fixed account id)."""
    settings = clients.settings
    return job_definition(settings, spec, f"arn:aws:iam::{settings.account_id or '000000000000'}:role/{glue_role_name(settings)}")


def create_glue_job(clients: AwsClients, spec: GlueJobSpec) -> None:
    """Upload one entry script and (re)create its job definition (moto lacks update_job)."""
    clients.s3.put_object(Bucket=clients.settings.buckets.artifacts, Key=glue_script_key(spec),
                          Body=spec.script_path.read_bytes())  # one request (its errors are botocore's own)
    try:
        clients.glue.delete_job(JobName=spec.name)
    except ClientError as exc:
        if _code(exc) != "EntityNotFoundException":
            raise
    clients.glue.create_job(**glue_job_definition(clients, spec))



def seed_pan_hash_key(clients: AwsClients) -> None:
    """Give a local prod-like environment the SSM parameter or secret its config names (a labelled local value)."""
    source = clients.settings.generator.pan_hash_key
    try:
        if source.startswith("ssm:"):
            clients.client("ssm").put_parameter(Name=source[4:], Value=LOCAL_PAN_KEY, Type="SecureString", Overwrite=False)
        elif source.startswith("secretsmanager:"):
            clients.client("secretsmanager").create_secret(Name=source[15:], SecretString=LOCAL_PAN_KEY)
    except ClientError as exc:
        if _code(exc) not in ("ParameterAlreadyExists", "ResourceExistsException"):
            raise


def create_catalog(clients: AwsClients) -> None:
    """The Glue databases (converted Iceberg tables; the generator's lake tables) and the lake tables themselves.

    The Iceberg tables are created by the first run that commits to them (``paybatch.iceberg.catalog``).
    """
    settings = clients.settings
    for name, what in ((settings.catalog.database, "converted tables (Apache Iceberg), one per dataset and its rejects"),
                       (settings.catalog.lake_database, "the payments generator's lake tables (partition projection)")):
        try:
            clients.glue.create_database(DatabaseInput={"Name": name, "Description": f"paybatch {settings.env}: {what}"})
        except ClientError as exc:
            if _code(exc) != "AlreadyExistsException":
                raise
    for table_input in lake_table_inputs(settings):
        try:
            clients.glue.create_table(DatabaseName=settings.catalog.lake_database, TableInput=table_input)
        except ClientError as exc:
            if _code(exc) != "AlreadyExistsException":
                raise
            clients.glue.update_table(DatabaseName=settings.catalog.lake_database, TableInput=table_input)


def enable_state_machine_execution(clients: AwsClients) -> None:
    """moto runs ASL only with this setting on, set before the state machine is created (there is no env var)."""
    import urllib.request

    url = f"{clients.settings.endpoint_url}/moto-api/config"
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})  # noqa: S310
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback only


def create_state_machine(clients: AwsClients) -> str:
    """The bulk state machine from the repository's ASL file, its placeholders filled with the local resources."""
    settings = clients.settings
    enable_state_machine_execution(clients)
    definition = render(local_substitutions(settings, clients.queue_url(settings.bulk.work_queue)))
    sfn = clients.client("stepfunctions")
    arn = state_machine_arn(settings, settings.account_id)
    role = f"arn:aws:iam::{settings.account_id}:role/{execution_role_name(settings)}"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role)
    except ClientError as exc:
        if _code(exc) != "StateMachineDoesNotExist":
            raise
        sfn.create_state_machine(name=settings.bulk.state_machine, definition=definition, roleArn=role, type="STANDARD")
    return arn


# Each step is idempotent, so a step that met throttling, a 5xx or a lost answer is simply run again.
STEP_ATTEMPTS = 10


def _step(what: str, call: Callable[..., Any], *args: Any) -> None:
    """Run one idempotent provisioning step, again after throttling, 5xx, a lost answer or a waiter that gave up."""
    for attempt in range(1, STEP_ATTEMPTS + 1):
        try:
            call(*args)
            return
        except Exception as exc:
            if not (is_retryable(exc) or isinstance(exc, WaiterError)):
                raise
            if attempt == STEP_ATTEMPTS:
                raise LocalStackError(f"could not {what} on {args[0].settings.endpoint_url or 'AWS'}: the service kept "
                                      f"answering {_describe(exc)} through {STEP_ATTEMPTS} attempts; try again") from exc
            time.sleep(min(2.0, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.5))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or exc)
    return type(exc).__name__


def provision(clients: AwsClients) -> None:
    """Create every resource of the environment; safe to run again, and under ``PAYBATCH_FAULTS``."""
    for name in bucket_names(clients.settings).values():
        _step(f"create bucket {name}", create_bucket, clients, name)
    for spec in table_specs(clients.settings):
        _step(f"create table {spec.name}", create_table, clients, spec)
    _step("create the queues", create_queues, clients)
    _step("configure the input bucket's notifications", configure_notifications, clients)
    _step("set the input bucket's lifecycle", lambda c: apply_lifecycle(c.s3, c.settings), clients)
    _step("create the Glue databases and lake tables", create_catalog, clients)
    for job in glue_job_specs(clients.settings):
        _step(f"create the Glue job {job.name}", create_glue_job, clients, job)
    _step("seed the PAN hash key", seed_pan_hash_key, clients)
    _step("create the bulk state machine", create_state_machine, clients)


def _absent_unless_retryable(exc: ClientError) -> None:
    """A resource that could not be read is missing, unless the answer was throttling or a 5xx (asked again)."""
    if is_retryable(exc):
        raise exc


def describe_resources(clients: AwsClients) -> dict[str, Any]:
    """What exists on the endpoint for each configured resource (for `local status` and tests); every read is
    retried over throttling and 5xx, so only a resource that is really absent reads as missing."""
    settings = clients.settings
    report: dict[str, Any] = {"buckets": {}, "tables": {}, "queues": {}, "glue_jobs": {}, "notifications": {},
                              "state_machines": {}}
    for role, name in bucket_names(settings).items():
        try:
            retrying(clients.s3.head_bucket, Bucket=name)
            report["buckets"][role] = {"name": name, "exists": True}
        except ClientError as exc:
            _absent_unless_retryable(exc)
            report["buckets"][role] = {"name": name, "exists": False}
    for spec in table_specs(settings):
        entry: dict[str, Any] = {"name": spec.name, "exists": False}
        try:
            table = retrying(clients.dynamodb.describe_table, TableName=spec.name)["Table"]
            ttl = retrying(clients.dynamodb.describe_time_to_live, TableName=spec.name)["TimeToLiveDescription"]
            entry.update(
                exists=True,
                key_schema={k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]},
                indexes={
                    gsi["IndexName"]: {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
                    for gsi in table.get("GlobalSecondaryIndexes", [])
                },
                ttl_attribute=ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
                items=table.get("ItemCount"),
            )
        except ClientError as exc:
            _absent_unless_retryable(exc)
        report["tables"][spec.role] = entry
    for queue in queue_specs(settings):
        entry = {"name": queue.name, "exists": False}
        try:
            url = retrying(clients.queue_url, queue.name)
            attrs = retrying(clients.sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["All"])["Attributes"]
            entry.update(
                exists=True,
                url=url,
                messages=int(attrs.get("ApproximateNumberOfMessages", 0)),
                in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                redrive_policy=json.loads(attrs["RedrivePolicy"]) if "RedrivePolicy" in attrs else None,
            )
        except ClientError as exc:
            _absent_unless_retryable(exc)
        report["queues"][queue.role] = entry
    for job_spec in glue_job_specs(settings):
        try:
            job = retrying(clients.glue.get_job, JobName=job_spec.name)["Job"]
            report["glue_jobs"][job_spec.role] = {
                "name": job_spec.name,
                "exists": True,
                "script": job["Command"]["ScriptLocation"],
                "max_concurrent_runs": job.get("ExecutionProperty", {}).get("MaxConcurrentRuns"),
            }
        except ClientError as exc:
            _absent_unless_retryable(exc)
            report["glue_jobs"][job_spec.role] = {"name": job_spec.name, "exists": False}
    arn = state_machine_arn(settings, settings.account_id or "000000000000")
    try:
        machine = retrying(clients.client("stepfunctions").describe_state_machine, stateMachineArn=arn)
        report["state_machines"]["bulk"] = {"name": settings.bulk.state_machine, "exists": True, "arn": arn,
                                            "status": machine.get("status")}
    except ClientError as exc:
        _absent_unless_retryable(exc)
        report["state_machines"]["bulk"] = {"name": settings.bulk.state_machine, "exists": False}
    try:
        config = retrying(clients.s3.get_bucket_notification_configuration, Bucket=settings.buckets.input)
        report["notifications"] = {
            "input_to_ingest_queue": any(
                c.get("QueueArn", "").endswith(":" + settings.queues.ingest) for c in config.get("QueueConfigurations", [])
            )
        }
    except ClientError as exc:
        _absent_unless_retryable(exc)
        report["notifications"] = {"input_to_ingest_queue": False}
    return report


def all_present(report: dict[str, Any]) -> bool:
    """True when every resource in a ``describe_resources`` report exists and notifications are set."""
    groups = ("buckets", "tables", "queues", "glue_jobs", "state_machines")
    return all(item["exists"] for g in groups for item in report[g].values()) and all(report["notifications"].values())
