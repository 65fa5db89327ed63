"""The local provisioner and the CDK stack define the same resources: names, keys, GSIs, TTL, queues, jobs."""

from __future__ import annotations

from typing import Any

from paybatch.aws import AwsClients
from paybatch.local.provision import describe_resources
from paybatch.resources import glue_job_specs


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
    machines = {p["StateMachineName"] for p in by_type(stack, "AWS::StateMachine") + by_type(stack, "AWS::StepFunctions::StateMachine")}
    assert {m["name"] for m in local["state_machines"].values() if m["exists"]} == machines == {clients.settings.bulk.state_machine}


def test_catalog_databases_lake_tables_and_input_retention_agree(template_data: dict[str, dict[str, Any]], clients: AwsClients) -> None:
    settings = clients.settings
    stack = template_data[settings.env]
    assert {p["DatabaseInput"]["Name"] for p in by_type(stack, "AWS::Glue::Database")} == {
        d["Name"] for d in clients.glue.get_databases()["DatabaseList"]}
    local = {t["Name"]: t for t in clients.glue.get_tables(DatabaseName=settings.catalog.lake_database)["TableList"]}
    cfn = {p["TableInput"]["Name"]: p["TableInput"] for p in by_type(stack, "AWS::Glue::Table")}
    assert set(local) == set(cfn)
    for name, table in cfn.items():
        assert local[name]["Parameters"] == table["Parameters"]
        assert local[name]["PartitionKeys"] == table["PartitionKeys"]
        assert local[name]["StorageDescriptor"]["Location"] == table["StorageDescriptor"]["Location"]
    rules = clients.s3.get_bucket_lifecycle_configuration(Bucket=settings.buckets.input)["Rules"]
    local_expiry = next(r for r in rules if r["ID"] == "expire-converted-input")
    [input_bucket] = [p for p in by_type(stack, "AWS::S3::Bucket") if p["BucketName"] == settings.buckets.input]
    [cfn_expiry] = [r for r in input_bucket["LifecycleConfiguration"]["Rules"] if r.get("Id") == "expire-converted-input"]
    assert cfn_expiry["ExpirationInDays"] == local_expiry["Expiration"]["Days"]
    assert cfn_expiry["TagFilters"] == [{"Key": "paybatch-converted", "Value": "true"}]
    jobs = {p["Name"]: p for p in by_type(stack, "AWS::Glue::Job")}
    for job in (settings.glue.jobs.convert, settings.glue.jobs.convert_light, settings.glue.jobs.maintain):
        assert "pyiceberg==" in jobs[job]["DefaultArguments"]["--additional-python-modules"]
    for spec in glue_job_specs(settings):  # the stack's jobs carry exactly the modules local provisioning gives them
        assert jobs[spec.name]["DefaultArguments"]["--additional-python-modules"] == spec.default_arguments["--additional-python-modules"]
