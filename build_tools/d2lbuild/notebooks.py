"""Per-framework notebooks (the ``notebooks`` stage): one nbformat-4 file per section and tab.

Each notebook holds its tab's code cells and the prose every reader of that tab sees,
translated for plain Jupyter. Metadata records the source file, the tab and, for every cell,
where it came from (line and position in the ``.md``), which execution uses to report errors
at the right line and the merge stage uses to line tabs up.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .book import Book
from .fsutil import write_if_changed
from .translate import translate

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def notebook_dir(book: Book, tab: str) -> Path:
    return book.config.build_dir / "notebooks" / tab


def apply_reverse_alias(book: Book, tab: str, code: str) -> str:
    library = book.config.libraries.get(tab)
    for pattern, replacement in (library.reverse_alias if library else ()):
        code = re.sub(pattern, replacement, code)
    return code


def make_notebook(book: Book, docname: str, tab: str) -> nbformat.NotebookNode:
    doc = book.documents[docname]
    cells = []
    for index, cell in enumerate(doc.cells):
        origin = {"line": cell.line, "end_line": cell.end_line, "index": index}
        if cell.kind == "markdown":
            if cell.tabs is not None and tab not in cell.tabs:
                continue
            text = translate(book, docname, cell.text)
            if not text.strip():
                continue
            nb_cell = new_markdown_cell(text)
            origin["tabs"] = list(cell.tabs) if cell.tabs is not None else "all"
        else:
            if tab not in cell.tabs:
                continue
            nb_cell = new_code_cell(apply_reverse_alias(book, tab, cell.source))
            origin["tabs"] = list(cell.tabs)
            if cell.attrs:
                origin["attrs"] = dict(cell.attrs)
        nb_cell["id"] = f"cell-{index}"
        nb_cell.metadata["d2l"] = origin
        cells.append(nb_cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["d2l"] = {
        "source": doc.rel,
        "docname": docname,
        "tab": tab,
        "title": doc.title,
        "number": book.section_number(docname),
        "front_matter": doc.front_matter,
    }
    return nb


def build_notebooks(book: Book, tabs: list[str] | None = None) -> dict[str, list[Path]]:
    """Write every notebook of the given tabs (all by default); return them by tab.

    Unchanged notebooks keep their files (and times); notebooks of sections that left the
    book are removed, so the tree always mirrors the sources."""
    written: dict[str, list[Path]] = {}
    for tab in tabs or book.config.tabs:
        root = notebook_dir(book, tab)
        paths = []
        for docname in book.order:
            nb = make_notebook(book, docname, tab)
            nbformat.validate(nb)
            path = root / f"{docname}.ipynb"
            write_if_changed(path, nbformat.writes(nb) + "\n")
            paths.append(path)
        _sync_assets(book, root)
        _prune(root, set(paths))
        written[tab] = paths
    return written


def _sync_assets(book: Book, root: Path) -> None:
    """Make the images the sections show resolve from the notebooks' folder: resources go
    beside the notebooks under their own name, other referenced files to their place."""
    for resource in book.config.resources:
        source = book.config.root / resource.rstrip("/")
        if source.exists():
            _copy_tree(source, root / source.name)
    for docname in book.order:
        for image in book.documents[docname].images:
            source = book.resolve_asset(docname, image.path)
            if source is None or not source.is_file():
                continue
            try:
                rel = source.resolve().relative_to(book.source_root.resolve())
            except ValueError:
                continue  # served by a resource, already copied
            _copy_file(source, root / rel)


def _copy_file(source: Path, target: Path) -> None:
    stat = source.stat()
    if target.exists():
        mine = target.stat()
        if mine.st_size == stat.st_size and mine.st_mtime_ns == stat.st_mtime_ns:
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own, so two builds copying the same image at once cannot collide.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_tree(source: Path, target: Path) -> None:
    if source.is_file():
        _copy_file(source, target)
        return
    for path in source.rglob("*"):
        if path.is_file():
            _copy_file(path, target / path.relative_to(source))


def _prune(root: Path, keep: set[Path]) -> None:
    for path in root.rglob("*.ipynb"):
        if path not in keep and ".ipynb_checkpoints" not in path.parts:
            path.unlink()
