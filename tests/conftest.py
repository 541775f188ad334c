"""Shared helpers: small books written from strings into a temporary folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "corpus"  # the sample book that uses every syntax
sys.path.insert(0, str(REPO / "build_tools"))

DEFAULT_CONFIG = """\
[project]
name = sample
title = A Sample Book
release = 1.2.3

[build]
tabs = mxnet, pytorch
resources = img refs.bib

[library]
version_file = d2l/__init__.py

[library-mxnet]
lib_file = d2l/mxnet.py
lib_name = np

[library-pytorch]
lib_file = d2l/torch.py
lib_name = torch
"""


def write_book(root: Path, files: dict[str, str], config: str | None = DEFAULT_CONFIG) -> Path:
    """Write ``files`` (path -> text, dedented) under ``root``; add config.ini unless given."""
    root.mkdir(parents=True, exist_ok=True)
    if config is not None and "config.ini" not in files:
        (root / "config.ini").write_text(config)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def run_cli(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``d2lbuild`` as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "d2lbuild", "--root", str(root), *args],
        capture_output=True, text=True, timeout=timeout,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO / "build_tools")},
    )


@pytest.fixture
def book_dir(tmp_path):
    """A function that writes a book into a fresh folder and returns the folder."""
    def make(files: dict[str, str], config: str | None = DEFAULT_CONFIG, name: str = "book") -> Path:
        return write_book(tmp_path / name, files, config)
    return make


@pytest.fixture
def corpus(tmp_path):
    """A private copy of the sample book, free to edit."""
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS, root)
    return root


def load(root: Path):
    from d2lbuild.book import Book
    from d2lbuild.config import load_config

    return Book.load(load_config(root))


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory):
    """The website of tests/sitebook.py's sample book, built once for the html and browser
    tests: (book folder, result of build_html)."""
    from sitebook import build_sample_site

    return build_sample_site(tmp_path_factory.mktemp("site") / "book")
