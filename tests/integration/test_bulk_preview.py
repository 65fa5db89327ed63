"""`bulk plan --prefix` previews exactly the manifests `bulk convert` then creates (one planner, ``paybatch.builder.batching``)."""

from __future__ import annotations

import json

import pytest

from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.bulk.backfill import preview_conversion
from paybatch.bulk.control import BulkControl
from paybatch.storage import head_object
from paybatch.tracking_store import TrackingStore
from tests.integration.builder_support import body, clients_for, small_settings

pytestmark = pytest.mark.integration

BUCKET = "paybatch-dev-archive-preview"


def test_the_preview_is_what_the_backfill_packs(clients: AwsClients) -> None:
    # Two files per manifest; a manifest under 1.5 KB (one ~1 KB file) takes the light path, two files Spark.
    settings = small_settings(MAX_FILES_PER_MANIFEST="2", LIGHT_PATH_MAX_MB=str(1.5 / 1024), MAX_WAIT_SECONDS="86400")
    ours = clients_for(settings)
    ours.s3.create_bucket(Bucket=BUCKET)
    app = BuilderApp.create(settings)
    keys = {  # what each object is to the backfill
        "feeds/2024-06-01/a.ndjson": "new", "feeds/2024-06-01/b.ndjson": "new", "feeds/2024-06-01/c.ndjson": "new",
        "feeds/2024-06-01/d.parquet": "new, another format: its own manifest",
        "feeds/2024-06-02/e.ndjson": "new",
        "feeds/2024-06-02/f.ndjson": "tracked and still pending: packed too",
        "feeds/2024-06-02/g.ndjson": "tracked and in another run's manifest: left alone",
        "feeds/2024-06-02/h.ndjson": "tracked pending, then re-uploaded: a new version",
        "feeds/2024-06-02/tiny.ndjson": "too small: quarantined",
        "feeds/2024-06-02/notes.txt": "unsupported: quarantined",
    }
    for i, key in enumerate(keys):
        size = 10 if "tiny" in key else 1000 + i
        ours.s3.put_object(Bucket=BUCKET, Key=key, Body=body(size, key))
    for key in ("feeds/2024-06-02/f.ndjson", "feeds/2024-06-02/g.ndjson", "feeds/2024-06-02/h.ndjson"):
        head = head_object(ours.s3, BUCKET, key)
        assert head is not None
        app.registry.register_object(BUCKET, key, head, "2024-06-02", accept_large=True)
    [other] = app.builder.pack("2024-06-02", flush=True, keys={"feeds/2024-06-02/g.ndjson"}, bulk_run="an-earlier-run")
    ours.s3.put_object(Bucket=BUCKET, Key="feeds/2024-06-02/h.ndjson", Body=body(1100, "h, again"))

    preview = preview_conversion(ours, f"s3://{BUCKET}/feeds/")
    assert (preview.new_files, preview.pending_files, preview.tracked, preview.quarantined) == (6, 1, 1, 2)
    run = BulkControl(settings, ours).start_conversion(f"s3://{BUCKET}/feeds/")
    store = TrackingStore(ours)
    created = [m for m in store.all_manifests() if m.get("bulk_run") == run["run_id"]]
    # the chunks the state machine was given (one per manifest)
    chunks = json.loads(ours.s3.get_object(Bucket=settings.buckets.artifacts, Key=f"bulk/{run['run_id']}/chunks-1.json")["Body"].read())

    def shape(date: str, files: int, size: int, route: str) -> tuple[str, int, int, str]:
        return date, files, size, route

    assert sorted(shape(c["date"], c["files"], c["bytes"], c["route"]) for c in preview.chunks) == \
        sorted(shape(c["date"], c["files"], c["bytes"], c["route"]) for c in chunks)
    assert {"light", "spark"} <= {c["route"] for c in preview.chunks}
    assert sorted(sorted(f["key"] for f in m["files"]) for m in created) == sorted(sorted(c["keys"]) for c in preview.chunks)
    assert sorted(m["input_format"] for m in created) == sorted(c["input_format"] for c in preview.chunks)
    assert other["batch_id"] not in {m["batch_id"] for m in created}
