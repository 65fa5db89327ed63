"""The Glue jobs on a real multi-executor Spark cluster with Glue 5.1's Python (make test-cluster).

Each job runs as Glue starts it (tests/cluster/harness.py) against the session's local endpoint, and its
output is compared with the same work done in local mode by this repository's own environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.contracts.tracking import ManifestStatus
from paybatch.convert.manifest_run import run_in_process
from paybatch.generate.job import generate
from paybatch.generate.plan import GenerationRequest, parse_dates
from paybatch.iceberg.catalog import load
from paybatch.paths import GLUE_JOBS_DIR
from paybatch.resources import GENERATE_MODULES, ICEBERG_MODULES, SCREEN_MODULES
from paybatch.sample_files import sample_file
from tests.cluster.harness import Cluster, jars_present
from tests.integration.builder_support import deliver_all, small_settings

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert jars_present(), "the s3a jars are missing: make setup"
    running = Cluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield running
    finally:
        running.stop()


def job_env(stack: Any, **overrides: str) -> dict[str, str]:
    """The environment a Glue run of this deployment sees (here: the local endpoint of the test session)."""
    names = ("PAYBATCH_TARGET", "PAYBATCH_LOCAL_PORT", "PAYBATCH_STATE_DIR", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_DEFAULT_REGION")
    return {**{n: os.environ[n] for n in names}, "AWS_ENDPOINT_URL": stack.url, **overrides}


def test_two_executors_in_two_worker_jvms_run_glue_python_and_paybatch_from_the_zip(cluster: Cluster, stack: Any) -> None:
    run = cluster.submit(HERE / "probe_job.py", {"tasks": "6"}, job_env=job_env(stack), endpoint_url=stack.url,
                         additional_modules=",".join(ICEBERG_MODULES))
    assert run.returncode == 0, run.stderr[-4000:]
    report = run.result()
    tasks: list[dict[str, Any]] = report["tasks"]  # type: ignore[assignment]
    workers = {Path(t["cwd"]).parts[-3] for t in tasks}  # <work dir>/<app>/<executor>
    executors = {"/".join(Path(t["cwd"]).parts[-3::2]) for t in tasks}
    for t in tasks:
        print(f"task {t['task']}: {'/'.join(Path(t['cwd']).parts[-3:])}  python {t['python']}  numpy {t['numpy']}  "
              f"pyarrow {t['pyarrow']}  paybatch {t['paybatch']}  parser {t['strict_parser']}")
    assert workers == {"worker-0", "worker-1"} and len(executors) == 2, executors
    glue_python = str(tasks[0]["python"])
    assert "/.cache/cluster/glue-5.1-" in glue_python and all(t["python"] == glue_python for t in tasks)
    assert {t["numpy"] for t in tasks} == {"2.3.4"}  # Glue's own numpy, not this repository's
    assert {t["pyarrow"] for t in tasks} == {"25.0.1"}  # the job's --additional-python-modules over Glue's 22
    assert all("paybatch.zip/paybatch/" in t["paybatch"] for t in tasks)  # paybatch reaches executors only by the zip
    assert all(t["strict_parser"] and "paybatch-native-" in t["strict_parser"] for t in tasks)  # copied out of the zip
    assert {t["config_env"] for t in tasks} == {"dev"}  # the environment's config, read from inside the zip
    assert not subprocess.run([glue_python, "-c", "import pyspark"], capture_output=True).returncode == 0, \
        "the executors' Python has no pyspark of its own: Spark puts its own on the path"


def _digests(clients: AwsClients, bucket: str, prefix: str) -> dict[str, str]:
    found = {}
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"][len(prefix):]
            if "/reports/" in f"/{key}" or key.startswith("_"):
                continue
            found[key] = hashlib.sha256(clients.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()).hexdigest()
    return found


def _kill_one_executor_when_busy(cluster: Cluster, stop: threading.Event, killed: list[str]) -> None:
    """Once worker-0's executor of the job now starting has begun a task, SIGKILL its JVM (once).

    Only applications that appear after this starts count (earlier tests' executors left their logs behind).
    """
    earlier = {p.name for p in cluster.worker_dir(0).glob("app-*")}
    while not stop.wait(0.2):
        for log in cluster.worker_dir(0).glob("app-*/*/stderr"):
            if log.parent.parent.name in earlier or "Running task" not in log.read_text(errors="replace"):
                continue
            time.sleep(1.0)
            for pid, cwd in cluster.executor_pids():
                if cwd == str(log.parent):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(cwd)
                    return


def test_generation_on_the_cluster_is_byte_identical_to_local_mode_even_when_an_executor_dies(
        cluster: Cluster, stack: Any, clients: AwsClients, spark: Any) -> None:
    bucket = clients.settings.buckets.lake
    args = {"rows": "1200000", "dates": "2024-05-01..2024-05-04", "seed": "11", "format": "both", "env": "dev",
            "output": f"s3://{bucket}/cluster/", "job_index": "3"}
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_executor_when_busy, args=(cluster, stop, killed), daemon=True)
    killer.start()
    try:
        run = cluster.submit(GLUE_JOBS_DIR / "generate_payments.py", args, job_env=job_env(stack), endpoint_url=stack.url,
                             additional_modules=",".join(GENERATE_MODULES), timeout=900)
    finally:
        stop.set()
        killer.join()
    assert run.returncode == 0, run.stderr[-6000:]
    assert killed, "no executor was killed: the job finished before worker-0 ran a task"
    assert "Lost executor" in run.stderr or "ExecutorLostFailure" in run.stderr or "Removed executor" in run.stderr, \
        run.stderr[-3000:]
    result = run.result()
    quality: dict[str, Any] = result["quality"]  # type: ignore[assignment]
    assert quality["success"], quality["failures"]  # sequences unique and consecutive per date: every row exactly once
    local = generate(clients.settings, GenerationRequest(
        rows=1_200_000, dates=tuple(parse_dates(args["dates"])), seed=11, format="both", output=f"s3://{bucket}/local/",
        job_index=3, quality=False), spark=spark, clients=clients)
    on_cluster, in_local_mode = _digests(clients, bucket, "cluster/"), _digests(clients, bucket, "local/")
    assert len(on_cluster) >= 20 and on_cluster == in_local_mode, set(on_cluster.items()) ^ set(in_local_mode.items())
    assert sum(f["rows"] for f in local.files if f["table"] == "authorization" and f["role"] == "lake") == 1_200_000


def test_conversion_on_the_cluster_matches_the_in_process_run_and_uses_the_compiled_parser(
        cluster: Cluster, stack: Any, clients: AwsClients) -> None:
    overrides = {"MAX_FILES_PER_MANIFEST": "6", "GLUE_JOB_NAME": "not-deployed"}
    settings = small_settings(**overrides)
    app = BuilderApp.create(settings)
    lines = {}
    for i in range(6):
        data = sample_file(900, seed=100 + i, date_prefix="2025-12-23")
        if i == 2:
            data += b'{"broken": \n\xff\xfe not utf-8\n{"sequence_number": "x"}\n'
        key = f"2025-12-23-cluster-{i:03}.ndjson"
        clients.s3.put_object(Bucket=settings.buckets.input, Key=key, Body=data)
        lines[key] = data.count(b"\n")
    deliver_all(app)
    [manifest] = app.store.all_manifests()
    date, batch = manifest["manifest_date"], manifest["batch_id"]
    app.moves.move_manifest(date, batch, ManifestStatus.RUNNING, expected=ManifestStatus.QUEUED)
    env = job_env(stack, **{k: v for k, v in os.environ.items() if k in ("EXPECTED_FILE_SIZE_MB", "SIZE_TOLERANCE_PERCENT")},
                  **{"EXPECTED_FILE_SIZE_MB": str(1 / 1024), "SIZE_TOLERANCE_PERCENT": "50", **overrides})
    run = cluster.submit(GLUE_JOBS_DIR / "convert_manifest.py", {"manifest_path": manifest["manifest_path"], "env": "dev"},
                         job_env=env, endpoint_url=stack.url, additional_modules=",".join(ICEBERG_MODULES))
    assert run.returncode == 0, run.stderr[-6000:]
    result = run.result()
    files: list[dict[str, Any]] = result["files"]  # type: ignore[assignment]
    assert result["status"] == "completed" and result["lines_read"] == sum(lines.values())
    # The compiled parser read the clean files' lines on the executors; it declines the block with the bad lines.
    clean = [f for f in files if not f["source"].endswith("-002.ndjson")]
    assert all(f["strict_lines"] == f["lines_read"] > 0 for f in clean), json.dumps(files)
    assert {Path(f["worker"]).name for f in files} <= {"0", "1"} and len({f["worker"] for f in files}) == 2, files

    def committed() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rows = load(settings, "authorization").scan().to_arrow().drop_columns(["_ingested_at"]).sort_by("sequence_number")
        rejects = load(settings, "authorization_rejects").scan().to_arrow().drop_columns(["_ingested_at"])
        return rows.to_pylist(), sorted(rejects.to_pylist(), key=lambda r: (r["source_file"], r["line_number"]))

    cluster_rows, cluster_rejects = committed()
    # The same manifest again, converted in this process (the light path): the same rows and rejects.
    app.moves.move_manifest(date, batch, ManifestStatus.QUEUED, expected=ManifestStatus.COMPLETED)
    for key in lines:
        app.moves.move_file(date, key, "manifested", expected="completed")  # type: ignore[arg-type]
    run_in_process_result = __import__("paybatch.convert.manifest_run", fromlist=["run_manifest"]).run_manifest(
        settings, manifest["manifest_path"], run_in_process)
    assert run_in_process_result.rows_written == result["rows_written"]
    local_rows, local_rejects = committed()
    assert cluster_rows == local_rows and len(cluster_rows) == result["rows_written"]
    assert cluster_rejects == local_rejects and len(cluster_rejects) == 3


def test_screening_on_the_cluster_finds_what_local_mode_finds(cluster: Cluster, stack: Any, clients: AwsClients, spark: Any,
                                                             tmp_path: Path) -> None:
    from paybatch.screening.bulk import run_screening
    from paybatch.screening.lists import parse, store
    from paybatch.screening.synthetic import negatives, variant, write_ofac_list

    write_ofac_list(tmp_path / "list", 3000, seed=21)
    sanctions = parse(tmp_path / "list")
    store(clients, sanctions)
    rng = __import__("random").Random(2)
    import csv
    import io

    rows = [(c.id, c.name) for c in negatives(2000, seed=5)]
    rows += [(f"p{i}", variant(e.names[0], "typo", rng) or e.names[0]) for i, e in enumerate(rng.sample(sanctions.entries, 60))]
    text = io.StringIO()
    csv.writer(text).writerows([("id", "name"), *rows])
    bucket = clients.settings.buckets.artifacts
    clients.s3.put_object(Bucket=bucket, Key="screening/in/customers.csv", Body=text.getvalue().encode())
    customers = f"s3://{bucket}/screening/in/customers.csv"
    env = job_env(stack)
    run = cluster.submit(GLUE_JOBS_DIR / "screen_customers.py", {"customers": customers, "env": "dev", "alerts": "false",
                                                                  "output": f"s3://{bucket}/screening/cluster"},
                         job_env=env, endpoint_url=stack.url, additional_modules=",".join(SCREEN_MODULES))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    on_cluster = run.result()
    local = run_screening(clients.settings, customers, output=str(tmp_path / "local"), alerts=False, spark=spark)
    assert on_cluster["list_version"] == local.list_version == sanctions.version
    assert on_cluster["matches"] == local.matches > 60 and on_cluster["customers_matched"] == local.customers_matched

    def pairs(table: Any) -> set[tuple[str, str, float]]:
        return {(r["customer_id"], r["entry_id"], r["score"]) for r in table.to_pylist()}

    import pyarrow.parquet as pq

    from paybatch.storage import filesystem_for

    fs, base = filesystem_for(f"s3://{bucket}/screening/cluster", stack.url)
    cluster_table = pq.read_table(f"{base}/matches/run_id={on_cluster['run_id']}", filesystem=fs)
    local_table = pq.read_table(next((tmp_path / "local" / "matches").rglob("*.parquet")))
    assert pairs(cluster_table) == pairs(local_table)
