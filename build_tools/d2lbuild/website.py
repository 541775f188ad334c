"""The ``html`` stage: write the site's Sphinx sources, run Sphinx, add the downloads.

Sphinx runs in a subprocess (``python -m sphinx -b html -j auto``) on
``_build/site_src`` and writes ``_build/html``; its environment is kept in
``_build/site_cache`` so the next run re-reads only the sections whose merged notebooks
changed, and re-writes those and the pages whose numbers or links they change. Its
messages are mapped back to the ``.md`` file and line they come from; with ``strict`` any
warning fails the build (``-W``), which the tests and CI use.

The site also serves, from itself: MathJax (``vendor.py``), each section's notebook per
tab under ``notebooks/<tab>/``, a zip of each tab's notebooks, ``<name>-<tab>.zip``
(copied from ``_build/pkg`` when the pkg stage made it), and the PDFs of ``_build/pdf``
when the pdf stage made them.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .book import Book
from .diagnostics import Diagnostic
from .fsutil import atomic_write
from .notebooks import build_notebooks, notebook_dir
from .sitesrc import SitePage, SiteSource, write_site_source
from .vendor import install_mathjax, sync_tree

MESSAGE = re.compile(r"^(?:(?P<loc>.+?): )?(?P<level>WARNING|ERROR|SEVERE|CRITICAL): (?P<msg>.*)$")
LOCATION = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+))?(?::.*)?$")


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
    command = sphinx_command("html", site.root, out, cache_dir(book) / "doctrees", jobs)
    structure = [[d, book.section_number(d), book.documents[d].title] for d in book.order]
    if _stored(book, "structure.json", structure) != structure:
        # the table of contents changed: every page's sidebar and prev/next links show it,
        # which Sphinx does not track, so write every page (only changed ones are read)
        command.append("-a")
    if strict:
        command.append("-W")
    labels = _refresh_referrers(book, site)
    doctrees = cache_dir(book) / "doctrees"
    before = _mtimes(doctrees, ".doctree"), _mtimes(out, ".html")
    returncode, log, stderr_lines = run_sphinx(command, site.root, echo)
    read = _changed(before[0], _mtimes(doctrees, ".doctree"))
    written = [d for d in _changed(before[1], _mtimes(out, ".html")) if d in site.pages]
    diagnostics = map_messages(book, site, stderr_lines, strict)
    _retry_warned(site, diagnostics)
    _remove_pages(site, out)
    if returncode == 0:
        _write_downloads(book, out)
        atomic_write(cache_dir(book) / "labels.json", json.dumps(labels, indent=0, sort_keys=True))
        atomic_write(cache_dir(book) / "structure.json", json.dumps(structure, indent=0))
    result = HtmlResult(out, site, returncode, time.perf_counter() - start, read, written,
                        diagnostics, "\n".join(log + stderr_lines))
    return result


def sphinx_command(builder: str, source: Path, out: Path, doctrees: Path,
                   jobs: str | int = "auto") -> list[str]:
    """``python -m sphinx`` with a builder, in this interpreter (no colours: ``-N``)."""
    return [sys.executable, "-m", "sphinx", "-b", builder, "-j", str(jobs), "-N",
            "-d", str(doctrees), str(source), str(out)]


def run_sphinx(command: list[str], cwd: Path, echo=None,
               extra_env: dict[str, str] | None = None) -> tuple[int, list[str], list[str]]:
    """Run Sphinx with the book's extension importable (and ``extra_env`` set); return its
    exit status, its standard output (progress, each line also given to ``echo``) and its
    standard error (the warnings and errors, for ``map_messages``)."""
    package_parent = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, **(extra_env or {}), "PYTHONPATH": os.pathsep.join(
        [package_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, bufsize=1)
    log: list[str] = []
    stderr_lines: list[str] = []

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
    returncode = process.wait()
    reader.join()
    return returncode, log, stderr_lines


def _mtimes(folder: Path, suffix: str) -> dict[str, int]:
    """Modification times of the files with ``suffix`` under ``folder``, by name without
    the suffix (a docname: doctrees and pages are named after their documents)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix()[:-len(suffix)]: p.stat().st_mtime_ns
            for p in folder.rglob(f"*{suffix}")}


def _changed(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The documents Sphinx read (doctrees) or wrote (pages) in this run."""
    return sorted(name for name, mtime in after.items() if before.get(name) != mtime)


def map_messages(book: Book, site: SiteSource, lines: list[str], strict: bool) -> list[Diagnostic]:
    """Sphinx's warnings and errors as diagnostics at the ``.md`` file and line."""
    by_path = pages_by_path(site)
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
            path, line = locate(book, by_path, loc.group("path"), int(loc.group("line") or 0),
                                message)
        severity = "error" if strict or match.group("level") != "WARNING" else "warning"
        found.append(Diagnostic(path or "sphinx", line, message, "", severity))
    return found


def pages_by_path(site: SiteSource) -> dict[str, SitePage]:
    return {str(page.path.resolve()): page for page in site.pages.values()}


def locate(book: Book, by_path: dict, path: str, line: int, message: str = "") -> tuple[str, int]:
    """A place Sphinx names (a file of the source tree and a line in MyST-NB's numbering)
    as the ``.md`` file and line it comes from; other files relative to the project."""
    page = by_path.get(str(Path(path).resolve())) if path else None
    if page is not None:
        line = page.md_line(line) if line else 0
        return page.source, _refine_line(book, page.docname, line, message)
    return (book.rel(Path(path)) if path else ""), line


QUOTED = re.compile(r"""['"]([^'"\s]+)['"]""")


def _refine_line(book: Book, docname: str, line: int, message: str) -> int:
    """Sphinx places a message on the first line of its paragraph; when the message quotes
    a name (a label, a citation key) that appears a little further down, point there."""
    quoted = QUOTED.search(message)
    if not line or not quoted:
        return line
    lines = book.documents[docname].lines
    for number in range(line, min(line + 40, len(lines)) + 1):
        if quoted.group(1) in lines[number - 1]:
            return number
        if number > line and not lines[number - 1].strip():
            break  # end of the paragraph
    return line


def _refresh_referrers(book: Book, site: SiteSource) -> dict:
    """Make Sphinx re-render the pages that refer to a label whose number or title changed.

    Sphinx re-numbers the pages that hold the figures, tables, equations and sections, but
    does not know which other pages show those numbers in their ``{numref}`` links; the
    book's label index does. Compares it with the last build's and touches the notebooks of
    the sections that refer to a changed label. Returns the index, to save after the build."""
    labels = {name: [t.number, t.label.title, t.label.kind, t.docname]
              for name, t in book.targets.items()}
    previous = _stored(book, "labels.json", None)
    if previous is None:
        return labels  # first build: Sphinx renders everything anyway
    changed = {name for name in set(labels) | set(previous)
               if labels.get(name) != previous.get(name)}
    if not changed:
        return labels
    written = set(site.written)
    for docname, page in site.pages.items():
        doc = book.documents[docname]
        refers = {_role_label(role.content) for role in doc.roles
                  if role.name in ("numref", "ref", "eqref")}
        if refers & changed and page.path not in written and page.path.exists():
            os.utime(page.path)
    return labels


def _stored(book: Book, name: str, default):
    """What the last successful build saved in ``_build/site_cache/<name>`` (JSON); when
    there is no last build, ``default``."""
    try:
        return json.loads((cache_dir(book) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def _role_label(content: str) -> str:
    explicit = re.match(r".*<([^<>]+)>\s*$", content, re.S)
    return (explicit.group(1) if explicit else content).strip()


def _retry_warned(site: SiteSource, diagnostics: list[Diagnostic]) -> None:
    """Make Sphinx read again, next time, the sections it warned about: it reports a
    warning only when it reads or writes a page, and would otherwise stay silent about
    problems that are still there."""
    sources = {d.path for d in diagnostics}
    for page in site.pages.values():
        if page.source in sources and page.path.exists():
            os.utime(page.path)


def _remove_pages(site: SiteSource, out: Path) -> None:
    """Sphinx forgets sections that left the book but leaves their pages: remove them."""
    for path in site.removed:
        page = out / path.relative_to(site.root).with_suffix(".html")
        if page.is_file():
            page.unlink()


def _write_downloads(book: Book, out: Path) -> None:
    """Each tab's notebooks under ``notebooks/<tab>/``, and all of them as
    ``<name>-<tab>.zip``: the pkg stage's bundle when it has been built, else a plain zip."""
    tabs = book.config.tabs
    build_notebooks(book)  # what the notebooks stage writes; a no-op when it just ran
    for tab in tabs:
        source = notebook_dir(book, tab)
        target_dir = out / "notebooks" / tab
        sync_tree(source, target_dir)
        for stale in target_dir.rglob("*.ipynb"):
            if not (source / stale.relative_to(target_dir)).exists():
                stale.unlink()
        name = f"{book.config.name}-{tab}.zip"
        packaged = book.config.build_dir / "pkg" / name  # the pkg stage's bundle, if built
        data = packaged.read_bytes() if packaged.is_file() else _zip_folder(
            source, f"{book.config.name}-{tab}")
        target = out / name
        if not target.is_file() or target.read_bytes() != data:
            atomic_write(target, data)
    # the PDFs, when the pdf stage has made them (it also copies them here itself)
    for pdf in sorted((book.config.build_dir / "pdf").glob("*.pdf")):
        target = out / pdf.name
        if not target.is_file() or target.stat().st_size != pdf.stat().st_size \
                or target.read_bytes() != pdf.read_bytes():
            atomic_write(target, pdf.read_bytes())


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
