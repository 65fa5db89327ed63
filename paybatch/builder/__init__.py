"""The manifest builder as a library: registration, batching, manifests, locking, quarantine, sweep, scheduler.

``lambda_manifest_builder/`` holds only the Lambda handlers over it. The builder imports nothing from bulk,
screening or ops: what the scheduler hands over to them (is this manifest a bulk run's? retract a failed
batch's rows; keep the tables tidy) comes in as ``paybatch.builder.scheduler.SchedulerHooks``.
"""
