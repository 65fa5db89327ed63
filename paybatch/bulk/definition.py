"""The bulk state machine: one Amazon States Language file, its ``${…}`` placeholders filled from the settings.

The CDK stack hands the file to CloudFormation with ``DefinitionSubstitutions`` (the same names, the
deployed resources' values); `paybatch local up` fills the same placeholders with the local endpoint's
values and creates the state machine there, where moto's interpreter runs it. Tunables a run may change
(concurrency, heartbeat, timeout) are read from the execution's input (``…Path`` fields), not substituted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from paybatch.config import Settings
from paybatch.errors import PaybatchError

ASL_FILE = "statemachine.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")
EXECUTION_ROLE_SUFFIX = "bulk-states"


def definition_path() -> Path:
    """The file itself (the CDK stack reads it with ``DefinitionBody.from_file``)."""
    return Path(str(resources.files("paybatch.bulk").joinpath(ASL_FILE)))


def definition_text() -> str:
    return resources.files("paybatch.bulk").joinpath(ASL_FILE).read_text()


def placeholders(text: str | None = None) -> set[str]:
    return set(PLACEHOLDER.findall(definition_text() if text is None else text))


def render(values: Mapping[str, str], text: str | None = None) -> str:
    """The definition with every placeholder replaced; a missing or unknown value is an error, not a silent gap."""
    text = definition_text() if text is None else text
    wanted = placeholders(text)
    missing, unknown = wanted - set(values), set(values) - wanted
    if missing or unknown:
        raise PaybatchError(f"state machine placeholders: missing {sorted(missing)}, unknown {sorted(unknown)}")
    rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    json.loads(rendered)  # still JSON (a value with a quote in it would break it)
    return rendered


def local_substitutions(settings: Settings, work_queue_url: str) -> dict[str, str]:
    """The placeholder values on the local endpoint (the stack passes its resources' tokens for the same names)."""
    return {"WorkQueueUrl": work_queue_url, "BulkTable": settings.bulk.table}


def execution_role_name(settings: Settings) -> str:
    return f"paybatch-{settings.env}-{EXECUTION_ROLE_SUFFIX}"


def state_machine_arn(settings: Settings, account: str) -> str:
    return f"arn:aws:states:{settings.region}:{account}:stateMachine:{settings.bulk.state_machine}"


def execution_arn(settings: Settings, account: str, name: str) -> str:
    return f"arn:aws:states:{settings.region}:{account}:execution:{settings.bulk.state_machine}:{name}"


def parsed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(definition_text())
    return data
