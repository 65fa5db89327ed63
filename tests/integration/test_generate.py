"""The generator on real local Spark and the local endpoint: determinism, sequences, integrity, quality."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from paybatch.aws import AwsClients
from paybatch.errors import ConfigError
from paybatch.generate.cards import LOCAL_PAN_KEY, hash_pan, resolve_hash_key
from paybatch.generate.engine import TaskContext, builder_for
from paybatch.generate.job import generate
from paybatch.generate.plan import GenerationRequest, parse_dates
from paybatch.generate.quality import distribution_frame, lifecycle_frame, run_quality
from paybatch.generate.sequences import DynamoSequenceLedger, SequenceAllocationError
from paybatch.generate.sinks import LocalSink
from paybatch.generate.spec import DEFAULT_SPEC, load_spec
from paybatch.generate.tables import Chunk, decode_dictionaries

DATES = tuple(parse_dates("2024-02-28..2024-03-01"))
LOCAL_KEY = LOCAL_PAN_KEY.encode()  # what `local up` seeds into the dev SSM parameter


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped spec with 5,000-row files and 5,000 cards, so a small run still has several chunks per date."""
    data = yaml.safe_load(DEFAULT_SPEC.read_text())
    data["volumes"].update(rows_per_file=5_000, pans=5_000, merchants=2_000)
    path = tmp_path_factory.mktemp("spec") / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "reports" not in p.parts and not p.name.startswith("_")}


def run(settings: Any, spark: Any, out: Path, spec: str, slices: int, **kwargs: Any) -> Any:
    base: dict[str, Any] = {"rows": 24_000, "dates": DATES, "format": "both", "output": str(out), "spec_path": spec,
                            "quality": False, "ndjson_file_mb": 1}
    return generate(settings, GenerationRequest(**{**base, **kwargs}), spark=spark, slices=slices)


def test_same_request_same_bytes_whatever_the_partitioning_and_one_date_alone(settings, spark, tmp_path, small_spec) -> None:  # type: ignore[no-untyped-def]
    first = run(settings, spark, tmp_path / "a", small_spec, slices=1)
    second = run(settings, spark, tmp_path / "b", small_spec, slices=5)
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert a == b and len(a) > 40
    assert sum(1 for k in a if k.startswith("lake/authorization/2024/02/29/")) == 2  # 8,000 rows in 5,000-row files
    assert first.table_totals() == second.table_totals()
    # One date regenerated alone: the same ranges, the same bytes, nothing else written.
    alone = run(settings, spark, tmp_path / "c", small_spec, slices=2, only_dates=("2024-02-29",))
    c = digests(tmp_path / "c")
    assert c and all("2024/02/29" in k or "2024-02-29" in k or k.startswith("restricted/") for k in c)
    assert all(a[k] == v for k, v in c.items())
    assert [x["date"] for x in alone.allocations] == ["2024-02-29"]
    # A different seed gives different data.
    other = run(settings, spark, tmp_path / "d", small_spec, slices=2, seed=1, format="parquet")
    assert digests(tmp_path / "d")["lake/authorization/2024/02/29/part-j000-c00000.parquet"] != a[
        "lake/authorization/2024/02/29/part-j000-c00000.parquet"]
    assert other.seed == 1


def test_tables_agree_and_no_clear_pan_leaves_the_dimension(settings, spark, tmp_path, small_spec) -> None:  # type: ignore[no-untyped-def]
    result = run(settings, spark, tmp_path, small_spec, slices=2)
    dim = pq.read_table(tmp_path / "restricted/pan_dimension/seed=0/pan_dimension.parquet").to_pylist()
    assert all(row["hash_pan"] == hash_pan(LOCAL_KEY, row["pan"]) for row in dim)
    pans = {row["pan"] for row in dim}
    for path in tmp_path.rglob("*"):
        if path.is_file() and "restricted" not in path.parts:
            text = path.read_bytes()
            assert not any(pan.encode() in text for pan in list(pans)[:2000]), f"clear PAN in {path}"

    def table(name: str) -> pa.Table:
        return pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "lake" / name).rglob("*.parquet")))

    auth, clearing, chargeback = table("authorization"), table("clearing"), table("chargeback")
    assert auth.num_rows == 24_000 and auth.column_names == [f.name for f in load_spec_schema("authorization")]
    seqs = {}
    for row in auth.select(["transaction_id", "sequence_number"]).to_pylist():
        seqs.setdefault(row["transaction_id"][1:9], []).append(row["sequence_number"])
    for date, numbers in seqs.items():  # consecutive from 1000000000000001 within each partition date
        assert sorted(numbers) == list(range(1000000000000001, 1000000000000001 + len(numbers))), date
    assert set(dim_hash for dim_hash in clearing.column("hash_pan").to_pylist()) <= set(auth.column("hash_pan").to_pylist())
    assert chargeback.num_rows == 3 * 8  # 0.1 % of 8,000 per date, exactly
    integrity = lifecycle_frame(auth.to_pandas(), clearing.to_pandas(), "clearing_timestamp")
    assert integrity.all().all()
    for name, parent in (("clearing_hash", clearing), ("chargeback_hash", chargeback), ("authorization_hash", auth)):
        hashed = table(name)
        assert hashed.num_rows == parent.num_rows and len(hashed.column_names) == 4
    # The NDJSON feed holds the same authorization rows, one file per ~1 MiB.
    feed = [json.loads(line) for p in sorted((tmp_path / "input").rglob("*.ndjson")) for line in p.read_text().splitlines()]
    assert len(feed) == 24_000
    assert {r["transaction_id"] for r in feed} == set(auth.column("transaction_id").to_pylist())
    sizes = [p.stat().st_size for p in (tmp_path / "input").rglob("*.ndjson")]
    assert all(0.75 * 2**20 < s < 1.25 * 2**20 for s in sizes), sizes
    assert result.table_totals()["authorization_feed"]["files"] == len(sizes)


def load_spec_schema(name: str) -> Any:
    from paybatch.datasets import load_schema

    return load_schema(name).fields


def test_quality_suite_passes_writes_reports_and_catches_tampering(settings, spark, tmp_path, small_spec) -> None:  # type: ignore[no-untyped-def]
    request = GenerationRequest(rows=12_000, dates=DATES[:2], output=str(tmp_path), spec_path=small_spec)
    result = generate(settings, request, spark=spark)
    assert result.quality and result.quality["success"], result.quality
    docs = Path(result.quality["data_docs"])
    assert docs.is_file() and "partitions" in docs.read_text()
    profile = Path(result.quality["profile"]).read_text()
    assert profile.count("<svg") >= 20 and "transaction_type" in profile
    # Tamper: a clearing row's amount no longer matches its authorization, and a PAN leaks into a text column.
    spec = load_spec(Path(small_spec))
    path = next((tmp_path / "lake" / "clearing").rglob("*.parquet"))
    clearing = pq.read_table(path)
    amounts = clearing.column("amount").to_pylist()
    amounts[0] += 1
    leaked = clearing.column("merchant_id").to_pylist()
    leaked[1] = pq.read_table(tmp_path / "restricted/pan_dimension/seed=0/pan_dimension.parquet").column("pan")[0].as_py()
    clearing = clearing.set_column(clearing.column_names.index("amount"), "amount", pa.array(amounts))
    clearing = clearing.set_column(clearing.column_names.index("merchant_id"), "merchant_id", pa.array(leaked))
    pq.write_table(clearing, path)
    outcome = run_quality(spec, LocalSink(tmp_path), result, tmp_path / "reports2", max_rows=100_000, key=LOCAL_KEY)
    assert not outcome["success"]
    text = "\n".join(outcome["failures"])
    assert "same_amount_currency" in text and "clear_pans" in text, text


def test_quality_suite_checks_only_the_tables_a_run_generated(settings, spark, tmp_path, small_spec) -> None:  # type: ignore[no-untyped-def]
    """`--tables authorization` (a documented flag) once ended in a KeyError from the lifecycle suites."""
    request = GenerationRequest(rows=6_000, dates=DATES[:1], output=str(tmp_path), spec_path=small_spec, tables=("authorization",))
    result = generate(settings, request, spark=spark)
    assert result.quality and result.quality["success"], result.quality["failures"]
    assert set(result.quality["suites"]) == {"authorization", "distributions", "partitions", "no_clear_pans"}
    assert result.quality["suites_skipped"] == {
        "clearing_lifecycle": "clearing was not generated", "chargeback_lifecycle": "chargeback was not generated",
        "hash_tables": "no _hash table was generated beside its parent", "pan_dimension": "pan_dimension was not generated"}
    # The sequence checks still bite on what was generated: a duplicated sequence number fails the run's suite.
    path = next((tmp_path / "lake" / "authorization").rglob("*.parquet"))
    table = pq.read_table(path)
    seq = table.column("sequence_number").to_pylist()
    seq[1] = seq[0]
    pq.write_table(table.set_column(table.column_names.index("sequence_number"), "sequence_number", pa.array(seq, pa.int64())), path)
    outcome = run_quality(load_spec(Path(small_spec)), LocalSink(tmp_path), result, tmp_path / "r2", max_rows=100_000, key=LOCAL_KEY)
    assert not outcome["success"] and any("partitions" in f for f in outcome["failures"]), outcome["failures"]


def test_distributions_on_a_million_rows() -> None:
    spec = load_spec()
    context = TaskContext(spec, 0, LOCAL_KEY, LocalSink(Path("/nonexistent")))
    tables = builder_for(context).build(Chunk("2024-06-01", 1000000000000001, 1_000_000, 0, 1_000_000, 0))
    auth = decode_dictionaries(tables["authorization"]).to_pandas()
    bands = distribution_frame(spec, auth)
    outside = bands[(bands["observed"] < bands["low"]) | (bands["observed"] > bands["high"])]
    assert outside.empty, outside.to_string()
    assert set(bands["dimension"]) >= {"transaction_type", "card_network", "null_rate", "settlement_rate", "median_amount", "event_time"}
    assert int(auth["is_fraud"].sum()) == 3_000 and tables["chargeback"].num_rows == 1_000  # exact, not approximate
    cash = auth[auth["transaction_type"] == "CASH_ADVANCE"]
    assert set(cash["response_code"]) == {"00", "85"} and set(cash["mcc"].dropna()) == {"6011"}
    assert set(auth.loc[auth["transaction_type"] == "BALANCE_TRANSFER", "response_code"]) == {"00", "87"}
    assert (auth.loc[auth["approved"], "decline_reason"].isna()).all() and auth.loc[~auth["approved"], "decline_reason"].notna().all()
    assert (auth["risk_alert"] == (auth["amount"] >= auth["transaction_type"].map(
        {k: v.risk_alert_amount for k, v in spec.transaction_types.items()}))).all()
    clearing = decode_dictionaries(tables["clearing"]).to_pandas()
    assert lifecycle_frame(auth, clearing, "clearing_timestamp").all().all()
    refunds = auth[(auth["transaction_type"] == "REFUND") & auth["approved"]]
    assert abs(refunds["settlement_date"].notna().mean() - 0.90) < 0.01


def test_environment_buckets_counter_table_and_retry_reuse(clients: AwsClients, spark) -> None:  # type: ignore[no-untyped-def]
    settings = clients.settings
    request = GenerationRequest(rows=40_000, dates=("2024-04-01", "2024-04-02"), format="both", quality=False,
                                tables=("authorization", "clearing", "pan_dimension"))
    first = generate(settings, request, spark=spark, clients=clients)
    b = settings.buckets
    def keys(bucket: str) -> dict[str, str]:
        pages = clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}
    lake, family, clearing_family = keys(b.lake), keys(b.lake_authorization), keys(b.lake_clearing)
    assert "authorization/2024/04/01/part-j000-c00000.parquet" in lake and "clearing/2024/04/02/part-j000-c00000.parquet" in lake
    assert set(family) == {k for k in lake if k.startswith("authorization/")}
    assert set(clearing_family) == {k for k in lake if k.startswith("clearing/")}
    assert list(keys(b.restricted)) == ["pan_dimension/seed=0/pan_dimension.parquet"]
    feed = clients.s3.list_objects_v2(Bucket=b.input)["Contents"]
    window = settings.file_validation
    assert feed and all(window.min_bytes <= o["Size"] <= window.max_bytes for o in feed)  # the builder will accept them
    assert all(o["Key"].startswith(("2024-04-01/", "2024-04-02/")) for o in feed)
    # A retried job (same index) reuses its ranges: same sequence numbers, same objects.
    again = generate(settings, request, spark=spark, clients=clients)
    assert [a["reused"] for a in again.allocations] == [True, True]
    assert [a["start"] for a in again.allocations] == [a["start"] for a in first.allocations]
    assert keys(b.lake) == lake
    # A second job for the same dates gets the next range; a changed row count for a used slot is refused.
    extra = generate(settings, GenerationRequest(**{**request.__dict__, "job_index": 1, "rows": 10, "format": "parquet"}),
                     spark=spark, clients=clients)
    assert [a["start"] for a in extra.allocations] == [1000000000020001, 1000000000020001]
    with pytest.raises(SequenceAllocationError, match="already holds"):
        generate(settings, GenerationRequest(**{**request.__dict__, "rows": 40_002}), spark=spark, clients=clients)


def test_counter_table_allocations_under_contention(clients: AwsClients) -> None:
    ledger = DynamoSequenceLedger(clients.dynamodb, clients.settings.tables.counters, 1000000000000001)
    errors: list[Exception] = []

    def take(job: int) -> None:
        try:
            ledger.allocate("2024-05-01", job, 100 + job)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(j,)) for j in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ranges = [(a.start, a.end) for a in ledger.allocations("2024-05-01")]
    assert ranges[0][0] == 1000000000000001 and len(ranges) == 8
    assert all(prev_end + 1 == start for (_, prev_end), (start, _) in itertools.pairwise(ranges))


def test_hash_key_from_ssm_on_the_endpoint(clients: AwsClients) -> None:
    ssm = clients.client("ssm")
    ssm.put_parameter(Name="/paybatch/test/key", Value="s3cret", Type="SecureString")
    assert resolve_hash_key("ssm:/paybatch/test/key", clients) == b"s3cret"
    with pytest.raises(ConfigError, match="cannot read the PAN hash key from ssm:/paybatch/test/missing"):
        resolve_hash_key("ssm:/paybatch/test/missing", clients)


def test_glue_entry_script_runs_under_the_local_launcher_contract(tmp_path: Path, small_spec: str) -> None:
    script = Path(__file__).resolve().parents[2] / "glue_jobs" / "generate_payments.py"
    result = subprocess.run([sys.executable, str(script), "--rows", "3000", "--dates", "2024-07-01", "--output", str(tmp_path),
                             "--tables", "authorization", "--quality", "false", "--JOB_NAME", "x"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["tables"]["authorization"]["rows"] == 3000
    missing = subprocess.run([sys.executable, str(script), "--dates", "2024-07-01"], capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "rows" in missing.stderr


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    for args, message in ((["--dates", "2024-02-30"], "expected YYYY-MM-DD"), (["--tables", "nope"], "unknown tables"),
                          (["--format", "xml"], "--format"), (["--env", "staging"], "unknown environment 'staging'")):
        result = subprocess.run([sys.executable, "-m", "paybatch", "generate", "--output", str(tmp_path), *args],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    assert not any(tmp_path.iterdir())  # nothing written on a bad request


def test_reports_of_a_run_on_aws_are_published_to_the_artifacts_bucket(clients: AwsClients, tmp_path: Path) -> None:
    from paybatch.generate.job import publish_reports

    (tmp_path / "data_docs").mkdir()
    (tmp_path / "data_docs" / "index.html").write_text("<html></html>")
    (tmp_path / "profile.html").write_text("<html></html>")
    prefix = publish_reports(clients, tmp_path, "run-1")
    assert prefix == f"s3://{clients.settings.buckets.artifacts}/reports/generate-run-1/"
    head = clients.s3.head_object(Bucket=clients.settings.buckets.artifacts, Key="reports/generate-run-1/data_docs/index.html")
    assert head["ContentType"] == "text/html"


def test_what_lands_matches_the_planners_measured_bytes_per_row(settings, spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The bulk planner sizes a run from bytes per row measured by file size (rates.json, `make bench`): a real run of
    the shipped spec, one date in one file per table, lands within 10 % of it (else the generator changed: re-bench)."""
    from paybatch.bulk.plan import generation_bytes
    from paybatch.generate.spec import PAN_DIMENSION, TABLES

    rows = 125_000
    request = GenerationRequest(rows=rows, dates=DATES[:1], output=str(tmp_path), tables=(*TABLES, PAN_DIMENSION), quality=False)
    generate(settings, request, spark=spark)
    written = sum(p.stat().st_size for p in (tmp_path / "lake").rglob("*.parquet")) \
        + sum(p.stat().st_size for p in (tmp_path / "restricted").rglob("*.parquet"))
    planned = generation_bytes([rows], pan_dimension=True)
    assert abs(planned / written - 1) <= 0.10, (planned, written)


def test_a_table_built_alone_is_the_same_table() -> None:
    """`--tables authorization` (and the NDJSON feed) build no clearing or chargeback, and the authorization rows are
    the very rows a whole run builds (every column draws from its own counter-based stream)."""
    context = TaskContext(load_spec(), 0, LOCAL_KEY, LocalSink(Path("/nonexistent")))
    chunk = Chunk("2024-06-01", 1000000000000001, 50_000, 0, 50_000, 0)
    whole, alone = builder_for(context).build(chunk), builder_for(context).build(chunk, ("authorization",))
    assert set(alone) == {"authorization", "authorization_hash"}
    assert alone["authorization"].equals(whole["authorization"]) and alone["authorization_hash"].equals(whole["authorization_hash"])
