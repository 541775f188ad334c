"""Which sections a change affects (``changed --since REV``): what CI executes for a pull
request, and what an author re-runs.

A section is affected in a tab when what the eval stage's cache key is made of changes
there (``engine.plan``), the machine aside: its code cells in that tab (as its notebook holds
them), the library code it can reach (``deps``: the ``d2l.<name>`` it uses, and everything
those saved blocks use in turn), or the GPUs its front matter asks for. Prose edits change
none of these. The section that defines a changed library function is affected too, since
its own code cells changed.

The old side is the merge base of REV and HEAD (what a pull request is compared with, as
``git diff REV...`` does); the new side is the working tree, uncommitted edits included.
Sections that are new are affected; sections that were removed are not listed.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .book import Book
from .config import CONFIG_NAME, BookConfig, load_config
from .deps import library_code
from .diagnostics import BuildError
from .engine import library_index
from .gpus import requested_gpus
from .notebooks import apply_reverse_alias

REASONS = ("new", "code", "library", "gpus")


@dataclass
class Affected:
    docname: str
    source: str                                   # the .md, as shown in messages
    tabs: dict[str, list[str]] = field(default_factory=dict)  # tab -> reasons

    def to_json(self) -> dict:
        return {"docname": self.docname, "source": self.source, "tabs": list(self.tabs),
                "reasons": self.tabs}


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def execution_inputs(book: Book) -> dict[tuple[str, str], dict[str, str]]:
    """(docname, tab) -> digests of what executing it depends on, for sections with code."""
    found = {}
    for tab in book.config.tabs:
        index = library_index(book, tab)
        for docname in book.order:
            doc = book.documents[docname]
            code = [apply_reverse_alias(book, tab, c.source) for c in doc.code_cells(tab)]
            if not any(c.strip() for c in code):
                continue
            try:
                gpus = requested_gpus(doc.front_matter or {})
            except ValueError:
                gpus = repr((doc.front_matter or {}).get("gpus"))
            found[(docname, tab)] = {"code": _digest(code),
                                     "library": _digest(library_code(index, code)),
                                     "gpus": _digest(gpus)}
    return found


# -- git -----------------------------------------------------------------------------------
def git(root: Path, *args: str, binary: bool = False):
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=not binary,
                              check=False)
    except FileNotFoundError:
        raise BuildError("`changed` needs git, which is not installed") from None
    if done.returncode != 0:
        err = done.stderr if not binary else done.stderr.decode("utf-8", "replace")
        raise BuildError(f"git {' '.join(args)}: {err.strip() or 'failed'}")
    return done.stdout


def base_commit(root: Path, rev: str) -> tuple[str, str]:
    """The commit to compare with (the merge base of ``rev`` and HEAD) and how to name it."""
    try:
        git(root, "rev-parse", "--show-toplevel")
    except BuildError:
        raise BuildError(f"{root} is not in a git repository; `changed` compares commits") from None
    try:
        target = git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except BuildError:
        raise BuildError(f"--since {rev}: no such revision (for a pull request, fetch the base "
                         "branch first: git fetch origin main)") from None
    try:
        base = git(root, "merge-base", target, "HEAD").strip()
    except BuildError:  # unrelated histories: compare with the revision itself
        return target, rev
    return base, rev if base == target else f"the merge base of {rev} and HEAD"


def _extract(root: Path, commit: str, paths: list[str], into: Path) -> None:
    """Write the files ``paths`` (relative to ``root``) as they were at ``commit``. Run in
    ``root``, git takes and gives paths relative to it, wherever the repository's top is."""
    if not paths:
        return
    data = git(root, "archive", "--format=tar", commit, "--", *paths, binary=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            rel = PurePosixPath(member.name)
            if not member.isfile() or rel.is_absolute() or ".." in rel.parts:
                continue
            target = into / Path(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.extractfile(member).read())


def book_at(config: BookConfig, commit: str, workdir: Path) -> Book | None:
    """The book as it was at ``commit`` (its config and Markdown files only), or None when
    it had no config there."""
    files = [f for f in git(config.root, "ls-tree", "-r", "-z", "--name-only", commit, "--",
                            ".").split("\0") if f]
    if CONFIG_NAME not in files:
        return None
    _extract(config.root, commit, [CONFIG_NAME], workdir)
    raw = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        raw.read(workdir / CONFIG_NAME, encoding="utf-8")
        source = raw.get("build", "source_dir", fallback=".").strip() or "."
    except configparser.Error:
        source = "."
    source = PurePosixPath(source).as_posix().strip("/")
    inside = "" if source in ("", ".") else source + "/"
    _extract(config.root, commit,
             [f for f in files if f.endswith(".md") and f.startswith(inside)], workdir)
    (workdir / source).mkdir(parents=True, exist_ok=True)
    return Book.load(load_config(workdir))


def changed_sections(config: BookConfig, since: str, tabs: list[str] | None = None
                     ) -> tuple[list[Affected], str]:
    """The sections (in reading order) whose execution differs between the merge base of
    ``since`` and the working tree; and a description of what was compared."""
    root = config.root
    base, name = base_commit(root, since)
    new_book = Book.load(config)
    with tempfile.TemporaryDirectory(prefix="d2lbuild-changed-") as tmp:
        try:
            old_book = book_at(config, base, Path(tmp))
        except (BuildError, OSError) as e:  # the old book does not load: all count as new
            print(f"changed: warning: the book at {base[:12]} does not load ({e}); every "
                  "section counts as changed", file=sys.stderr)
            old_book = None
        old = execution_inputs(old_book) if old_book is not None else {}
    new = execution_inputs(new_book)
    chosen = tabs or list(config.tabs)
    found: dict[str, Affected] = {}
    for docname in new_book.order:
        for tab in chosen:
            now = new.get((docname, tab))
            if now is None:
                continue
            before = old.get((docname, tab))
            reasons = ["new"] if before is None else [r for r in REASONS[1:] if now[r] != before[r]]
            if reasons:
                entry = found.setdefault(docname, Affected(docname, new_book.documents[docname].rel))
                entry.tabs[tab] = reasons
    return list(found.values()), f"{base[:12]} ({name})"
