"""Job arguments that behave the same on Glue and locally, with optional arguments and defaults.

Glue's ``getResolvedOptions`` makes every named option required and ignores unknown ones;
entry scripts use ``resolve_job_args`` instead, which accepts Glue's ``--name value`` form
(and ``--name=value``), ignores Glue's own arguments, and fills defaults for optional ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paybatch.errors import JobArgumentError

# Arguments Glue itself passes to every run; never reported as unknown.
GLUE_RESERVED = frozenset(
    {"JOB_ID", "JOB_RUN_ID", "JOB_NAME", "job-bookmark-option", "TempDir", "enable-metrics",
     "enable-spark-ui", "enable-job-insights", "enable-glue-datacatalog", "enable-continuous-cloudwatch-log",
     "spark-event-logs-path", "extra-py-files", "additional-python-modules", "job-language",
     "enable-auto-scaling", "enable-observability-metrics", "redshiftTmpDir", "python-modules-installer-option"}
)


def parse_argv(argv: Sequence[str]) -> dict[str, str]:
    """Turn ``--name value`` / ``--name=value`` / bare ``--flag`` tokens into a mapping."""
    parsed: dict[str, str] = {}
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            i += 1
            continue
        name = token[2:]
        if "=" in name:
            name, value = name.split("=", 1)
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            value = tokens[i + 1]
            i += 2
        else:
            value = "true"
            i += 1
        parsed[name] = value
    return parsed


def resolve_job_args(
    argv: Sequence[str],
    required: Sequence[str] = (),
    optional: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """Resolve a job's arguments: every ``required`` name must be present; ``optional`` ones default.

    Raises JobArgumentError listing every missing argument, so a wrong start fails in one go.
    """
    optional = dict(optional or {})
    parsed = parse_argv(argv)
    missing = [name for name in required if not parsed.get(name)]
    if missing:
        raise JobArgumentError(
            "missing required job argument(s): " + ", ".join(f"--{name}" for name in missing)
        )
    resolved: dict[str, str | None] = {name: parsed.get(name, default) for name, default in optional.items()}
    for name in required:
        resolved[name] = parsed[name]
    for name in ("JOB_NAME", "JOB_RUN_ID"):
        if name in parsed:
            resolved[name] = parsed[name]
    return resolved
