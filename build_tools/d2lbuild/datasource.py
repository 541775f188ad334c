"""Where the book's data sets come from during a build: their real addresses, or a mirror.

The library downloads from the real addresses unless ``D2L_DATA_MIRROR`` names a mirror. A
build machine without internet (such as CI here) cannot reach them, so ``eval`` falls back,
with a warning, to the fixture mirror that ``fixtures`` generates. Results computed on
fixture data are recorded as such (the cache key and each executed notebook's metadata
say so), and the website marks those pages.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from .book import Book
from .cache import MIRROR_ENV
from .fixtures import MANIFEST, build_mirror

ORIGIN_HOSTS = ("d2l-data.s3-accelerate.amazonaws.com",
                "fashion-mnist.s3-website.eu-central-1.amazonaws.com")
MODES = ("auto", "origin", "fixtures")


def origin_reachable(timeout: float = 3.0) -> bool:
    """Whether every host the data sets live on answers on port 80."""
    for host in ORIGIN_HOSTS:
        try:
            socket.create_connection((host, 80), timeout=timeout).close()
        except OSError:
            return False
    return True


def fixture_mirror(book: Book) -> Path:
    """The generated mirror of this build, made on demand (and again when the generator
    changed or a file went missing)."""
    path = book.config.build_dir / "data-mirror"
    build_mirror(path, reuse=True)
    return path


def choose_data_source(book: Book, mode: str = "auto", environ=None) -> str:
    """Set ``D2L_DATA_MIRROR`` for this process (and the kernels it starts) as ``mode`` asks;
    return a one-line description of the choice."""
    environ = os.environ if environ is None else environ
    if mode not in MODES:
        raise ValueError(f"unknown data source {mode!r}; use one of {', '.join(MODES)}")
    if mode == "origin":
        environ.pop(MIRROR_ENV, None)
        return "data: the data sets' real addresses"
    if mode == "auto" and environ.get(MIRROR_ENV, "").strip():
        return f"data: the mirror {environ[MIRROR_ENV]} (from {MIRROR_ENV})"
    if mode == "auto" and origin_reachable():
        return "data: the data sets' real addresses"
    mirror = fixture_mirror(book)
    environ[MIRROR_ENV] = str(mirror)
    why = "as asked" if mode == "fixtures" else "because the data sets' hosts cannot be reached"
    print(f"warning: using generated fixture data ({book.rel(mirror / MANIFEST)}) {why}; "
          "results differ from the real data and the pages say so", file=sys.stderr)
    return f"data: generated fixtures in {book.rel(mirror)}"
