"""The background process that plays Lambda locally: SQS pollers plus the periodic scheduler.

Run by `paybatch local up` as ``python -m paybatch.local.services --env ENV``; job runs it
starts go through the local launcher. SIGTERM stops it after the current batch.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from paybatch import constants
from paybatch.aws import AwsClients
from paybatch.config import Settings, load_settings
from paybatch.local.handlers import import_handler
from paybatch.local.poller import Schedule, SqsPoller


def start_services(settings: Settings, stop: threading.Event) -> list[threading.Thread]:
    """Start the builder pollers and the scheduler on threads; they run until ``stop`` is set."""
    clients = AwsClients(settings)
    builder = import_handler(constants.BUILDER_HANDLER)
    scheduler = import_handler(constants.SCHEDULER_HANDLER)
    threads = []
    for i in range(settings.local.poller_concurrency):
        poller = SqsPoller(
            clients,
            settings.queues.ingest,
            builder,
            function_name=settings.lambda_.builder_function,
            batch_size=settings.lambda_.batch_size,
            wait_seconds=settings.local.poll_wait_seconds,
            timeout_seconds=settings.lambda_.timeout_seconds,
        )
        threads.append(threading.Thread(target=poller.run, args=(stop,), name=f"poller-{i}", daemon=True))
    schedule = Schedule(
        clients, scheduler, function_name=settings.lambda_.scheduler_function,
        interval=settings.local.scheduler_interval_seconds,
    )
    threads.append(threading.Thread(target=schedule.run, args=(stop,), name="scheduler", daemon=True))
    # The bulk worker: its work queue (chunk tasks with task tokens) and its watch (heartbeats; settling ended runs,
    # which on AWS the Glue job state-change event also does).
    bulk = import_handler(constants.BULK_WORKER_HANDLER)
    worker_poller = SqsPoller(clients, settings.bulk.work_queue, bulk, function_name=settings.bulk.worker_function,
                              batch_size=1, wait_seconds=settings.local.poll_wait_seconds,
                              timeout_seconds=settings.lambda_.timeout_seconds)
    threads.append(threading.Thread(target=worker_poller.run, args=(stop,), name="bulk-worker", daemon=True))
    watch = Schedule(clients, bulk, function_name=settings.bulk.worker_function, interval=settings.local.scheduler_interval_seconds)
    threads.append(threading.Thread(target=watch.run, args=(stop,), name="bulk-watch", daemon=True))
    for thread in threads:
        thread.start()
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", required=True)
    args = parser.parse_args()
    settings = load_settings(args.env)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(threadName)s %(levelname)s %(message)s")
    logging.getLogger("paybatch").setLevel(settings.logging.level)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", settings.logging.level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = start_services(settings, stop)
    logging.info("services for %s running: %s", settings.env, ", ".join(t.name for t in threads))
    stop.wait()
    for thread in threads:
        thread.join(timeout=settings.local.poll_wait_seconds + 5)


if __name__ == "__main__":
    main()
