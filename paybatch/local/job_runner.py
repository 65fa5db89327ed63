"""One local job run: fetch the entry script, run it as Glue would, record the outcome.

Started by ``LocalLauncher`` as ``python -m paybatch.local.job_runner RECORD.json``. The
script gets Glue's argv (``--JOB_NAME``, ``--JOB_RUN_ID`` and the merged arguments) and runs
as ``__main__``; an exception or a non-zero exit is FAILED with the error, the job's timeout
is TIMEOUT, anything else SUCCEEDED. Then, as Glue's EventBridge event would, the end of the run is
delivered to the bulk worker ("Glue Job State Change"); a run killed before it can do so is found by
the worker's periodic watch, as on AWS a missed event would be.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from paybatch import constants
from paybatch.local.handlers import import_handler
from paybatch.local.launcher import write_json_atomic


def _fetch_script(location: str, workdir: Path) -> Path:
    """The script to run: a local path, or an s3:// object downloaded from the endpoint like Glue does."""
    if location.startswith("s3://"):
        import boto3

        parsed = urlparse(location)
        target = workdir / Path(parsed.path).name
        boto3.client("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(target))
        return target
    return Path(location.removeprefix("file://"))


def _argv(record: dict[str, Any], script: Path) -> list[str]:
    argv = [str(script), "--JOB_NAME", record["JobName"], "--JOB_RUN_ID", record["Id"]]
    for name, value in record["Arguments"].items():
        argv += [name if name.startswith("--") else f"--{name}", str(value)]
    return argv


def _finish(path: Path, record: dict[str, Any], state: str, error: str | None, started: float) -> None:
    record["JobRunState"] = state
    record["CompletedOn"] = datetime.now(UTC).isoformat()
    record["LastModifiedOn"] = record["CompletedOn"]
    record["ExecutionTime"] = int(time.monotonic() - started)
    if error:
        record["ErrorMessage"] = error[:2000]
    write_json_atomic(path, record)
    _announce(record)


def job_state_change_event(record: dict[str, Any]) -> dict[str, Any]:
    """EventBridge's "Glue Job State Change" event for a finished run."""
    return {"version": "0", "source": "aws.glue", "detail-type": "Glue Job State Change",
            "time": record["CompletedOn"], "detail": {"jobName": record["JobName"], "jobRunId": record["Id"],
                                                       "state": record["JobRunState"], "message": record.get("ErrorMessage", "")}}


def _announce(record: dict[str, Any]) -> None:
    """Hand the state change to the bulk worker's handler (the rule's target on AWS); never fails the run."""
    try:  # by name, as the EventBridge rule names its target (the bulk worker sits above the local runtime)
        import_handler(constants.JOB_STATE_CHANGE_HANDLER)(job_state_change_event(record), record["Arguments"].get("--env"))
    except Exception as exc:  # noqa: BLE001 - the watch settles what this could not
        print(f"job state change not delivered ({type(exc).__name__}: {exc}); the bulk watch will find it", file=sys.stderr)


def main(record_path: str) -> int:
    path = Path(record_path)
    record = json.loads(path.read_text())
    started = time.monotonic()
    record["JobRunState"] = "RUNNING"
    record["Pid"] = os.getpid()
    write_json_atomic(path, record)

    def on_timeout() -> None:
        _finish(path, record, "TIMEOUT", f"Job run timed out after {record['Timeout']} minutes", started)
        os._exit(124)

    watchdog = threading.Timer(float(record["Timeout"]) * 60, on_timeout)
    watchdog.daemon = True
    watchdog.start()
    try:
        script = _fetch_script(record["ScriptLocation"], path.parent)
        sys.argv = _argv(record, script)
        sys.path.insert(0, str(script.parent))
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 0:
            _finish(path, record, "SUCCEEDED", None, started)
            return 0
        _finish(path, record, "FAILED", f"SystemExit: {exc.code}", started)
        return 1
    except BaseException as exc:  # noqa: BLE001 - a run records every failure, like Glue
        traceback.print_exc()
        _finish(path, record, "FAILED", f"{type(exc).__name__}: {exc}", started)
        return 1
    finally:
        watchdog.cancel()
    _finish(path, record, "SUCCEEDED", None, started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
