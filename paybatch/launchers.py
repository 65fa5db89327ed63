"""The seam between local and AWS job runs: ``launcher_for`` picks Glue's API or the local stand-in by target."""

from __future__ import annotations

from paybatch.aws import AwsClients
from paybatch.config import Settings
from paybatch.jobs.launcher import GlueLauncher, JobLauncher
from paybatch.local.launcher import LocalLauncher


def launcher_for(settings: Settings, clients: AwsClients | None = None) -> JobLauncher:
    """The launcher for where this environment runs: local Spark processes or AWS Glue."""
    clients = clients or AwsClients(settings)
    if settings.target == "local":
        return LocalLauncher(settings, clients)
    return GlueLauncher(clients)
