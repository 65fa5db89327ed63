"""The local provisioner and the CDK stack define the same resources: names, keys, GSIs, TTL, queues, jobs."""

from __future__ import annotations

from typing import Any

from paybatch.aws import AwsClients
from paybatch.local.provision import describe_resources


def by_type(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in data["Resources"].values() if r["Type"] == kind]


def test_local_stack_and_cdk_stack_agree(template_data: dict[str, dict[str, Any]], clients: AwsClients) -> None:
    local = describe_resources(clients)
    stack = template_data[clients.settings.env]
    assert {b["name"] for b in local["buckets"].values()} == {p["BucketName"] for p in by_type(stack, "AWS::S3::Bucket")}
    tables = {p["TableName"]: p for p in by_type(stack, "AWS::DynamoDB::Table")}
    assert {t["name"] for t in local["tables"].values()} == set(tables)
    for entry in local["tables"].values():
        cfn = tables[entry["name"]]
        assert entry["key_schema"] == {k["KeyType"]: k["AttributeName"] for k in cfn["KeySchema"]}
        assert entry["indexes"] == {g["IndexName"]: {k["KeyType"]: k["AttributeName"] for k in g["KeySchema"]}
                                    for g in cfn.get("GlobalSecondaryIndexes", [])}
        assert entry["ttl_attribute"] == cfn.get("TimeToLiveSpecification", {}).get("AttributeName")
    queues = {p["QueueName"]: p for p in by_type(stack, "AWS::SQS::Queue")}
    assert {q["name"] for q in local["queues"].values()} == set(queues)
    assert local["queues"]["ingest"]["redrive_policy"]["maxReceiveCount"] == queues[local["queues"]["ingest"]["name"]][
        "RedrivePolicy"]["maxReceiveCount"]
    jobs = {p["Name"]: p for p in by_type(stack, "AWS::Glue::Job")}
    assert {j["name"] for j in local["glue_jobs"].values()} == set(jobs)
    for job in local["glue_jobs"].values():
        assert job["max_concurrent_runs"] == jobs[job["name"]]["ExecutionProperty"]["MaxConcurrentRuns"]
        assert job["script"].rsplit("/", 1)[1] == jobs[job["name"]]["Command"]["ScriptLocation"].rsplit("/", 1)[1]
