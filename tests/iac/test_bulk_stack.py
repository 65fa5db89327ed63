"""The bulk state machine as deployed: the repository's ASL file, its substitutions, its roles, logs, triggers and alarms."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from paybatch.bulk.definition import definition_path, definition_text, local_substitutions, parsed, placeholders, render
from paybatch.config import load_settings
from paybatch.errors import PaybatchError


def policy_statements(data: dict[str, Any], role_name: str) -> list[dict[str, Any]]:
    resources = data["Resources"]
    [role] = [k for k, r in resources.items() if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == role_name]
    return [st for r in resources.values() if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
            for st in r["Properties"]["PolicyDocument"]["Statement"]]


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {a for st in statements for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_state_machine_is_the_repository_file_with_its_substitutions(template_data: dict[str, dict[str, Any]], env: str) -> None:
    settings = load_settings(env, environ={"PAYBATCH_TARGET": "aws"})
    template = Template.from_json(template_data[env])
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineName": settings.bulk.state_machine, "StateMachineType": "STANDARD",
        "DefinitionS3Location": Match.any_value(),  # the file itself, uploaded as an asset
        "DefinitionSubstitutions": {"WorkQueueUrl": Match.any_value(), "BulkTable": Match.any_value()},
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ERROR", "IncludeExecutionData": False}),
    })
    [machine] = [r["Properties"] for r in template_data[env]["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert set(machine["DefinitionSubstitutions"]) == placeholders()  # every placeholder filled, none unknown
    template.has_resource_properties("AWS::Logs::LogGroup", {"LogGroupName": f"/aws/vendedlogs/states/{settings.bulk.state_machine}"})


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_bulk_roles_are_least_privilege(template_data: dict[str, dict[str, Any]], env: str) -> None:
    data = template_data[env]
    states = policy_statements(data, f"paybatch-{env}-bulk-states")
    assert actions_of(states) <= {
        "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "s3:GetObject*", "s3:GetBucket*", "s3:List*",
        "dynamodb:UpdateItem", "states:StartExecution", "states:DescribeExecution", "states:StopExecution",
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}, actions_of(states)
    reads = [st for st in states if "s3:GetObject*" in json.dumps(st["Action"])]
    assert reads and all("/bulk/*" in json.dumps(st["Resource"]) for st in reads)  # its chunk lists only
    worker = policy_statements(data, f"paybatch-{env}-bulk-worker")
    actions = actions_of(worker)
    assert {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat", "glue:StartJobRun",
            "glue:BatchStopJobRun"} <= actions
    assert not any(a.startswith(("iam:", "lambda:", "kms:")) for a in actions)
    glue = [st for st in worker if "glue:StartJobRun" in json.dumps(st["Action"])]
    assert all(":job/paybatch-" in json.dumps(st["Resource"]) for st in glue)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_worker_triggers_and_alarms(template_data: dict[str, dict[str, Any]], env: str) -> None:
    settings = load_settings(env, environ={"PAYBATCH_TARGET": "aws"})
    template = Template.from_json(template_data[env])
    template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": settings.bulk.worker_function, "Handler": "paybatch.bulk.handler.lambda_handler", "Runtime": "python3.11"})
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "BatchSize": 1, "FunctionResponseTypes": ["ReportBatchItemFailures"]})
    template.has_resource_properties("AWS::Events::Rule", {"EventPattern": Match.object_like({
        "source": ["aws.glue"], "detail-type": ["Glue Job State Change"],
        "detail": Match.object_like({"jobName": [settings.glue.jobs.generate, settings.glue.jobs.convert,
                                                 settings.glue.jobs.convert_light]})})})
    template.has_resource_properties("AWS::Events::Rule", {"Name": f"paybatch-{env}-bulk-watch",
                                                           "ScheduleExpression": f"rate({settings.lambda_.schedule_minutes} minutes)"})
    for name in (f"paybatch-{env}-bulk-run-failed", f"paybatch-{env}-bulk-run-timed-out", f"paybatch-{env}-bulk-work-dlq-not-empty"):
        template.has_resource_properties("AWS::CloudWatch::Alarm", {"AlarmName": name})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"AlarmName": f"paybatch-{env}-bulk-run-failed",
                                                                "MetricName": "ExecutionsFailed", "Namespace": "AWS/States"})
    template.has_resource_properties("AWS::SQS::Queue", {"QueueName": settings.bulk.work_queue,
                                                         "RedrivePolicy": Match.object_like({"maxReceiveCount": Match.any_value()})})


def statelint(path: Path) -> list[str]:
    """statelint's findings on one file (it prints "One error:" or "N errors:", then one finding per line)."""
    result = subprocess.run([str(Path(sys.executable).parent / "statelint"), str(path)], capture_output=True, text=True, timeout=60)
    findings = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    findings = [f for f in findings if not re.fullmatch(r"(One|\d+) errors?:", f)]
    assert bool(findings) == (result.returncode != 0), result.stdout + result.stderr
    return findings


def test_statelint_finds_nothing_but_its_one_known_gap(tmp_path: Path) -> None:
    """statelint 3.1 predates the Distributed Map's ReaderConfig.InputType, which AWS needs to read a JSON array
    (the CDK's own S3JsonItemReader emits it: next test); any other finding fails, and the file without it is clean."""
    known = 'Field "InputType" not allowed in State Machine.States.ProcessChunks.ItemReader.ReaderConfig'
    assert statelint(definition_path()) == [known]
    data = parsed()
    del data["States"]["ProcessChunks"]["ItemReader"]["ReaderConfig"]
    (tmp_path / "without.json").write_text(json.dumps(data))
    assert statelint(tmp_path / "without.json") == []
    data["States"]["Validate"]["Default"] = "NoSuchState"  # and it does find real errors
    (tmp_path / "broken.json").write_text(json.dumps(data))
    assert statelint(tmp_path / "broken.json")


def test_item_reader_is_what_the_cdk_emits_for_a_json_array() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_stepfunctions as sfn

    stack = cdk.Stack(cdk.App(), "probe")
    rendered = stack.resolve(sfn.S3JsonItemReader(bucket_name_path="$.chunks.bucket", key="k").render())
    ours = parsed()["States"]["ProcessChunks"]["ItemReader"]
    assert ours["Resource"].endswith(":states:::s3:getObject") and "getObject" in json.dumps(rendered["Resource"])
    assert ours["ReaderConfig"] == rendered["ReaderConfig"] == {"InputType": "JSON"}


def test_placeholders_must_all_be_filled() -> None:
    settings = load_settings("dev")
    values = local_substitutions(settings, "http://127.0.0.1:1/000000000000/q")
    json.loads(render(values))
    assert "${" not in render(values)
    with pytest.raises(PaybatchError, match="missing"):
        render({"WorkQueueUrl": "x"})
    with pytest.raises(PaybatchError, match="unknown"):
        render({**values, "Extra": "y"})
    with pytest.raises(ValueError):
        render({**values, "BulkTable": 'a"b'})  # a value that would break the JSON
    assert placeholders(definition_text()) == {"WorkQueueUrl", "BulkTable"}
