"""Expiring leases on shards, built on the store's create-if-absent commit.

Several workers share one run root; before working on a shard a worker takes
its lease, so two workers rarely compute the same shard. Leases are for
efficiency only: every output is committed create-if-absent, so even two
workers computing one shard cannot write it twice.

A lease is a sequence of immutable records under ``<prefix>/<shard>/``, one
file per *attempt*: ``00000000.json``, ``00000001.json``, ... holding the
worker, a random token and the wall-clock time it expires. The record with
the highest attempt number is the lease's state. Attempt ``n + 1`` is created
with ``commit_if_absent``, so exactly one worker can create it:

- *take*: anyone may create attempt ``n + 1`` once attempt ``n`` has expired
  (or attempt 0 if there is none);
- *renew*: the holder of attempt ``n`` creates attempt ``n + 1`` before ``n``
  expires; if a taker got there first, the holder has lost the lease and
  learns it from the failed commit;
- *release*: the holder deletes its record once the shard's output is
  committed (older records are deleted by whoever takes a newer attempt).

A GCS commit can answer False to its real winner when a response is lost and
the library retries, so a lost commit is confirmed by reading the record back
and comparing tokens.

Expiry compares the record's ``expires_at`` with the reader's clock: hosts'
clocks must agree to well within the TTL (NTP does; the default TTL is
minutes). The clock is injectable for tests.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from galvasr.storage import Store, check_path

Clock = Callable[[], float]

_RECORD = re.compile(r"^(\d{8})\.json$")


@dataclass(frozen=True)
class Lease:
    """One attempt's record: who holds ``shard`` and until when (clock seconds)."""

    shard: str
    attempt: int
    worker_id: str
    token: str
    expires_at: float

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Lease:
        d = json.loads(data)
        return cls(
            shard=str(d["shard"]),
            attempt=int(d["attempt"]),
            worker_id=str(d["worker_id"]),
            token=str(d["token"]),
            expires_at=float(d["expires_at"]),
        )


class Leases:
    """Lease operations for one worker on the records under ``prefix`` of ``store``.

    Not thread-safe (a store's client belongs to one thread): share it through
    :class:`LeaseKeeper`.
    """

    def __init__(
        self,
        store: Store,
        prefix: str,
        worker_id: str,
        ttl_s: float,
        clock: Clock = time.time,
    ):
        if ttl_s <= 0:
            raise ValueError("lease TTL must be positive")
        self.store = store
        self.prefix = check_path(prefix)
        self.worker_id = worker_id
        self.ttl_s = ttl_s
        self.clock = clock

    def _path(self, shard: str, attempt: int) -> str:
        return f"{self.prefix}/{check_path(shard)}/{attempt:08d}.json"

    def attempts(self, shard: str) -> list[int]:
        """Attempt numbers whose records exist, ascending."""
        found = []
        for path in self.store.list(f"{self.prefix}/{check_path(shard)}/"):
            m = _RECORD.match(path.rsplit("/", 1)[1])
            if m:
                found.append(int(m.group(1)))
        return sorted(found)

    def scan(self) -> dict[str, int]:
        """Every shard that has records, with its highest attempt number (one listing)."""
        latest: dict[str, int] = {}
        for path in self.store.list(f"{self.prefix}/"):
            shard, _, name = path[len(self.prefix) + 1 :].rpartition("/")
            m = _RECORD.match(name)
            if shard and m:
                latest[shard] = max(latest.get(shard, -1), int(m.group(1)))
        return latest

    def read(self, shard: str, attempt: int) -> Lease | None:
        """The record of one attempt, or None if it is gone or unreadable."""
        try:
            data = self.store.read_bytes(self._path(shard, attempt))
        except FileNotFoundError:
            return None
        try:
            return Lease.from_json(data)
        except (ValueError, KeyError, TypeError):
            return None

    def current(self, shard: str) -> Lease | None:
        """The newest record of ``shard``, expired or not; None if there is none."""
        for _ in range(5):
            attempts = self.attempts(shard)
            if not attempts:
                return None
            record = self.read(shard, attempts[-1])
            if record is not None:
                return record
            # Renewed (and the listed record deleted) between listing and reading.
        return None

    def is_expired(self, lease: Lease) -> bool:
        return lease.expires_at <= self.clock()

    def try_acquire(self, shard: str, latest: int | None = None) -> Lease | None:
        """Take ``shard``'s lease if it is free or expired; None if someone holds it.

        ``latest`` is the highest attempt known from a recent :meth:`scan`
        (-1: no record); None lists it now. A stale value is safe: at worst
        the commit below fails and the shard counts as held.
        """
        if latest is None:
            attempts = self.attempts(shard)
            latest = attempts[-1] if attempts else -1
        if latest >= 0:
            record = self.read(shard, latest)
            if record is None or not self.is_expired(record):
                # Held, or renewed and cleaned up since the listing: busy either way.
                return None
        lease = self._create(shard, latest + 1)
        if lease is not None and latest >= 0:
            # The expired record ours supersedes (its holder renews by deleting
            # its older ones, so there is usually no other).
            self.store.delete(self._path(shard, latest), missing_ok=True)
        return lease

    def renew(self, lease: Lease) -> Lease | None:
        """A new record extending ``lease``; None if another worker took the shard."""
        new = self._create(lease.shard, lease.attempt + 1)
        if new is not None:
            self.store.delete(self._path(lease.shard, lease.attempt), missing_ok=True)
        return new

    def release(self, lease: Lease) -> None:
        """Delete this worker's record (after the shard's output is committed)."""
        self.store.delete(self._path(lease.shard, lease.attempt), missing_ok=True)

    def clear(self, shard: str) -> int:
        """Delete every record of ``shard``, whoever wrote it; the number deleted.

        Only for a shard whose output is committed, where a lease no longer
        means anything: e.g. one left by a worker that died right after
        taking a shard that another worker, whose lease had lapsed, finished.
        """
        attempts = self.attempts(shard)
        for attempt in attempts:
            self.store.delete(self._path(shard, attempt), missing_ok=True)
        return len(attempts)

    def _create(self, shard: str, attempt: int) -> Lease | None:
        lease = Lease(
            shard=shard,
            attempt=attempt,
            worker_id=self.worker_id,
            token=uuid.uuid4().hex,
            expires_at=self.clock() + self.ttl_s,
        )
        path = self._path(shard, attempt)
        if self.store.commit_if_absent(path, lease.to_json()):
            return lease
        # A lost response can make the winner's own retry fail: read back.
        back = self.read(shard, attempt)
        return lease if back is not None and back.token == lease.token else None


class LeaseKeeper:
    """The leases one worker holds, renewed on a background thread.

    Every operation goes through one lock, so the reader thread (taking),
    the writer thread (releasing) and the renewal thread share one
    :class:`Leases` and its store safely. A lease that could not be renewed
    is *lost*: :meth:`is_lost` tells the worker to drop that shard's work.
    """

    def __init__(self, leases: Leases, renew_every_s: float | None = None):
        self.leases = leases
        self.renew_every_s = renew_every_s if renew_every_s else leases.ttl_s / 3
        self._held: dict[str, Lease] = {}
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0
        self.errors: list[str] = []

    def __enter__(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._run, name="lease-renewal", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def scan(self) -> dict[str, int]:
        with self._lock:
            return self.leases.scan()

    def try_acquire(self, shard: str, latest: int | None = None) -> bool:
        with self._lock:
            if shard in self._held:
                return True
            lease = self.leases.try_acquire(shard, latest)
            if lease is None:
                return False
            self._held[shard] = lease
            self._lost.discard(shard)
            return True

    def release(self, shard: str) -> None:
        with self._lock:
            lease = self._held.pop(shard, None)
            self._lost.discard(shard)
            if lease is not None:
                self.leases.release(lease)

    def sweep(self, done: set[str]) -> int:
        """Clear the records of every shard in ``done`` (output committed) that this worker
        does not hold; the number of records deleted."""
        with self._lock:
            stale = [shard for shard in self.leases.scan() if shard in done]
            return sum(self.leases.clear(s) for s in stale if s not in self._held)

    def is_lost(self, shard: str) -> bool:
        with self._lock:
            return shard in self._lost

    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._held)

    def renew_now(self) -> None:
        """Renew every held lease once (the thread calls this every ``renew_every_s``)."""
        with self._lock:
            for shard, lease in list(self._held.items()):
                try:
                    new = self.leases.renew(lease)
                except Exception as e:
                    # Any storage error (OSError, google.api_core's): counted and
                    # reported; the lease is still ours until it expires, so retry.
                    self.errors.append(f"renew {shard}: {type(e).__name__}: {e}")
                    continue
                if new is None:
                    del self._held[shard]
                    self._lost.add(shard)
                else:
                    self._held[shard] = new
                    self.renewals += 1

    def _run(self) -> None:
        while not self._stop.wait(self.renew_every_s):
            self.renew_now()


__all__ = ["Clock", "Lease", "LeaseKeeper", "Leases"]
