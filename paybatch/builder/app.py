"""Wiring: the builder's parts for one environment, built once per Lambda container (or local process)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from paybatch.aws import AwsClients
from paybatch.builder.locking import DateLock
from paybatch.builder.manifests import ManifestBuilder
from paybatch.builder.quarantine import Quarantine
from paybatch.builder.tracking import FileRegistry
from paybatch.config import Settings, load_settings
from paybatch.jobs.launcher import JobLauncher
from paybatch.launchers import launcher_for
from paybatch.tracking_store import TrackingStore
from paybatch.transitions import StatusMoves


@dataclass
class BuilderApp:
    settings: Settings
    clients: AwsClients
    store: TrackingStore
    moves: StatusMoves
    registry: FileRegistry
    builder: ManifestBuilder
    launcher: JobLauncher

    @classmethod
    def create(cls, settings: Settings, launcher: JobLauncher | None = None) -> BuilderApp:
        clients = AwsClients(settings)
        store = TrackingStore(clients)
        moves = StatusMoves(store)
        launcher = launcher or launcher_for(settings, clients)
        registry = FileRegistry(clients, store, moves, Quarantine(clients, moves))
        builder = ManifestBuilder(clients, store, moves, DateLock(clients), launcher)
        return cls(settings, clients, store, moves, registry, builder, launcher)


@lru_cache(maxsize=4)
def app_for(env: str | None = None) -> BuilderApp:
    """The app for PAYBATCH_ENV (settings are read once per container, as Lambda reuses it)."""
    return BuilderApp.create(load_settings(env))
