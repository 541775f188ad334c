"""Which notebook runs when and where: ordering, sharding and the pool of workers.

* Order: notebooks never timed first (largest code first: they may be long, and the next
  build learns how long they take), then the rest longest first, by the seconds the cache
  recorded, so the pool does not end waiting on one long notebook.
* Shards: greedy longest-first into ``n`` bins (ties broken by name), so ``--shard i/n`` on
  several machines that see the same cache splits the same way, balanced by duration.
* Pool: ``workers`` tasks in one event loop; each takes the first waiting notebook whose GPUs
  are free. A notebook may hand itself back (another build holds it), to be taken later.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from .gpus import DevicePool


class Schedulable(Protocol):
    estimate: float | None  # recorded seconds, None when never timed
    size: int               # characters of code: the tie-break for untimed notebooks
    gpus: int
    name: str


def longest_first(jobs: Sequence[Schedulable]) -> list:
    return sorted(jobs, key=lambda j: (j.estimate is not None, -(j.estimate or 0.0), -j.size, j.name))


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4); raises ValueError with a message a user can act on."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise ValueError(f"expected i/n such as 1/4, got {text!r}")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"shard {text!r}: i must be between 1 and n")
    return index, count


def weights(jobs: Sequence[Schedulable]) -> list[float]:
    """Each notebook's expected seconds; the untimed count as the average timed one."""
    known = [j.estimate for j in jobs if j.estimate is not None]
    default = sum(known) / len(known) if known else 1.0
    return [j.estimate if j.estimate is not None else default for j in jobs]


def split(jobs: Sequence[Schedulable], count: int) -> list[list]:
    """Greedy longest-first partition into ``count`` bins of about equal expected time."""
    weighted = sorted(zip(weights(jobs), jobs), key=lambda p: (-p[0], p[1].name))
    loads = [0.0] * count
    bins: list[list] = [[] for _ in range(count)]
    for weight, job in weighted:
        target = min(range(count), key=lambda i: (loads[i], i))
        loads[target] += weight
        bins[target].append(job)
    return bins


def shard(jobs: Sequence[Schedulable], index: int, count: int) -> list:
    """The ``index``-th (1-based) of ``count`` slices, in the order of ``jobs``."""
    chosen = {id(j) for j in split(jobs, count)[index - 1]}
    return [j for j in jobs if id(j) in chosen]


class Pool:
    """Run ``run(job, devices)`` for every job with ``workers`` at a time. ``run`` returns True
    to hand the job back (it is queued again, after the others)."""

    def __init__(self, jobs: Sequence[Schedulable], workers: int, devices: DevicePool,
                 run: Callable[[Schedulable, list[str]], Awaitable[bool]]):
        self.pending = list(jobs)
        self.workers = max(1, workers)
        self.devices = devices
        self.run_job = run
        self._changed: asyncio.Condition | None = None

    async def _next(self):
        async with self._changed:
            while self.pending:
                for i, job in enumerate(self.pending):
                    taken = self.devices.take(job.gpus)
                    if taken is not None:
                        del self.pending[i]
                        return job, taken
                await self._changed.wait()
            return None, None

    async def _worker(self) -> None:
        while True:
            job, taken = await self._next()
            if job is None:
                return
            again = False
            try:
                again = await self.run_job(job, taken)
            finally:
                async with self._changed:
                    self.devices.give_back(taken)
                    if again:
                        self.pending.append(job)
                    self._changed.notify_all()

    async def run(self) -> None:
        self._changed = asyncio.Condition()
        workers = [asyncio.ensure_future(self._worker()) for _ in range(self.workers)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
