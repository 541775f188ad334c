"""The ``html`` stage: write the site's Sphinx sources, run Sphinx, add the downloads.

Sphinx runs in a subprocess (``python -m sphinx -b html -j auto``) on
``_build/site_src`` and writes ``_build/html``; its environment is kept in
``_build/site_cache`` so the next run re-reads only the sections whose merged notebooks
changed, and re-writes those and the pages whose numbers or links they change. Its
messages are mapped back to the ``.md`` file and line they come from; with ``strict`` any
warning fails the build (``-W``), which the tests and CI use.

The site also serves, from itself: MathJax (``vendor.py``), each section's notebook per
tab under ``notebooks/<tab>/`` and a zip of each tab's notebooks, ``<name>-<tab>.zip``.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .book import Book
from .diagnostics import Diagnostic
from .fsutil import atomic_write
from .notebooks import build_notebooks, notebook_dir
from .sitesrc import SiteSource, write_site_source
from .vendor import install_mathjax, sync_tree

MESSAGE = re.compile(r"^(?:(?P<loc>.+?): )?(?P<level>WARNING|ERROR|SEVERE|CRITICAL): (?P<msg>.*)$")
LOCATION = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+))?(?::.*)?$")
PROGRESS = re.compile(r"^(?P<phase>reading sources|writing output)\.\.\. \[\s*\d+%\] (?P<doc>\S+)")


@dataclass
class HtmlResult:
    out: Path
    site: SiteSource
    returncode: int
    seconds: float
    read: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    log: str = ""


def html_dir(book: Book) -> Path:
    return book.config.build_dir / "html"


def cache_dir(book: Book) -> Path:
    return book.config.build_dir / "site_cache"


def build_html(book: Book, strict: bool = False, jobs: str = "auto",
               echo=None) -> HtmlResult:
    """Build the website into ``_build/html``; ``echo`` (a callable) sees Sphinx's output."""
    start = time.perf_counter()
    site = write_site_source(book)
    out = html_dir(book)
    install_mathjax(out / "_static")
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-j", str(jobs), "-N",
               "-d", str(cache_dir(book) / "doctrees"), str(site.root), str(out)]
    if strict:
        command.append("-W")
    package_parent = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    process = subprocess.Popen(command, cwd=site.root, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, bufsize=1)
    read, written, log = [], [], []
    stderr_lines: list[str] = []
    import threading

    def drain_stderr():
        for line in process.stderr:
            stderr_lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    for line in process.stdout:
        line = line.rstrip("\n")
        log.append(line)
        if echo is not None:
            echo(line)
        match = PROGRESS.match(line)
        if match:
            (read if match.group("phase") == "reading sources" else written).append(match.group("doc"))
    returncode = process.wait()
    reader.join()
    diagnostics = map_messages(book, site, stderr_lines, strict)
    _retry_warned(site, diagnostics)
    if returncode == 0:
        _write_downloads(book, out)
    result = HtmlResult(out, site, returncode, time.perf_counter() - start, read, written,
                        diagnostics, "\n".join(log + stderr_lines))
    return result


def map_messages(book: Book, site: SiteSource, lines: list[str], strict: bool) -> list[Diagnostic]:
    """Sphinx's warnings and errors as diagnostics at the ``.md`` file and line."""
    by_path = {str(page.path.resolve()): page for page in site.pages.values()}
    found: list[Diagnostic] = []
    for raw in lines:
        match = MESSAGE.match(raw.strip())
        if not match:
            if found and raw.strip() and not raw.startswith(("Traceback", "Sphinx")):
                last = found[-1]
                hint = (last.hint + "\n    " if last.hint else "") + raw.strip()
                found[-1] = Diagnostic(last.path, last.line, last.message, hint, last.severity)
            continue
        message = match.group("msg")
        path, line = "", 0
        location = match.group("loc")
        if location:
            loc = LOCATION.match(location)
            path, line = loc.group("path"), int(loc.group("line") or 0)
            page = by_path.get(str(Path(path).resolve())) if path else None
            if page is not None:
                path, line = page.source, page.md_line(line) if line else 0
            elif path:
                path = book.rel(Path(path))
        severity = "error" if strict or match.group("level") != "WARNING" else "warning"
        found.append(Diagnostic(path or "sphinx", line, message, "", severity))
    return found


def _retry_warned(site: SiteSource, diagnostics: list[Diagnostic]) -> None:
    """Make Sphinx read again, next time, the sections it warned about: it reports a
    warning only when it reads or writes a page, and would otherwise stay silent about
    problems that are still there."""
    sources = {d.path for d in diagnostics}
    for page in site.pages.values():
        if page.source in sources and page.path.exists():
            os.utime(page.path)


def _write_downloads(book: Book, out: Path) -> None:
    """Each tab's notebooks under ``notebooks/<tab>/`` and zipped as ``<name>-<tab>.zip``."""
    tabs = book.config.tabs
    if any(not (notebook_dir(book, tab) / f"{book.config.index}.ipynb").is_file() for tab in tabs):
        build_notebooks(book)
    for tab in tabs:
        source = notebook_dir(book, tab)
        sync_tree(source, out / "notebooks" / tab)
        data = _zip_folder(source, f"{book.config.name}-{tab}")
        target = out / f"{book.config.name}-{tab}.zip"
        if not target.is_file() or target.read_bytes() != data:
            atomic_write(target, data)


def _zip_folder(folder: Path, prefix: str) -> bytes:
    """A reproducible zip of a folder (sorted names, fixed times)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder)
            if any(part.startswith(".") for part in rel.parts):
                continue
            info = zipfile.ZipInfo(f"{prefix}/{rel.as_posix()}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
