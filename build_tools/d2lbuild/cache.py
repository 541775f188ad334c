"""The content-addressed cache of executed notebooks (``_build/cache/``).

``cache_key`` is one pure function of everything that changes what a notebook prints: its
code cells, its tab, the library code it can reach, and the facts of the environment
(``environment_facts``). Entries live at ``<cache>/<tab>/<docname>/<key>.ipynb`` with a
record ``<key>.json`` beside it (status, seconds, time, checksum of the notebook). Both are
written atomically and the record last, so a reader sees a whole entry or none; only
successful runs are stored, so a failure is never a hit. The keys say everything, so the
caches of several machines combine by plain copying. A lock file per section and tab
(``<cache>/.locks``) keeps two builds in one tree from running the same notebook at once.
"""

from __future__ import annotations

import errno
import functools
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from .fsutil import atomic_write

KEY_VERSION = 1  # bump when the meaning of a key changes, to retire every old entry
KEEP_ENTRIES = 8  # entries kept per section and tab (older keys are pruned)

# The package whose version changes the results of each tab's code.
FRAMEWORK_PACKAGES = {"mxnet": "mxnet", "pytorch": "torch", "torch": "torch",
                      "tensorflow": "tensorflow", "jax": "jax", "paddle": "paddlepaddle"}


@functools.cache
def package_version(name: str) -> str | None:
    """The installed version of a distribution, read from its metadata (never imported);
    read once per process, since a build plans many notebooks."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


MIRROR_ENV = "D2L_DATA_MIRROR"


def data_source(environ=None) -> str:
    """Where the data sets come from: "origin" (their real addresses), or a mirror named by
    ``D2L_DATA_MIRROR`` and identified by its manifest, since fixture data gives other outputs."""
    environ = os.environ if environ is None else environ
    mirror = environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return "origin"
    manifest = Path(mirror) / "manifest.json"
    if manifest.is_file():
        try:  # the files' checksums identify the data; the rest of the manifest does not
            files = json.loads(manifest.read_text()).get("files", {})
        except ValueError:
            files = manifest.read_text()
        return "mirror:" + hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    return "mirror:" + mirror


def environment_facts(tab: str, *, quick: bool, gpus: int = 0) -> dict:
    """What about the machine changes a notebook's outputs. The kernels run this very Python
    (see ``executor``), so its versions are the kernels' versions."""
    framework = FRAMEWORK_PACKAGES.get(tab)
    return {
        "python": platform.python_version(),
        "numpy": package_version("numpy"),
        "framework": f"{framework}=={package_version(framework)}" if framework else None,
        "quick": bool(quick),
        "gpus": int(gpus),
        "data": data_source(),
    }


def cache_key(tab: str, code_cells: list[str], library_code: list[str], environment: dict) -> str:
    """The key of one notebook: sha256 over its code cells (in order), its tab, the library
    code it can reach and the environment facts. Prose never enters it."""
    payload = json.dumps({
        "version": KEY_VERSION,
        "tab": tab,
        "cells": list(code_cells),
        "library": list(library_code),
        "environment": environment,
    }, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def code_sources(nb) -> list[str]:
    """The code cells of a notebook, source only, in order."""
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


@dataclass(frozen=True)
class Entry:
    key: str
    record: dict
    text: str  # the executed notebook, as stored

    @property
    def seconds(self) -> float:
        return float(self.record.get("seconds", 0.0))


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, tab: str, docname: str) -> Path:
        return self.root / tab / docname

    def lookup(self, tab: str, docname: str, key: str) -> Entry | None:
        """The entry for ``key`` if it is complete and intact, else None."""
        folder = self.folder(tab, docname)
        try:
            record = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
            data = (folder / f"{key}.ipynb").read_bytes()
        except (OSError, ValueError):
            return None
        if (not isinstance(record, dict) or record.get("status") != "ok" or record.get("key") != key
                or record.get("sha256") != hashlib.sha256(data).hexdigest()):
            return None
        return Entry(key, record, data.decode("utf-8"))

    def store(self, tab: str, docname: str, key: str, text: str, record: dict) -> Entry:
        """Store a successful run: the notebook first, then its record (the commit point)."""
        folder = self.folder(tab, docname)
        data = text.encode("utf-8")
        record = dict(record, key=key, tab=tab, docname=docname, status="ok",
                      sha256=hashlib.sha256(data).hexdigest())
        atomic_write(folder / f"{key}.ipynb", data)
        atomic_write(folder / f"{key}.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
        self.prune(tab, docname)
        return Entry(key, record, text)

    def records(self, tab: str, docname: str) -> list[dict]:
        """The readable records of one section and tab, newest first."""
        found = []
        try:
            paths = list(self.folder(tab, docname).glob("*.json"))
        except OSError:
            return []
        for path in paths:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("status") == "ok":
                found.append(record)
        found.sort(key=lambda r: (r.get("timestamp", 0), r.get("key", "")), reverse=True)
        return found

    def last_seconds(self, tab: str, docname: str, quick: bool | None = None) -> float | None:
        """How long the section took the last time it ran in this tab (in the same mode, when
        ``quick`` is given): what scheduling and sharding go by."""
        for record in self.records(tab, docname):
            if quick is not None and bool(record.get("quick")) != bool(quick):
                continue
            try:
                return float(record["seconds"])
            except (KeyError, TypeError, ValueError):
                continue
        return None

    def prune(self, tab: str, docname: str, keep: int = KEEP_ENTRIES) -> None:
        for record in self.records(tab, docname)[keep:]:
            for suffix in (".json", ".ipynb"):  # record first: the entry stops being a hit
                try:
                    (self.folder(tab, docname) / f"{record['key']}{suffix}").unlink()
                except (OSError, KeyError):
                    pass

    def lock(self, tab: str, docname: str) -> FileLock:
        return FileLock(self.root / ".locks" / tab / f"{docname}.lock")


class FileLock:
    """An exclusive ``flock`` on a file: held by one open file, so it also separates threads
    of one process, and the kernel drops it when its holder dies (even by SIGKILL)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        if self.fd is not None:
            raise RuntimeError(f"{self.path} is already held")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
