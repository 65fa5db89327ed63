"""One report that says what is wrong with the pipeline and what to do about each finding.

Looks at stuck files, the dead-letter queue, expired locks, failed runs and quarantined files;
every finding carries the command that fixes or explains it. Used by diagnose-pipeline.sh and
by `paybatch diagnose`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from paybatch.aws import AwsClients
from paybatch.bulk.ledger import BulkLedger
from paybatch.contracts.tracking import LOCK_SK, FileStatus, ManifestStatus, lock_pk, parse_iso, utcnow
from paybatch.dynamo import batch_get
from paybatch.errors import PaybatchError
from paybatch.resources import TRACKING_PK, TRACKING_SK
from paybatch.tracking_store import TrackingStore

STUCK_FACTOR = 3  # a file is stuck when it waited this many times the batching max wait


@dataclass
class Finding:
    severity: str  # "error" (data is not moving) or "warning" (needs a look)
    what: str
    detail: list[str] = field(default_factory=list)
    action: str = ""


@dataclass
class Diagnosis:
    env: str
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "healthy": self.healthy, "facts": self.facts, "findings": [asdict(f) for f in self.findings]}


def require_resources(clients: AwsClients) -> None:
    """Stop with a clear message when the environment's tracking table or queues are not there."""
    settings = clients.settings
    try:
        clients.dynamodb.describe_table(TableName=settings.tables.tracking)
        clients.queue_url(settings.queues.ingest)
    except Exception as exc:  # noqa: BLE001 - any failure here means the same thing: the resources are not reachable
        where = "the local endpoint" if settings.target == "local" else f"AWS ({settings.region})"
        hint = "start it with `paybatch local up`" if settings.target == "local" else "deploy the stack (make synth; cdk deploy)"
        raise PaybatchError(f"environment {settings.env!r} has no pipeline resources on {where}: {exc}. Is it deployed? {hint}") from None


def _age(iso_text: str | None) -> float | None:
    return (utcnow() - parse_iso(iso_text)).total_seconds() if iso_text else None


def diagnose(clients: AwsClients) -> Diagnosis:
    require_resources(clients)
    settings = clients.settings
    store = TrackingStore(clients)
    report = Diagnosis(settings.env)
    files, manifests = store.unfinished_files(), store.unfinished_manifests()  # never the completed ones
    report.facts = {"files": dict(Counter(str(f["status"]) for f in files)),
                    "manifests": dict(Counter(str(m["manifest_status"]) for m in manifests))}

    stuck_after = settings.batching.max_wait_seconds * STUCK_FACTOR
    stuck = [f for f in files if f["status"] == FileStatus.PENDING and (_age(f.get("upload_time")) or 0) > stuck_after]
    if stuck:
        report.findings.append(Finding(
            "error", f"{len(stuck)} file(s) pending for more than {stuck_after} s",
            [f"{f['date_prefix']}/{f['file_key']} ({_age(f.get('upload_time')) or 0:.0f} s)" for f in stuck[:10]],
            f"paybatch flush --env {settings.env}   (packs them now; if they stay, check the builder logs: check-lambda-logs.sh)"))
    active = {m["batch_id"] for m in manifests if m["manifest_status"] in (ManifestStatus.RUNNING, ManifestStatus.QUEUED,
                                                                           ManifestStatus.CREATED, ManifestStatus.CREATING)}
    orphaned = [f for f in files if f["status"] in (FileStatus.MANIFESTED, FileStatus.PROCESSING) and f.get("batch_id") not in active]
    if orphaned:
        report.findings.append(Finding(
            "error", f"{len(orphaned)} file(s) in a manifest that is no longer active",
            [f"{f['file_key']} → {f.get('batch_id')} ({f['status']})" for f in orphaned[:10]],
            f"paybatch reprocess --env {settings.env} --batch-id BATCH   (or --failed)"))
    slow = [m for m in manifests if m["manifest_status"] == ManifestStatus.RUNNING
            and (_age(m.get("run_started_at") or m.get("created_at")) or 0) > settings.glue.timeout_minutes * 60]
    if slow:
        report.findings.append(Finding(
            "error", f"{len(slow)} run(s) older than the Glue timeout ({settings.glue.timeout_minutes} min)",
            [f"{m['batch_id']} run {m.get('run_id')}" for m in slow[:10]],
            f"check-glue-errors.sh --env {settings.env}; the scheduler retries or fails them on its next pass"))

    failed = [m for m in manifests if m["manifest_status"] in (ManifestStatus.FAILED, ManifestStatus.PARTIAL)]
    if failed:
        report.findings.append(Finding(
            "error" if any(m["manifest_status"] == ManifestStatus.FAILED for m in failed) else "warning",
            f"{len(failed)} manifest(s) failed or partial",
            [f"{m['batch_id']} {m['manifest_status']}: {str(m.get('last_error') or m.get('error') or '')[:160]}" for m in failed[:10]],
            f"check-glue-errors.sh --env {settings.env} for the errors; then paybatch reprocess --env {settings.env} --failed"))

    dlq_url = clients.queue_url(settings.queues.dlq)
    attrs = clients.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    depth = int(attrs.get("ApproximateNumberOfMessages", 0))
    report.facts["dlq_messages"] = depth
    if depth:
        sample = clients.sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=3, VisibilityTimeout=0).get("Messages", [])
        report.findings.append(Finding(
            "error", f"{depth} message(s) in the dead-letter queue {settings.queues.dlq}",
            [m["Body"][:200] for m in sample],
            f"check-sqs-queue.sh --env {settings.env} shows them; after fixing the cause, the scheduler's sweep registers the files "
            "(the DLQ can then be purged)"))

    locks = _expired_locks(clients, {str(f['date_prefix']) for f in files if f['status'] == FileStatus.PENDING})
    if locks:
        report.findings.append(Finding(
            "warning", f"{len(locks)} expired lock(s) still recorded", locks[:10],
            "harmless (the next builder takes them over); many of them mean builders time out: check-lambda-logs.sh"))

    report.findings += bulk_findings(clients)

    quarantined = Counter(str(f.get("quarantine_reason")) for f in files if f["status"] == FileStatus.QUARANTINED)
    report.facts["quarantined_by_reason"] = dict(quarantined)
    if quarantined:
        rules = settings.file_validation
        report.findings.append(Finding(
            "warning", f"{sum(quarantined.values())} file(s) quarantined",
            [f"{reason}: {count}" for reason, count in quarantined.most_common()],
            f"expected {rules.min_bytes}..{rules.max_bytes} bytes and {', '.join(rules.allowed_extensions)}; files are in "
            f"s3://{settings.buckets.quarantine}/<reason>/. Fix and re-upload, or change the window: update-batch-config.sh"))
    return report


def bulk_findings(clients: AwsClients, days: float = 7) -> list[Finding]:
    """Bulk runs of the last ``days`` that failed or ended partial: each can continue where it stopped."""

    env = clients.settings.env
    recent = [r for r in BulkLedger(clients).runs() if (_age(r.get("created_at")) or 0) < days * 86400]
    failed = [r for r in recent if r["status"] in ("failed", "partial")]
    if not failed:
        return []
    return [Finding(
        "error" if any(r["status"] == "failed" for r in failed) else "warning",
        f"{len(failed)} bulk run(s) failed or partial",
        [f"{r['run_id']} {r['status']}: {(r.get('result') or {}).get('chunks', {}).get('failed', '?')} chunk(s) failed"
         + (f"; {str(r['error'])[:120]}" if r.get("error") else "") for r in failed[:10]],
        f"paybatch bulk status RUN --env {env} --chunks shows each chunk's error; paybatch bulk resume RUN --env {env} "
        "runs only the unfinished chunks")]


def _expired_locks(clients: AwsClients, dates: set[str]) -> list[str]:
    """Expired packing locks of the dates that have files waiting (the only dates a stale lock could hold up)."""
    settings = clients.settings
    now = time.time()
    keys = [{TRACKING_PK: lock_pk(date), TRACKING_SK: LOCK_SK} for date in sorted(dates)]
    items, _ = batch_get(clients.dynamodb, settings.tables.lock or settings.tables.tracking, keys)
    return [f"{item[TRACKING_PK]} held by {item['owner']} expired {now - float(item['expires_at']):.0f} s ago"
            for item in items if item.get("owner") and float(item.get("expires_at", now)) < now]


def render_text(report: Diagnosis) -> str:
    lines = [f"paybatch {report.env}: {'healthy' if report.healthy else 'NEEDS ATTENTION'}",
             f"  files: {json.dumps(report.facts.get('files', {}))}", f"  manifests: {json.dumps(report.facts.get('manifests', {}))}",
             f"  dead-letter messages: {report.facts.get('dlq_messages', 0)}"]
    if not report.findings:
        lines.append("  nothing wrong found")
    for finding in report.findings:
        lines.append(f"\n[{finding.severity.upper()}] {finding.what}")
        lines += [f"    {d}" for d in finding.detail]
        lines.append(f"  → {finding.action}")
    return "\n".join(lines)
