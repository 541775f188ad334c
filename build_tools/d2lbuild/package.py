"""Downloads for readers (the ``pkg`` stage): notebook bundles, Colab notebooks, the library.

* ``<name>-<tab>.zip``: every section as a notebook of that framework, in the chapter folder
  structure, with the images it shows. Outputs come from a full build when ``eval`` ran the
  current code; a quick build's outputs are never shipped (those notebooks ship clean).
* ``<name>-<tab>-colab.zip``: the same notebooks prepared for Colab: a first cell installs
  ``d2l==<release>`` and the framework, images point at absolute URLs, and sections that
  declare GPUs ask Colab for one.
* the ``d2l`` wheel and sdist, built from ``pyproject.toml`` with ``python -m build``.
"""

from __future__ import annotations

import copy
import io
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat
from nbformat.v4 import new_code_cell

from .book import Book, within
from .diagnostics import BuildError
from .fsutil import atomic_write
from .notebooks import notebook_dir

IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img [^>]*src=\"([^\"]+)\"")
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass
class BundleNotebook:
    docname: str
    nb: nbformat.NotebookNode
    has_outputs: bool


def eval_dir(book: Book, tab: str) -> Path:
    return book.config.build_dir / "eval" / tab


def _codes(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def shipped_notebook(book: Book, docname: str, tab: str) -> BundleNotebook:
    """The notebook readers get: executed if a full build ran this very code, else clean."""
    clean = nbformat.read(notebook_dir(book, tab) / f"{docname}.ipynb", 4)
    executed_path = eval_dir(book, tab) / f"{docname}.ipynb"
    if executed_path.exists():
        executed = nbformat.read(executed_path, 4)
        full = not executed.metadata.get("d2l", {}).get("quick", False)
        if full and _codes(executed) == _codes(clean):
            return BundleNotebook(docname, executed, True)
    for cell in clean.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return BundleNotebook(docname, clean, False)


def _image_paths(nb) -> list[str]:
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for m in IMAGE_LINK.finditer(cell.source):
                link = m.group(1) or m.group(2)
                if "://" not in link and not link.startswith("data:"):
                    found.append(link)
    return found


def _clean_metadata(nb) -> nbformat.NotebookNode:
    """Keep what Jupyter and readers use; drop build bookkeeping such as cache keys."""
    nb = copy.deepcopy(nb)
    d2l = nb.metadata.get("d2l", {})
    nb.metadata["d2l"] = {k: d2l[k] for k in ("source", "tab", "title", "number") if k in d2l}
    return nb


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, members[name])
    atomic_write(path, buffer.getvalue())


def bundle_members(book: Book, tab: str, colab: bool = False) -> tuple[dict[str, bytes], dict[str, int]]:
    """The files of one bundle (paths inside the zip -> bytes) and counts for the report."""
    top = PurePosixPath(f"{book.config.name}-{tab}{'-colab' if colab else ''}")
    root = notebook_dir(book, tab)
    members: dict[str, bytes] = {}
    counts = {"notebooks": 0, "with_outputs": 0, "images": 0}
    for docname in book.order:
        shipped = shipped_notebook(book, docname, tab)
        nb = _clean_metadata(shipped.nb)
        folder = PurePosixPath(docname).parent
        for link in _image_paths(nb):
            inside = within(folder, link)
            if inside is None or not (root / inside).is_file():
                raise BuildError(f"{book.documents[docname].rel}: image '{link}' is not in the build "
                                 f"tree ({root / folder / link}); run `d2lbuild check`")
            if not colab:
                members[str(top / inside)] = (root / inside).read_bytes()
                counts["images"] += 1
        if colab:
            nb = colab_notebook(book, docname, tab, nb)
        members[str(top / f"{docname}.ipynb")] = (nbformat.writes(nb) + "\n").encode()
        counts["notebooks"] += 1
        counts["with_outputs"] += shipped.has_outputs
    return members, counts


def colab_requirements(book: Book, tab: str, nb) -> list[str]:
    """``d2l==<release>`` and the requirements of each ``[colab] libs`` line ``name,
    requirement...`` whose name is the notebook's tab or a module the notebook imports."""
    requirements = [f"d2l=={book.config.release}"]
    code = "\n".join(_codes(nb))
    for line in book.config.get("colab", "libs").splitlines():
        if not line.strip():
            continue
        module, _, requirement = (part.strip() for part in line.partition(","))
        if module == tab or re.search(rf"^\s*(import|from)\s+{re.escape(module)}\b", code, re.M):
            requirements.extend(requirement.split() or [module])
    return requirements


def colab_notebook(book: Book, docname: str, tab: str, nb) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    if _codes(nb):
        pins = " ".join(f'"{r}"' for r in colab_requirements(book, tab, nb))
        install = new_code_cell(f"# Installs the book's library and the framework this notebook uses.\n"
                                f"!pip install {pins}")
        install["id"] = "colab-install"
        nb.cells.insert(0, install)
    prefix, _, url = (part.strip() for part in book.config.get("colab", "replace_svg_url").partition(","))
    if prefix and url:
        folder = PurePosixPath(docname).parent

        def absolute(m: re.Match) -> str:
            link = m.group(1) or m.group(2)
            inside = within(folder, link)
            if inside is None or inside.parts[0] != prefix.strip("/"):
                return m.group(0)
            target = url.rstrip("/") + "/" + "/".join(inside.parts[1:])
            return m.group(0).replace(link, target)

        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = IMAGE_LINK.sub(absolute, cell.source)
    gpus = book.documents[docname].front_matter.get("gpus", 0)
    if isinstance(gpus, int) and gpus > 0:
        nb.metadata["accelerator"] = "GPU"
        nb.metadata.setdefault("colab", {})["gpuType"] = "T4"
    nb.metadata.setdefault("colab", {})["provenance"] = []
    return nb


def build_bundles(book: Book, out: Path | None = None) -> list[tuple[Path, dict[str, int]]]:
    """Write the notebook zips of every tab (plain and Colab) into ``out`` (``_build/pkg``)."""
    out = out or book.config.build_dir / "pkg"
    written = []
    for tab in book.config.tabs:
        for colab in (False, True):
            members, counts = bundle_members(book, tab, colab)
            path = out / f"{book.config.name}-{tab}{'-colab' if colab else ''}.zip"
            _write_zip(path, members)
            written.append((path, counts))
    return written


def build_library_dists(book: Book, out: Path | None = None) -> list[Path]:
    """The ``d2l`` wheel and sdist, from the project's ``pyproject.toml``."""
    out = out or book.config.build_dir / "pkg"
    if not (book.config.root / "pyproject.toml").exists():
        raise BuildError("no pyproject.toml next to config.ini: nothing describes the library package")
    before = set(out.glob("*")) if out.exists() else set()
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                             "--outdir", str(out), str(book.config.root)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BuildError(f"building the d2l package failed:\n{tail}")
    made = [p for p in out.glob("*") if p not in before or p.suffix in (".whl", ".gz")]
    return sorted(p for p in made if p.name.endswith((".whl", ".tar.gz"))
                  and f"-{book.config.release}" in p.name)
