"""``eval`` across processes: killed and resumed, two builds at once, shards combined."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import psutil
from evalbook import cell, make_book, ran, run_eval, section, spawn_eval, statuses, summary

from d2lbuild.cache import Cache


def sleepy_book(root: Path, count: int, seconds: float, log: Path | None = None) -> Path:
    sections = {}
    for i in range(count):
        code = f"import os, time\ntime.sleep({seconds})\nprint('s{i}')"
        if log is not None:
            code += f"\nwith open({str(log)!r}, 'a') as f:\n    f.write('s{i} %d\\n' % os.getpid())"
        sections[f"s{i}"] = section(f"S{i}", cell(code))
    return make_book(root, sections, tabs="pytorch")


def records(root: Path) -> set[str]:
    """Sections with a complete cache entry."""
    return {p.parent.name for p in (root / "_build" / "cache" / "pytorch").glob("*/*.json")}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kernels_in(root: Path) -> list[psutil.Process]:
    """Live processes working inside the book's folder (the kernels of a build)."""
    found = []
    for proc in psutil.process_iter(["cwd"]):
        cwd = proc.info.get("cwd") or ""
        if cwd.startswith(str(root)) and proc.pid != os.getpid():
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.NoSuchProcess:
                pass
    return found


def test_interrupted_builds_resume_without_redoing_finished_notebooks(tmp_path):
    root = sleepy_book(tmp_path / "book", 6, 0.6)
    names = {f"s{i}" for i in range(6)}

    # Ctrl-C: the build stops at once with status 130, kernels are killed, and what finished
    # stays in the cache.
    proc = spawn_eval(root, "--jobs", "1")
    wait_for(lambda: records(root), 60, "a first cache entry")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    first = records(root)
    assert 1 <= len(first) < 6
    assert summary(root)["interrupted"] is True and summary(root)["counts"]["not_run"] > 0
    wait_for(lambda: not kernels_in(root), 10, "the kernels to stop")

    # SIGKILL: nothing can clean up; the next build resumes where it stopped, and the
    # orphaned kernel notices its parent is gone and exits.
    proc = spawn_eval(root, "--jobs", "1")
    wait_for(lambda: records(root) - first, 60, "a new cache entry")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    done = records(root)
    assert first < done and done != names
    wait_for(lambda: not kernels_in(root), 15, "the orphaned kernels to exit")

    assert run_eval(root, "--jobs", "2") == 0
    result = statuses(root)
    assert {d for (d, _), s in result.items() if s == "cached"} == done
    assert {d for (d, _), s in result.items() if s == "ran"} == names - done


def test_two_builds_at_once_share_the_cache_safely(tmp_path):
    log = tmp_path / "runs.log"
    root = sleepy_book(tmp_path / "book", 6, 0.3, log)
    procs = [spawn_eval(root, "--jobs", "2") for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    # Every notebook ran exactly once, in one build or the other.
    runs = sorted(line.split()[0] for line in log.read_text().splitlines())
    assert runs == [f"s{i}" for i in range(6)]
    # Every entry is whole; nothing half-written is left behind.
    cache = Cache(root / "_build" / "cache")
    for row in summary(root)["notebooks"]:
        if row["status"] != "empty":
            assert row["status"] in ("ran", "cached")
            assert cache.lookup("pytorch", row["docname"], row["key"]) is not None
    assert not [p for p in (root / "_build").rglob("*.tmp")]
    logs = "".join(p.read_text() for p in root.glob("eval-*.log"))
    assert "Traceback" not in logs
    # And a third build finds everything.
    assert run_eval(root) == 0 and ran(root) == set()


def test_shards_split_the_work_and_their_caches_combine_by_copying(tmp_path):
    first = sleepy_book(tmp_path / "one", 5, 0.1)
    second = tmp_path / "two"
    shutil.copytree(first, second)  # two CI machines with the same checkout

    assert run_eval(first, "--shard", "1/2", "--jobs", "2") == 0
    assert run_eval(second, "--shard", "2/2", "--jobs", "2") == 0
    one, two = ran(first), ran(second)
    assert one and two and not one & two
    assert {d for d, _ in one | two} == {f"s{i}" for i in range(5)}
    assert summary(first)["shard"] == "1/2"

    shutil.copytree(second / "_build" / "cache", first / "_build" / "cache", dirs_exist_ok=True)
    assert run_eval(first, "--jobs", "2") == 0
    assert ran(first) == set() and summary(first)["counts"]["cached"] == 5
    # Recorded durations now drive the split; machines that see the same cache agree on it.
    shutil.copytree(first / "_build" / "cache", second / "_build" / "cache", dirs_exist_ok=True)
    assert run_eval(first, "--shard", "1/2") == 0 and run_eval(second, "--shard", "1/2") == 0
    assert set(statuses(first)) == set(statuses(second))
    assert set(statuses(first).values()) <= {"cached", "empty"}
