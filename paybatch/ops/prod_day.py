"""A production day, simulated (`paybatch scale-test --day prod`): a day's file events through the real builder.

Real: the builder's Lambda handler (registration, quarantine, packing under the date lock, starting runs), the
scheduler's passes, the tracking table and every status move, with prod's configuration, on a private local
endpoint of its own (its own port and state folder, environment ``prod-day``): the user's tables are never touched.
Standing in: the input objects — prod's files are 3.5 GB, so S3 HEAD is answered from the day's file list, except
for the files sized wrong, which are real small objects the quarantine really moves — and conversion: a run lasts
what the measured conversion rate gives its bytes on the job's workers, then makes the run's tracking writes through
the run's own functions. Time is compressed: the day's clock moves from event to event, and a day takes as long as
its requests take on the endpoint.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.builder.events import handle_sqs_batch
from paybatch.builder.locking import DateLock, Lease
from paybatch.builder.manifests import ManifestBuilder
from paybatch.builder.scheduler import Scheduler
from paybatch.config import Settings
from paybatch.contracts.events import s3_message
from paybatch.contracts.tracking import TERMINAL_FILE_STATUSES
from paybatch.counters import by_prefix, read_counts
from paybatch.local.stack import LocalStack, free_port
from paybatch.ops.prod_day_standins import DAY, DayFile, InputObjects, SimClock, SimRun, StandInRuns, finish_run

PROD_FILES_PER_DAY = 338_000  # the design's production volume
SIM_ENV = "prod-day"
BAD_SIZE_SHARE = 0.003  # files sized outside the tolerance: real 1 KiB objects, quarantined for real
READS = ("Get", "Head", "List", "Describe", "Query", "Scan", "Receive", "BatchGet")


def day_files(settings: Settings, count: int, seed: int = 7) -> list[DayFile]:
    """``count`` files of prod's day at prod's rate: the whole day (``PROD_FILES_PER_DAY``), or the window of it
    around the afternoon peak that holds ``count`` files. The day is busiest at 14:00 (twice the night's rate);
    files are sized as prod's feed, a few outside the tolerance."""
    rng = random.Random(seed)
    day = sorted(_arrival(rng) for _ in range(max(count, PROD_FILES_PER_DAY)))
    peak = bisect.bisect_left(day, 14 * 3600.0)
    first = min(max(0, peak - count // 2), len(day) - count)
    expected = settings.file_validation.expected_file_size_mb * 2**20
    spread = settings.file_validation.size_tolerance_percent / 100 * 0.8
    files = []
    for i, arrival in enumerate(day[first:first + count]):
        real = rng.random() < BAD_SIZE_SHARE
        size = 1024 if real else int(expected * rng.uniform(1 - spread, 1 + spread))
        files.append(DayFile(f"{DAY.isoformat()}/feed-{i:07d}.ndjson", size, f"{rng.getrandbits(128):032x}", arrival, real))
    return files


def _arrival(rng: random.Random) -> float:
    """One arrival time (seconds after midnight), by rejection from the rate 2 + sin(2π(h − 8)/24)."""
    while True:
        arrival = rng.uniform(0, 86_400)
        if rng.uniform(0, 3) <= 2 + math.sin(2 * math.pi * (arrival / 3600 - 8) / 24):
            return arrival


class RequestCounter:
    """AWS requests by role, service, operation and read/write, and DynamoDB items written (a transaction's items)."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.items_written: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self, clients: AwsClients, role: str) -> None:
        for service in ("s3", "dynamodb", "sqs", "glue"):
            clients.client(service).meta.events.register_first(
                f"before-parameter-build.{service}", lambda params, model, _r=role, **_: self._count(_r, model, params))

    def _count(self, role: str, model: Any, params: Mapping[str, Any]) -> None:
        service = model.service_model.service_name
        items = 0
        if service == "dynamodb" and not model.name.startswith(READS):
            items = len(params.get("TransactItems", ())) * 2 or sum(len(v) for v in params.get("RequestItems", {}).values()) or 1
        with self._lock:
            self.requests[(role, service, model.name)] += 1
            self.items_written[role] += items

    def total(self, service: str, *, writes: bool | None = None, role: str | None = None) -> int:
        return sum(n for (r, s, op), n in self.requests.items() if s == service and (role is None or r == role)
                   and (writes is None or writes != op.startswith(READS)))


class MeasuredLock(DateLock):
    """The date lock, timed: how often and how long a builder waited for another's lease."""

    def __init__(self, clients: AwsClients, stats: LockStats) -> None:
        super().__init__(clients)
        self.stats = stats

    def acquire(self, date_prefix: str, max_wait: float | None = None) -> Lease | None:
        started = time.monotonic()
        lease = super().acquire(date_prefix, max_wait)
        self.stats.record(lease is not None, time.monotonic() - started)
        return lease


@dataclass
class LockStats:
    taken: int = 0
    refused: int = 0
    waited: int = 0  # acquisitions that took longer than one request (another builder held it)
    wait_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, taken: bool, seconds: float) -> None:
        with self._lock:
            self.taken += taken
            self.refused += not taken
            self.waited += seconds > 0.05
            self.wait_seconds += seconds


def _event(files: list[DayFile], bucket: str) -> dict[str, Any]:
    """An SQS batch as Lambda receives it, one S3 event notification per file."""
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    return {"Records": [{"messageId": f.key, "receiptHandle": f.key, "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
                         "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                         "body": s3_message(bucket, f.key, f.size, f.etag, at=start + timedelta(seconds=f.arrival))}
                        for f in files]}


@dataclass
class DayRun:
    """Everything the simulation measured, for the report (``paybatch.ops.prod_day_report``)."""

    files: int
    workers: int
    settings: Settings
    counter: RequestCounter = field(default_factory=RequestCounter)
    lock: LockStats = field(default_factory=LockStats)
    backlog: list[dict[str, Any]] = field(default_factory=list)  # one sample a scheduler pass
    items: list[dict[str, Any]] = field(default_factory=list)
    manifests: list[dict[str, Any]] = field(default_factory=list)
    runs: list[SimRun] = field(default_factory=list)
    runs_refused: int = 0
    most_running: int = 0
    batches: int = 0
    scheduler_passes: int = 0
    handler_seconds: float = 0.0
    wall_seconds: float = 0.0
    day_seconds: float = 0.0  # simulated time until the last file was terminal


def simulate(base: Settings, files: int, *, workers: int = 4, seed: int = 7,
             progress: Callable[[str], None] | None = None) -> DayRun:
    """Start a private endpoint with ``base``'s (prod's) configuration, run the day, read back what it left, stop."""
    settings = base.model_copy(update={"env": SIM_ENV, "target": "local",
                                       "local": base.local.model_copy(update={"port": free_port()})})
    stack = LocalStack(settings)
    stack.up(with_services=False)
    quiet = {name: logging.getLogger(name).level for name in ("manifest-builder", "manifest-scheduler", "paybatch")}
    for name in quiet:  # one line a file is the Lambda's log, not this command's output
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return _the_day(settings, files, workers, seed, progress or (lambda _: None))
    finally:
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        stack.down()


class _NoMetrics:
    """The handler's CloudWatch metrics, not published: EMF lines (CloudWatch's input) would flood the output."""

    def add_metric(self, **_: Any) -> None:
        return None


def _the_day(settings: Settings, count: int, workers: int, seed: int, say: Callable[[str], None]) -> DayRun:
    started = time.monotonic()
    day = DayRun(count, workers, settings)
    clock = SimClock()
    plan = day_files(settings, count, seed)
    inputs = InputObjects(plan, clock)
    setup = AwsClients(settings)
    for f in plan:
        if f.real:
            setup.s3.put_object(Bucket=settings.buckets.input, Key=f.key, Body=os.urandom(f.size))
    runs = StandInRuns(settings, setup, clock)

    def app_for(role: str) -> BuilderApp:
        app = BuilderApp.create(settings, launcher=runs)
        inputs.install(app.clients)
        day.counter.install(app.clients, role)
        app.builder = ManifestBuilder(app.clients, app.store, app.moves, MeasuredLock(app.clients, day.lock), runs, clock=clock)
        return app

    builders = [app_for("builder") for _ in range(workers)]
    scheduler_app, run_app = app_for("scheduler"), app_for("runs")
    scheduler = Scheduler(scheduler_app)  # no hooks: no bulk runs, table upkeep or screening on this endpoint
    tick = settings.lambda_.schedule_minutes * 60
    clock.seconds = plan[0].arrival if plan else 0.0
    next_tick = (clock.seconds // tick + 1) * tick  # the scheduler's passes, every schedule_minutes of the day
    size = settings.lambda_.batch_size
    batches = [plan[i:i + size] for i in range(0, len(plan), size)]
    in_flight = threading.BoundedSemaphore(workers)
    handler_seconds = [0.0]
    timing_lock = threading.Lock()

    def handle(index: int, batch: list[DayFile]) -> None:
        try:
            begun = time.monotonic()
            handle_sqs_batch(_event(batch, settings.buckets.input), None, builders[index % workers], _NoMetrics())
            with timing_lock:
                handler_seconds[0] += time.monotonic() - begun
        finally:
            in_flight.release()

    def advance(to: float) -> None:
        nonlocal next_tick
        while next_tick <= to:
            clock.seconds = max(clock.seconds, next_tick)
            for run in runs.due():
                finish_run(run_app, run, clock)
            scheduler.run_once(sweep=False)
            day.scheduler_passes += 1
            day.backlog.append({"seconds": clock.seconds, **_status_counts(setup, settings)})
            next_tick += tick
        clock.seconds = max(clock.seconds, to)

    with ThreadPoolExecutor(workers) as pool:
        futures = []
        for index, batch in enumerate(batches):
            in_flight.acquire()
            advance(batch[-1].arrival)
            futures.append(pool.submit(handle, index, batch))
            if index % 500 == 0:
                say(f"{clock():%H:%M} simulated · {index * size:,}/{count:,} files sent · {len(runs.runs):,} runs started")
        for future in futures:
            future.result()
    day.batches = len(batches)
    while True:  # after the last event: passes until every file is terminal (partial manifests flush after max_wait)
        advance(next_tick)
        counts = day.backlog[-1]
        if sum(n for status, n in counts.items() if status in TERMINAL_FILE_STATUSES) >= count and not runs.due() \
                and not runs.running():
            break
        if clock.seconds > 4 * 86_400:
            say("not drained after three extra days: stopping")
            break
    day.day_seconds = clock.seconds
    day.items = scheduler_app.store.all_files()
    day.manifests = scheduler_app.store.all_manifests()
    day.runs = list(runs.runs.values())
    day.runs_refused, day.most_running = runs.refused, runs.most_running
    day.handler_seconds = handler_seconds[0]
    day.wall_seconds = time.monotonic() - started
    return day


def _status_counts(clients: AwsClients, settings: Settings) -> dict[str, int]:
    """Files by status on the day, from the sharded counters (not counted as the pipeline's requests)."""
    return by_prefix(read_counts(clients.dynamodb, settings.tables.metrics, DAY.isoformat()), "files")
