"""The CDK stack of one environment, built from the same Settings and resource specs as the local stack.

Names, keys, indexes, TTL, queue policies and Glue job arguments come from ``paybatch.resources``,
so a laptop and AWS cannot drift (tests/deploy/test_parity.py checks it). Every checkov finding
that is not fixed is suppressed here, on the resource, with a one-line reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from paybatch import constants
from paybatch.bulk.definition import definition_path, execution_role_name
from paybatch.config import Settings
from paybatch.lake_tables import lake_table_inputs
from paybatch.ops.lambdas import (
    BULK_WORKER_CONCURRENCY,
    SCREENING_API_CONCURRENCY,
    SCREENING_API_HANDLER,
    SCREENING_API_MEMORY_MB,
    bulk_worker_role_name,
    lambda_environment,
    lambda_role_name,
    screening_api_role_name,
)
from paybatch.ops.package import LAMBDA_RUNTIMES
from paybatch.resources import (
    bucket_names,
    glue_job_specs,
    glue_role_name,
    glue_script_key,
    queue_specs,
    table_specs,
)
from paybatch.retention import CONVERTED_TAG, lifecycle_rule

OLDEST_PENDING_ALARM_SECONDS = 3600


def skip_checks(resource: cdk.CfnResource | Construct, *checks: tuple[str, str]) -> None:
    """Suppress checkov findings on one resource, each with its reason (read by checkov from Metadata)."""
    cfn = resource if isinstance(resource, cdk.CfnResource) else resource.node.default_child
    assert isinstance(cfn, cdk.CfnResource)
    cfn.add_metadata("checkov", {"skip": [{"id": cid, "comment": why} for cid, why in checks]})


class PaybatchStack(cdk.Stack):
    """Buckets, tables, queues, the builder and scheduler Lambdas, the Glue jobs, IAM, alarms and a dashboard."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, lambda_code: Path, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.buckets = self._buckets()
        self.tables = self._tables()
        self.queues = self._queues()
        self._notifications()
        self.glue_role = self._glue_role()
        self.glue_jobs = self._glue_jobs()
        self._catalog()
        self.builder, self.scheduler = self._lambdas(lambda_code)
        self.screening_api = self._screening(lambda_code)
        self.bulk_machine, self.bulk_worker = self._bulk(lambda_code)
        self._alarms_and_dashboard()

    # --- storage -------------------------------------------------------------------------------
    def _buckets(self) -> dict[str, s3.Bucket]:
        expire = {"quarantine": 90, "manifest": 90}
        buckets = {}
        for role, name in bucket_names(self.settings).items():
            rules = [s3.LifecycleRule(id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1))]
            if role in expire:
                rules.append(s3.LifecycleRule(id="expire", expiration=cdk.Duration.days(expire[role])))
            if role == "artifacts":
                rules.append(s3.LifecycleRule(id="expire-glue-temp", prefix="glue/tmp/", expiration=cdk.Duration.days(7)))
            retention = lifecycle_rule(self.settings)
            if role == "input" and retention:  # converted raw input only: the tag a run sets (paybatch.retention)
                rules.append(s3.LifecycleRule(id=retention["ID"], tag_filters={CONVERTED_TAG: "true"},
                                              expiration=cdk.Duration.days(retention["Expiration"]["Days"])))
            bucket = s3.Bucket(
                self, f"{role}-bucket", bucket_name=name, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, lifecycle_rules=rules,
                versioned=role in ("restricted", "artifacts"), removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            skip_checks(bucket, ("CKV_AWS_18", "access logging goes to CloudTrail data events, configured per account"),
                        *([("CKV_AWS_21", "pipeline data is immutable per key and reproducible; versioning only doubles cost")]
                          if role not in ("restricted", "artifacts") else []))
            buckets[role] = bucket
        return buckets

    def _tables(self) -> dict[str, ddb.Table]:
        tables = {}
        for spec in table_specs(self.settings):
            table = ddb.Table(
                self, f"{spec.role}-table", table_name=spec.name,
                partition_key=ddb.Attribute(name=spec.partition_key, type=ddb.AttributeType.STRING),
                sort_key=ddb.Attribute(name=spec.sort_key, type=ddb.AttributeType.STRING),
                billing_mode=ddb.BillingMode.PAY_PER_REQUEST, time_to_live_attribute=spec.ttl_attribute,
                point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
                encryption=ddb.TableEncryption.AWS_MANAGED, removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            skip_checks(table, ("CKV_AWS_119", "encrypted at rest with the AWS-managed key; the items hold file names and "
                                               "counts, no card data, so a customer-managed key adds cost without a requirement"))
            for index in spec.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=ddb.Attribute(name=index.partition_key, type=ddb.AttributeType.STRING),
                    sort_key=ddb.Attribute(name=index.sort_key, type=ddb.AttributeType.STRING),
                )
            tables[spec.role] = table
        return tables

    def _queues(self) -> dict[str, sqs.Queue]:
        queues: dict[str, sqs.Queue] = {}
        by_name: dict[str, sqs.Queue] = {}
        for spec in queue_specs(self.settings):  # each DLQ comes first, so the queue it serves can name it
            dead_letter = (sqs.DeadLetterQueue(queue=by_name[spec.dead_letter_queue], max_receive_count=spec.max_receive_count or 3)
                           if spec.dead_letter_queue else None)
            queues[spec.role] = sqs.Queue(
                self, f"{spec.role}-queue", queue_name=spec.name, visibility_timeout=cdk.Duration.seconds(spec.visibility_timeout_seconds),
                retention_period=cdk.Duration.seconds(spec.retention_seconds), encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True, dead_letter_queue=dead_letter,
            )
            by_name[spec.name] = queues[spec.role]
            skip_checks(queues[spec.role], ("CKV_AWS_27", "encrypted with SSE-SQS (SqsManagedSseEnabled); checkov looks only for "
                                                          "a KMS key, and the AWS-managed KMS key would block S3 event delivery"))
        return queues

    def _notifications(self) -> None:
        """Input bucket → ingest queue for ObjectCreated and ObjectRemoved, set on the bucket itself (no custom resource)."""
        ingest, bucket = self.queues["ingest"], self.buckets["input"]
        ingest.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("s3.amazonaws.com")], actions=["sqs:SendMessage"], resources=[ingest.queue_arn],
            # The bucket's name, not a Ref to it: a Ref would make the policy and the bucket depend on each other.
            conditions={"ArnLike": {"aws:SourceArn": f"arn:{cdk.Aws.PARTITION}:s3:::{self.settings.buckets.input}"},
                        "StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}},
        ))
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(queue_configurations=[
            s3.CfnBucket.QueueConfigurationProperty(event=event, queue=ingest.queue_arn)
            for event in ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
        ])
        policy = ingest.node.try_find_child("Policy")
        if policy is not None:
            bucket.node.add_dependency(policy)  # S3 tests the queue policy when the notification is set

    # --- compute -------------------------------------------------------------------------------
    def _data_access(self, grantee: iam.IGrantable) -> None:
        for role in ("input", "manifest", "output", "quarantine", "artifacts"):
            self.buckets[role].grant_read_write(grantee)
        for table in self.tables.values():
            table.grant_read_write_data(grantee)
        self.queues["completion"].grant_send_messages(grantee)

    def _glue_role(self) -> iam.Role:
        role = iam.Role(self, "glue-role", role_name=glue_role_name(self.settings),
                        assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
                        description="Glue jobs of paybatch: conversion and generation")
        # What a Glue job needs to run, named action by action (AWSGlueServiceRole would grant glue:* and more).
        logs = f"arn:{cdk.Aws.PARTITION}:logs:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:log-group:/aws-glue/*"
        role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                                                        "logs:AssociateKmsKey"], resources=[logs, f"{logs}:*"]))
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:PutMetricData"], resources=["*"],
                                               conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}}))
        catalog = f"arn:{cdk.Aws.PARTITION}:glue:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}"
        role.add_to_policy(iam.PolicyStatement(  # --enable-glue-datacatalog: read-only lookups
            actions=["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition",
                     "glue:GetPartitions"],
            resources=[f"{catalog}:catalog", f"{catalog}:database/*", f"{catalog}:table/*"]))
        self._data_access(role)
        for family in ("lake", "lake_authorization", "lake_clearing", "lake_chargeback", "restricted"):
            self.buckets[family].grant_read_write(role)
        key = self.settings.generator.pan_hash_key
        if key.startswith("ssm:"):
            role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[
                f"arn:{cdk.Aws.PARTITION}:ssm:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:parameter{key[4:]}"]))
        elif key.startswith("secretsmanager:"):
            role.add_to_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[
                f"arn:{cdk.Aws.PARTITION}:secretsmanager:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:secret:{key[15:]}*"]))
        return role

    def _glue_jobs(self) -> dict[str, glue.CfnJob]:
        g = self.settings.glue
        jobs = {}
        artifacts = self.settings.buckets.artifacts  # a name, not a token: scripts are uploaded by deploy-glue.sh
        for spec in glue_job_specs(self.settings):
            command = glue.CfnJob.JobCommandProperty(
                name=spec.command, script_location=f"s3://{artifacts}/{glue_script_key(spec)}",
                python_version="3")
            common: dict[str, Any] = dict(
                name=spec.name, role=self.glue_role.role_arn, command=command, default_arguments=spec.default_arguments,
                execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=spec.max_concurrent_runs),
                max_retries=g.max_retries, timeout=g.timeout_minutes, description=f"paybatch {spec.role} ({self.settings.env})")
            worker_type, workers = spec.workers or (g.worker_type, g.number_of_workers)
            job = glue.CfnJob(self, f"{spec.role}-job", glue_version=g.version, worker_type=worker_type,
                              number_of_workers=workers, **common)
            skip_checks(job, ("CKV_AWS_195", "data at rest is SSE-S3 on every bucket; a KMS security configuration is optional"))
            jobs[spec.role] = job
        return jobs

    def _catalog(self) -> None:
        """The Glue databases, the generator's lake tables (partition projection) and the maintain job's schedule.

        The Iceberg tables are created by the first run that commits to each (paybatch.iceberg.catalog), so their
        schema stays with the dataset YAML; the Glue role may create and update tables in that database only.
        """
        c = self.settings.catalog
        databases = {}
        for name, what in ((c.database, "converted tables (Apache Iceberg)"), (c.lake_database, "generator lake tables")):
            databases[name] = glue.CfnDatabase(self, f"{name}-database", catalog_id=cdk.Aws.ACCOUNT_ID,
                                               database_input=glue.CfnDatabase.DatabaseInputProperty(
                                                   name=name, description=f"paybatch {self.settings.env}: {what}"))
        for table_input in lake_table_inputs(self.settings):  # the same TableInput local provisioning creates
            table = cdk.CfnResource(self, f"lake-{table_input['Name']}-table", type="AWS::Glue::Table", properties={
                "CatalogId": cdk.Aws.ACCOUNT_ID, "DatabaseName": c.lake_database, "TableInput": table_input})
            table.node.add_dependency(databases[c.lake_database])
        catalog = f"arn:{cdk.Aws.PARTITION}:glue:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}"
        self.glue_role.add_to_policy(iam.PolicyStatement(  # Iceberg commits: the converted tables' database only
            actions=["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable"],
            resources=[f"{catalog}:catalog", f"{catalog}:database/{c.database}", f"{catalog}:table/{c.database}/*"]))
        hours = max(1, round(c.maintain_every_minutes / 60))
        trigger = glue.CfnTrigger(self, "maintain-trigger", name=f"paybatch-{self.settings.env}-maintain-tables", type="SCHEDULED",
                        schedule=f"cron(15 */{hours} * * ? *)", start_on_creation=True,
                        actions=[glue.CfnTrigger.ActionProperty(job_name=self.settings.glue.jobs.maintain)],
                        description="Iceberg housekeeping: expire snapshots, compact, remove orphan files")
        trigger.node.add_dependency(self.glue_jobs["maintain"])

    def _lambdas(self, code_dir: Path) -> tuple[lambda_.Function, lambda_.Function]:
        lam = self.settings.lambda_
        environment = lambda_environment(self.settings)
        lambda_role = iam.Role(self, "lambda-role", role_name=lambda_role_name(self.settings),
                        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaBasicExecutionRole")])
        self._data_access(lambda_role)
        lambda_role.add_to_policy(iam.PolicyStatement(
            actions=["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns"],
            resources=[f"arn:{cdk.Aws.PARTITION}:glue:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:job/{job.name}"
                       for job in self.glue_jobs.values()]))
        functions = []
        for role, name, handler in (("builder", lam.builder_function, constants.BUILDER_HANDLER),
                                    ("scheduler", lam.scheduler_function, constants.SCHEDULER_HANDLER)):
            function = lambda_.Function(
                self, f"{role}-function", function_name=name, runtime=lambda_.Runtime.PYTHON_3_11, handler=handler,
                code=lambda_.Code.from_asset(str(code_dir / role)),
                memory_size=lam.memory_mb, timeout=cdk.Duration.seconds(lam.timeout_seconds),
                reserved_concurrent_executions=lam.reserved_concurrency if role == "builder" else 1,
                environment=environment, tracing=lambda_.Tracing.ACTIVE, role=lambda_role,
                description=f"paybatch {role} ({self.settings.env})",
            )
            skip_checks(function, ("CKV_AWS_116", "failed SQS records go to the queue's own DLQ (redrive policy)"),
                        ("CKV_AWS_117", "talks only to S3, DynamoDB, SQS and Glue public endpoints; no VPC resources"),
                        ("CKV_AWS_173", "environment holds names and caps only, no secrets"))
            functions.append(function)
        builder, scheduler = functions
        builder.add_event_source(sources.SqsEventSource(self.queues["ingest"], batch_size=lam.batch_size,
                                                        report_batch_item_failures=True))
        events.Rule(self, "scheduler-rule", rule_name=f"paybatch-{self.settings.env}-scheduler",
                    schedule=events.Schedule.rate(cdk.Duration.minutes(lam.schedule_minutes)),
                    targets=[targets.LambdaFunction(scheduler)])
        return builder, scheduler

    def _screening(self, code_dir: Path) -> lambda_.Function:
        """Sanctions screening: the Glue job's alert queues and webhook key, the nightly rule, the real-time API."""
        sc = self.settings.screening
        for name in ("screening_alerts", "screening_alerts_dlq"):
            self.queues[name].grant_send_messages(self.glue_role)
        secret = sc.webhook_secret or ""
        if secret.startswith("ssm:"):
            self.glue_role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[
                f"arn:{cdk.Aws.PARTITION}:ssm:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:parameter{secret[4:]}"]))
        elif secret.startswith("secretsmanager:"):
            self.glue_role.add_to_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[
                f"arn:{cdk.Aws.PARTITION}:secretsmanager:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:secret:{secret[15:]}*"]))
        # Nightly: the rule asks the scheduler Lambda (which may start Glue runs) to start the screening job.
        events.Rule(self, "screening-rule", rule_name=f"paybatch-{self.settings.env}-screening-nightly",
                    schedule=events.Schedule.expression(sc.schedule),
                    targets=[targets.LambdaFunction(self.scheduler, event=events.RuleTargetInput.from_object(
                        {"action": "screen-customers"}))])
        # The real-time API: reads the stored lists, nothing else.
        role = iam.Role(self, "screening-api-role", role_name=screening_api_role_name(self.settings),
                        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaBasicExecutionRole")])
        self.buckets["artifacts"].grant_read(role, "screening/lists/*")
        function = lambda_.Function(
            self, "screening-api-function", function_name=sc.api_function, runtime=lambda_.Runtime(LAMBDA_RUNTIMES["screening-api"]),
            handler=SCREENING_API_HANDLER,
            code=lambda_.Code.from_asset(str(code_dir / "screening-api")), memory_size=SCREENING_API_MEMORY_MB,
            timeout=cdk.Duration.seconds(30), environment=lambda_environment(self.settings), tracing=lambda_.Tracing.ACTIVE,
            role=role, reserved_concurrent_executions=SCREENING_API_CONCURRENCY,
            description=f"paybatch sanctions screening API ({self.settings.env})")
        skip_checks(function, ("CKV_AWS_116", "invoked synchronously through its URL: no asynchronous events to dead-letter"),
                    ("CKV_AWS_117", "reads the list from S3 only; no VPC resources"),
                    ("CKV_AWS_173", "environment holds names and caps only, no secrets"))
        url = function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        cdk.CfnOutput(self, "screening-api-url", value=url.url, description="POST /screen with 1-100 names (SigV4-signed)")
        return function

    def _bulk(self, code_dir: Path) -> tuple[sfn.StateMachine, lambda_.Function]:
        """Bulk runs: the state machine (the repository's ASL file), its worker Lambda, their roles, logs and triggers."""
        b, env = self.settings.bulk, self.settings.env
        work, table, artifacts = self.queues["bulk_work"], self.tables["bulk"], self.buckets["artifacts"]
        arn = f"arn:{cdk.Aws.PARTITION}:states:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}"
        machine_arn = f"{arn}:stateMachine:{b.state_machine}"  # by name: a token would make the role and machine depend on each other
        # The state machine's role: send chunk tasks, read its chunk lists, mark a chunk that gave up, run its map's children.
        role = iam.Role(self, "bulk-states-role", role_name=execution_role_name(self.settings),
                        assumed_by=iam.ServicePrincipal("states.amazonaws.com"), description="paybatch bulk state machine")
        work.grant_send_messages(role)
        artifacts.grant_read(role, "bulk/*")
        role.add_to_policy(iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[table.table_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"],
                                               resources=[f"{arn}:execution:{b.state_machine}/*"]))
        log_group = logs.LogGroup(self, "bulk-log-group", log_group_name=f"/aws/vendedlogs/states/{b.state_machine}",
                                  retention=logs.RetentionDays.THREE_MONTHS, removal_policy=cdk.RemovalPolicy.RETAIN)
        skip_checks(log_group, ("CKV_AWS_158", "execution logs hold run ids and errors (ERROR level, no execution data); "
                                               "the service key encrypts them"))
        machine = sfn.StateMachine(
            self, "bulk-state-machine", state_machine_name=b.state_machine, state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(definition_path())),
            definition_substitutions={"WorkQueueUrl": work.queue_url, "BulkTable": table.table_name},
            role=role, tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ERROR, include_execution_data=False))
        # The worker: chunk tasks from the queue, Glue's state changes, and a schedule for heartbeats.
        worker_role = iam.Role(self, "bulk-worker-role", role_name=bulk_worker_role_name(self.settings),
                               assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                               managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaBasicExecutionRole")])
        for name in ("bulk", "tracking", "metrics"):
            self.tables[name].grant_read_write_data(worker_role)
        if "lock" in self.tables:
            self.tables["lock"].grant_read_write_data(worker_role)
        self.buckets["manifest"].grant_read_write(worker_role)
        artifacts.grant_read_write(worker_role, "bulk/*")
        self.queues["completion"].grant_send_messages(worker_role)
        jobs = [self.glue_jobs[job].name for job in ("generate", "convert", "convert_light")]
        worker_role.add_to_policy(iam.PolicyStatement(
            actions=["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            resources=[f"arn:{cdk.Aws.PARTITION}:glue:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:job/{job}" for job in jobs]))
        worker_role.add_to_policy(iam.PolicyStatement(
            actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"], resources=[machine_arn]))
        worker_role.add_to_policy(iam.PolicyStatement(actions=["states:DescribeExecution"],
                                                      resources=[f"{arn}:execution:{b.state_machine}:*"]))
        lam = self.settings.lambda_
        worker = lambda_.Function(
            self, "bulk-worker-function", function_name=b.worker_function, runtime=lambda_.Runtime.PYTHON_3_11,
            handler=constants.BULK_WORKER_HANDLER, code=lambda_.Code.from_asset(str(code_dir / "bulk-worker")), memory_size=lam.memory_mb,
            timeout=cdk.Duration.seconds(lam.timeout_seconds), environment=lambda_environment(self.settings),
            tracing=lambda_.Tracing.ACTIVE, role=worker_role, reserved_concurrent_executions=BULK_WORKER_CONCURRENCY,
            description=f"paybatch bulk worker ({env})")
        skip_checks(worker, ("CKV_AWS_116", "failed work-queue records go to the queue's own DLQ (redrive policy)"),
                    ("CKV_AWS_117", "talks only to S3, DynamoDB, SQS, Glue and Step Functions public endpoints; no VPC resources"),
                    ("CKV_AWS_173", "environment holds names and caps only, no secrets"))
        worker.add_event_source(sources.SqsEventSource(work, batch_size=1, report_batch_item_failures=True))
        events.Rule(self, "bulk-job-state-rule", rule_name=f"paybatch-{env}-bulk-job-state", event_pattern=events.EventPattern(
            source=["aws.glue"], detail_type=["Glue Job State Change"],
            detail={"jobName": jobs, "state": ["SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"]}),
            targets=[targets.LambdaFunction(worker)])
        events.Rule(self, "bulk-watch-rule", rule_name=f"paybatch-{env}-bulk-watch",
                    schedule=events.Schedule.rate(cdk.Duration.minutes(lam.schedule_minutes)), targets=[targets.LambdaFunction(worker)])
        for metric, what in ((machine.metric_failed(period=cdk.Duration.minutes(5)), "failed"),
                             (machine.metric_timed_out(period=cdk.Duration.minutes(5)), "timed-out")):
            cw.Alarm(self, f"bulk-{what}-alarm", alarm_name=f"paybatch-{env}-bulk-run-{what}", metric=metric, threshold=0,
                     comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=1,
                     treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                     alarm_description=f"A bulk run's execution {what}: paybatch bulk list, then bulk status RUN --chunks")
        cw.Alarm(self, "bulk-dlq-alarm", alarm_name=f"paybatch-{env}-bulk-work-dlq-not-empty",
                 metric=self.queues["bulk_work_dlq"].metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(5)),
                 threshold=0, comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=1,
                 alarm_description="Chunk tasks the bulk worker could not take after retries: its log says why")
        cdk.CfnOutput(self, "bulk-state-machine-arn", value=machine.state_machine_arn, description="paybatch bulk runs")
        return machine, worker

    # --- operations ----------------------------------------------------------------------------
    def _alarms_and_dashboard(self) -> None:
        env = self.settings.env
        dlq_depth = self.queues["dlq"].metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(5))
        cw.Alarm(self, "dlq-alarm", alarm_name=f"paybatch-{env}-dlq-not-empty", metric=dlq_depth, threshold=0,
                 comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=1,
                 alarm_description="File events the builder could not handle after retries: run diagnose-pipeline.sh")
        failed_rule = events.Rule(self, "failed-runs-rule", rule_name=f"paybatch-{env}-failed-glue-runs", event_pattern=events.EventPattern(
            source=["aws.glue"], detail_type=["Glue Job State Change"],
            detail={"jobName": [job.name for job in self.glue_jobs.values()], "state": ["FAILED", "TIMEOUT", "ERROR"]}))
        failed_runs = cw.Metric(namespace="AWS/Events", metric_name="TriggeredRules", statistic="Sum",
                                dimensions_map={"RuleName": failed_rule.rule_name}, period=cdk.Duration.minutes(5))
        cw.Alarm(self, "failed-runs-alarm", alarm_name=f"paybatch-{env}-failed-glue-runs", metric=failed_runs, threshold=0,
                 comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=1,
                 treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                 alarm_description="A conversion or generation run failed: run check-glue-errors.sh")
        oldest = cw.Metric(namespace="paybatch", metric_name="oldest_pending_file_age_seconds", statistic="Maximum",
                           dimensions_map={"service": "scheduler"}, period=cdk.Duration.minutes(5))
        cw.Alarm(self, "oldest-pending-alarm", alarm_name=f"paybatch-{env}-oldest-pending-file", metric=oldest,
                 threshold=OLDEST_PENDING_ALARM_SECONDS, comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                 evaluation_periods=2, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                 alarm_description="A file has waited over an hour to be packed: run monitor-pipeline.sh")
        dashboard = cw.Dashboard(self, "dashboard", dashboard_name=f"paybatch-{env}")
        ingest = self.queues["ingest"]
        dashboard.add_widgets(
            cw.GraphWidget(title="file events", left=[ingest.metric_approximate_number_of_messages_visible(),
                                                      ingest.metric_approximate_age_of_oldest_message()], right=[dlq_depth]),
            cw.GraphWidget(title="builder", left=[self.builder.metric_invocations(), self.builder.metric_errors()],
                           right=[self.builder.metric_duration()]),
            cw.GraphWidget(title="pipeline", left=[oldest, failed_runs]),
        )
