"""Ordering, sharding, the worker pool and GPU bookkeeping, without kernels."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from d2lbuild.gpus import DevicePool, clamp, detect_gpus, requested_gpus
from d2lbuild.scheduler import Pool, longest_first, parse_shard, shard, split


@dataclass(eq=False)
class J:
    name: str
    estimate: float | None = None
    size: int = 0
    gpus: int = 0


def test_longest_first_puts_untimed_first_then_longest():
    jobs = [J("a", 1.0), J("b", None, 10), J("c", 5.0), J("d", None, 99), J("e", 5.0)]
    assert [j.name for j in longest_first(jobs)] == ["d", "b", "c", "e", "a"]


def test_parse_shard():
    assert parse_shard("1/2") == (1, 2)
    assert parse_shard(" 3 / 3 ") == (3, 3)
    for bad in ("0/2", "3/2", "1/0", "a/b", "1", ""):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_shards_partition_deterministically_and_balance():
    jobs = [J(f"s{i:02d}", float(i % 7) + 0.5) for i in range(30)] + [J("new1"), J("new2")]
    for count in (1, 2, 3, 5):
        slices = [shard(jobs, i, count) for i in range(1, count + 1)]
        names = [j.name for s in slices for j in s]
        assert sorted(names) == sorted(j.name for j in jobs)  # union is everything, no repeats
        assert len(names) == len(set(names))
        again = [[j.name for j in shard(list(reversed(jobs)), i, count)] for i in range(1, count + 1)]
        assert [sorted(j.name for j in s) for s in slices] == [sorted(a) for a in again]
        loads = [sum(j.estimate if j.estimate is not None else 3.0 for j in s) for s in slices]
        assert max(loads) - min(loads) <= 7.0  # within one notebook of each other
    # Ties are broken by name, so equal notebooks alternate between the bins.
    equal = [J(n, 1.0) for n in "dcba"]
    assert [[j.name for j in b] for b in split(equal, 2)] == [["a", "c"], ["b", "d"]]


def test_gpu_detection_can_be_simulated(monkeypatch):
    assert detect_gpus({"D2L_GPUS": "0,1"}) == ["0", "1"]
    assert detect_gpus({"D2L_GPUS": " 2 , 5 "}) == ["2", "5"]
    assert detect_gpus({"D2L_GPUS": ""}) == []
    monkeypatch.setenv("PATH", "/nonexistent")
    assert detect_gpus({}) == []  # no nvidia-smi: no GPU


def test_gpu_requests_and_clamping():
    assert requested_gpus({}) == 0 and requested_gpus({"gpus": 2}) == 2
    for bad in (-1, "two", 1.5, True):
        with pytest.raises(ValueError):
            requested_gpus({"gpus": bad})
    assert clamp(1, 2) == (1, None)
    count, warning = clamp(4, 2)
    assert count == 2 and "asks for 4 GPUs" in warning
    assert clamp(1, 0)[0] == 0 and "no GPU" in clamp(1, 0)[1]


def test_device_pool():
    pool = DevicePool(["0", "1", "2"])
    a = pool.take(2)
    assert a == ["0", "1"] and pool.take(2) is None
    assert pool.take(0) == []
    pool.give_back(a)
    assert pool.take(3) == ["0", "1", "2"]


def test_pool_never_shares_a_device_and_retries_handed_back_jobs():
    jobs = [J("a", gpus=1), J("b", gpus=2), J("c", gpus=1), J("d", gpus=0), J("e", gpus=1)]
    held: set[str] = set()
    seen: list[tuple[str, list[str]]] = []
    handed_back = set()

    async def run(job, devices):
        assert not held & set(devices)  # nobody else holds these devices
        assert len(devices) == job.gpus
        if job.name == "c" and "c" not in handed_back:
            handed_back.add("c")
            return True
        held.update(devices)
        seen.append((job.name, devices))
        await asyncio.sleep(0.01)
        held.difference_update(devices)
        return False

    asyncio.run(Pool(jobs, 3, DevicePool(["0", "1"]), run).run())
    assert sorted(name for name, _ in seen) == ["a", "b", "c", "d", "e"]
    assert handed_back == {"c"}
