"""An in-memory fake of our Leases port (core.ports.Leases), for the election's fast tests."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

from modelguard.core.leader import LeaseRecord
from modelguard.core.ports import ConflictError, Leases


class LeaseStore:
    """One Lease as the API server keeps it: a record with a resourceVersion that every
    write bumps, conditional writes refused with ConflictError. Each replica talks to it
    through its own `client(name)`, which a test can cut off (calls raise) or hang."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self._versions = itertools.count(1)
        self.writes: list[tuple[str, LeaseRecord]] = []  # (client, record stored)
        self.cut: set[str] = set()  # clients whose calls fail (a partition)
        self.hung: set[str] = set()  # clients whose calls never return
        self.release = asyncio.Event()  # ends every hung call (with a failure)

    def client(self, name: str) -> FakeLeases:
        return FakeLeases(self, name)

    def holder(self) -> str | None:
        return self.record.holder if self.record is not None else None


class FakeLeases:
    """Implements modelguard.core.ports.Leases on a LeaseStore."""

    def __init__(self, store: LeaseStore, name: str) -> None:
        self._store = store
        self.name = name

    async def _reach(self) -> None:
        # A real call suspends (it runs in a thread): so does this one, or a timeout
        # around it could never fire.
        await asyncio.sleep(0)
        if self.name in self._store.hung:
            await self._store.release.wait()
            raise ConnectionError("the call hung, then the connection dropped")
        if self.name in self._store.cut:
            raise ConnectionError(f"{self.name} cannot reach the API server")

    async def get(self) -> LeaseRecord | None:
        await self._reach()
        return self._store.record

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        await self._reach()
        if self._store.record is not None:
            raise ConflictError("the Lease exists")
        return self._store_it(record)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        await self._reach()
        current = self._store.record
        if current is None or current.version != record.version:
            raise ConflictError("the Lease changed")
        return self._store_it(record)

    def _store_it(self, record: LeaseRecord) -> LeaseRecord:
        stored = replace(record, version=str(next(self._store._versions)))
        self._store.record = stored
        self._store.writes.append((self.name, stored))
        return stored


def _implements_the_port(leases: FakeLeases) -> None:
    """Never called: mypy checks here that the fake fits the Protocol structurally."""
    _: Leases = leases
