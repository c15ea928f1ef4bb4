"""Expiring shard leases, on local disk and on the GCS emulator."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from galvasr.infer.leases import Lease, LeaseKeeper, Leases
from galvasr.storage import Store, open_store
from tests.gcs_emulator import Emulator

SHARD = "bucket=3/part-00000-c000.zstd.parquet"
PREFIX = "logits/m-1/_leases"


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "gcs"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """A factory of stores on one root; on GCS each has its own client, as a host would."""
    if request.param == "local":
        return lambda: open_store(str(tmp_path / "run"))
    emulator: Emulator = request.getfixturevalue("gcs_emulator")
    bucket: str = request.getfixturevalue("gcs_bucket")
    url = f"gs://{bucket}/{uuid.uuid4().hex}/run"
    return lambda: open_store(url, client=emulator.client())


def worker(new_store: Callable[[], Store], name: str, clock: Clock, ttl: float = 10) -> Leases:
    return Leases(new_store(), PREFIX, name, ttl, clock=clock)


def test_one_holder_until_expiry_then_a_taker(new_store: Callable[[], Store]) -> None:
    clock = Clock()
    a, b = worker(new_store, "a", clock), worker(new_store, "b", clock)
    lease = a.try_acquire(SHARD)
    assert lease is not None and lease.attempt == 0 and lease.worker_id == "a"
    assert lease.expires_at == 1010.0
    assert b.try_acquire(SHARD) is None
    clock.now = 1009.9
    assert b.try_acquire(SHARD) is None
    clock.now = 1010.0
    taken = b.try_acquire(SHARD)
    assert taken is not None and taken.attempt == 1 and taken.worker_id == "b"
    # The dead holder's record is cleaned up; the old holder learns it lost.
    assert b.attempts(SHARD) == [1]
    assert a.renew(lease) is None
    assert a.current(SHARD) == taken


def test_renewal_keeps_takers_out(new_store: Callable[[], Store]) -> None:
    clock = Clock()
    a, b = worker(new_store, "a", clock), worker(new_store, "b", clock)
    lease = a.try_acquire(SHARD)
    assert lease is not None
    for _ in range(5):
        clock.now += 6  # renew before the 10 s TTL runs out
        renewed = a.renew(lease)
        assert renewed is not None and renewed.attempt == lease.attempt + 1
        lease = renewed
        assert b.try_acquire(SHARD) is None
    assert a.attempts(SHARD) == [5]  # renewals delete the record they replace
    a.release(lease)
    assert a.attempts(SHARD) == []
    again = b.try_acquire(SHARD)
    assert again is not None and again.attempt == 0


def test_scan_sees_every_shard_with_its_latest_attempt(new_store: Callable[[], Store]) -> None:
    clock = Clock()
    a = worker(new_store, "a", clock)
    first = a.try_acquire("bucket=0/x.parquet")
    assert first is not None
    assert a.renew(first) is not None
    assert a.try_acquire("bucket=1/y.parquet") is not None
    assert a.scan() == {"bucket=0/x.parquet": 1, "bucket=1/y.parquet": 0}
    # A stale scan is safe: the shard counts as held.
    assert worker(new_store, "b", clock).try_acquire("bucket=0/x.parquet", latest=0) is None


def test_exactly_one_of_many_racing_workers_takes_an_expired_lease(
    new_store: Callable[[], Store],
) -> None:
    clock = Clock()
    assert worker(new_store, "dead", clock).try_acquire(SHARD) is not None
    clock.now += 11
    racers = [worker(new_store, f"w{i}", clock) for i in range(8)]
    won: list[Lease] = []
    barrier = threading.Barrier(len(racers))

    def race(leases: Leases) -> None:
        barrier.wait()
        lease = leases.try_acquire(SHARD, latest=0)
        if lease is not None:
            won.append(lease)

    threads = [threading.Thread(target=race, args=(r,)) for r in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert racers[0].current(SHARD) == won[0]


class LostResponseStore:
    """A store whose commits land but answer False, as a GCS retry after a lost response can."""

    def __init__(self, inner: Store):
        self.inner = inner

    def commit_if_absent(self, path: str, data: bytes) -> bool:
        self.inner.commit_if_absent(path, data)
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_winner_told_false_confirms_its_lease_by_token(new_store: Callable[[], Store]) -> None:
    clock = Clock()
    store: Any = LostResponseStore(new_store())
    lease = Leases(store, PREFIX, "a", 10, clock=clock).try_acquire(SHARD)
    assert lease is not None and lease.worker_id == "a"
    # ...while a real loser is still told no.
    assert Leases(store, PREFIX, "b", 10, clock=clock).try_acquire(SHARD) is None


def test_keeper_renews_in_the_background_and_reports_a_lost_lease(
    new_store: Callable[[], Store],
) -> None:
    leases = Leases(new_store(), PREFIX, "a", ttl_s=0.6)
    with LeaseKeeper(leases, renew_every_s=0.1) as keeper:
        assert keeper.try_acquire(SHARD)
        assert keeper.try_acquire(SHARD)  # already ours
        time.sleep(1.0)  # longer than the TTL: only renewals keep it
        assert keeper.renewals >= 2
        other = Leases(new_store(), PREFIX, "b", ttl_s=0.6)
        assert other.try_acquire(SHARD) is None
        assert keeper.held() == [SHARD] and not keeper.is_lost(SHARD)
    # Stopped keeper: the lease runs out and another worker takes it.
    time.sleep(0.7)
    assert other.try_acquire(SHARD) is not None
    keeper.renew_now()
    assert keeper.is_lost(SHARD) and keeper.held() == []
    keeper.release(SHARD)
    assert not keeper.is_lost(SHARD)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Leases(open_store("/tmp"), PREFIX, "a", ttl_s=0)
    with pytest.raises(ValueError):
        Leases(open_store("/tmp"), "../x", "a", ttl_s=1)


def test_sweep_clears_finished_shards_but_not_held_or_unfinished(
    new_store: Callable[[], Store],
) -> None:
    clock = Clock()
    dead = worker(new_store, "dead", clock)
    for shard in ("bucket=0/a.parquet", "bucket=0/b.parquet", "bucket=0/c.parquet"):
        assert dead.try_acquire(shard) is not None
    keeper = LeaseKeeper(worker(new_store, "me", clock))
    clock.now += 11
    assert keeper.try_acquire("bucket=0/c.parquet")
    swept = keeper.sweep({"bucket=0/a.parquet", "bucket=0/c.parquet"})
    assert swept == 1  # a; c is held by this worker; b is not finished
    assert sorted(keeper.scan()) == ["bucket=0/b.parquet", "bucket=0/c.parquet"]
