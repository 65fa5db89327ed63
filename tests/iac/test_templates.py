"""The synthesised stacks: CDK assertions on what each environment must have, and cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from paybatch.config import load_settings
from paybatch.resources import STATUS_INDEX, bucket_names


def resources(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in data["Resources"].values() if r["Type"] == kind]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_storage_is_private_encrypted_and_tls_only(template_data: dict[str, dict[str, Any]], env: str) -> None:
    template = Template.from_json(template_data[env])
    settings = load_settings(env, environ={"PAYBATCH_TARGET": "aws"})
    template.resource_count_is("AWS::S3::Bucket", len(bucket_names(settings)))
    template.all_resources_properties("AWS::S3::Bucket", {
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
                                           "RestrictPublicBuckets": True},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    })
    policies = resources(template_data[env], "AWS::S3::BucketPolicy")
    assert len(policies) == len(bucket_names(settings))
    assert all(any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in p["PolicyDocument"]["Statement"]) for p in policies)
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "TableName": settings.tables.tracking,
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "GlobalSecondaryIndexes": Match.array_with([Match.object_like({"IndexName": STATUS_INDEX})]),
    })
    template.has_resource_properties("AWS::SQS::Queue", {
        "QueueName": settings.queues.ingest, "SqsManagedSseEnabled": True,
        "RedrivePolicy": {"maxReceiveCount": settings.queues.max_receive_count, "deadLetterTargetArn": Match.any_value()},
    })
    bucket = next(p for p in resources(template_data[env], "AWS::S3::Bucket") if p.get("BucketName") == settings.buckets.input)
    events = {c["Event"] for c in bucket["NotificationConfiguration"]["QueueConfigurations"]}
    assert events == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_lambdas_glue_jobs_and_alarms(template_data: dict[str, dict[str, Any]], env: str) -> None:
    template = Template.from_json(template_data[env])
    settings = load_settings(env, environ={"PAYBATCH_TARGET": "aws"})
    template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": settings.lambda_.builder_function, "Runtime": "python3.11",
        "Handler": "lambda_manifest_builder.handler.lambda_handler",
        "ReservedConcurrentExecutions": settings.lambda_.reserved_concurrency,
        "Environment": {"Variables": Match.object_like({
            "MAX_FILES_PER_MANIFEST": str(settings.batching.max_files_per_manifest),
            "EXPECTED_FILE_SIZE_MB": str(settings.file_validation.expected_file_size_mb),
            "TRACKING_TABLE": settings.tables.tracking, "GLUE_JOB_NAME": settings.glue.jobs.convert,
            "PAYBATCH_ENV": env})},
    })
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "BatchSize": settings.lambda_.batch_size, "FunctionResponseTypes": ["ReportBatchItemFailures"]})
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": f"rate({settings.lambda_.schedule_minutes} minutes)"})
    template.has_resource_properties("AWS::Glue::Job", {
        "Name": settings.glue.jobs.convert, "GlueVersion": "5.1", "Command": Match.object_like({"Name": "glueetl"}),
        "WorkerType": settings.glue.worker_type, "NumberOfWorkers": settings.glue.number_of_workers,
        "ExecutionProperty": {"MaxConcurrentRuns": settings.glue.max_concurrent_runs},
        "Timeout": settings.glue.timeout_minutes, "MaxRetries": settings.glue.max_retries,
        "DefaultArguments": Match.object_like({"--enable-metrics": "true", "--enable-spark-ui": "true",
                                               "--enable-job-insights": "true", "--env": env}),
    })
    template.has_resource_properties("AWS::Glue::Job", {
        "Name": settings.glue.jobs.convert_light, "Command": Match.object_like({"Name": "glueetl", "PythonVersion": "3"}),
        "GlueVersion": "5.1", "WorkerType": "G.1X", "NumberOfWorkers": 2})  # Python shell offers 3.9 at most
    template.has_resource_properties("AWS::Glue::Job", {"Name": settings.glue.jobs.generate})
    auto = template_data[env]["Resources"]
    convert = next(r["Properties"] for r in auto.values()
                   if r["Type"] == "AWS::Glue::Job" and r["Properties"]["Name"] == settings.glue.jobs.convert)
    assert ("--enable-auto-scaling" in convert["DefaultArguments"]) == settings.glue.auto_scaling
    names = {p["AlarmName"] for p in resources(template_data[env], "AWS::CloudWatch::Alarm")}
    assert names == {f"paybatch-{env}-dlq-not-empty", f"paybatch-{env}-failed-glue-runs", f"paybatch-{env}-oldest-pending-file",
                     f"paybatch-{env}-bulk-run-failed", f"paybatch-{env}-bulk-run-timed-out", f"paybatch-{env}-bulk-work-dlq-not-empty"}
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_screening_job_rule_queues_and_api(template_data: dict[str, dict[str, Any]], env: str) -> None:
    template = Template.from_json(template_data[env])
    settings = load_settings(env, environ={"PAYBATCH_TARGET": "aws"})
    sc = settings.screening
    template.has_resource_properties("AWS::Glue::Job", {
        "Name": sc.job,
        "Command": Match.object_like({"Name": "glueetl", "ScriptLocation": Match.string_like_regexp("screen_customers.py$")}),
        "DefaultArguments": Match.object_like({"--additional-python-modules": Match.string_like_regexp("rapidfuzz==")})})
    for name in (sc.alerts_queue, sc.alerts_dlq):
        template.has_resource_properties("AWS::SQS::Queue", {"QueueName": name, "SqsManagedSseEnabled": True})
    template.has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": sc.schedule,
        "Targets": [Match.object_like({"Input": json.dumps({"action": "screen-customers"}, separators=(",", ":"))})]})
    template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": sc.api_function, "Handler": "paybatch.screening.api.lambda_handler", "Runtime": "python3.12"})
    template.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM"})
    data = template_data[env]["Resources"]
    [api_role] = [k for k, r in data.items() if r["Type"] == "AWS::IAM::Role"
                  and r["Properties"].get("RoleName") == f"paybatch-{env}-screening-api"]
    policies = [r["Properties"] for r in data.values() if r["Type"] == "AWS::IAM::Policy"]
    statements = [st for p in policies if {"Ref": api_role} in p["Roles"] for st in p["PolicyDocument"]["Statement"]]
    actions = {a for st in statements for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
    assert actions <= {"s3:GetObject*", "s3:GetBucket*", "s3:List*", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}, actions
    assert all("screening/lists/" in json.dumps(st["Resource"]) for st in statements if "s3:GetObject*" in json.dumps(st["Action"]))


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_iam_is_least_privilege(template_data: dict[str, dict[str, Any]], env: str) -> None:
    for role in resources(template_data[env], "AWS::IAM::Role"):
        managed = json.dumps(role.get("ManagedPolicyArns", []))
        assert "AWSGlueServiceRole" not in managed and "FullAccess" not in managed, managed
    for policy in resources(template_data[env], "AWS::IAM::Policy"):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a == "*" or a.endswith(":*") for a in actions), (policy["PolicyName"], actions)


def test_cfn_lint_finds_no_errors(templates: dict[str, Path]) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), *map(str, templates.values())], capture_output=True, text=True,
                            cwd=root, timeout=300)
    # cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    assert result.returncode & 2 == 0, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout  # and with .cfnlintrc's one reasoned ignore, no warnings either
