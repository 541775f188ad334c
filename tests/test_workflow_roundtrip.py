"""The Jupyter round trip: ``open`` a section as one tab's notebook, edit it, ``writeback``."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, run_cli
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from d2lbuild.cli import main
from d2lbuild.config import load_config
from d2lbuild.roundtrip import EDIT_KEY, plan_writeback, read_source

CONFIG = """\
[project]
name = rt
release = 0.1.0

[build]
tabs = mxnet, pytorch
resources = img
"""

SECTION = """\
---
gpus: 1
---
# Linear Models
:label:`sec_linear`

A model is a function, see :numref:`fig_line` and :eqref:`eq_line`.

$$y = wx + b$$
:eqlabel:`eq_line`

![A line.](../img/line.svg)
:label:`fig_line`

```{.python .input  n=1}
from mxnet import np
x = np.arange(3)
```

```{.python .input}
#@tab pytorch
import torch
x = torch.arange(3)
```

:begin_tab:`pytorch`
PyTorch makes an int64 tensor.
:end_tab:

```{.python .input}
#@tab all
def double(v):  #@save
    return 2 * v
```

Now we use it.

```{.python .input}
#@tab pytorch
y = double(x)
y
```

```{.python .input}
y = double(x)
y
```

## Summary

* Lines are models.
"""

FILES = {
    "index.md": "# Book\n\n```toc\n:maxdepth: 1\n\nchapter_lin/linear\n```\n",
    "chapter_lin/linear.md": SECTION,
    "img/line.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>\n',
}


@pytest.fixture
def book(tmp_path) -> Path:
    root = tmp_path / "book"
    root.mkdir()
    (root / "config.ini").write_text(CONFIG)
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def md(book: Path) -> str:
    return (book / "chapter_lin" / "linear.md").read_text()


def open_nb(book: Path, tab: str = "pytorch", *extra: str) -> Path:
    done = run_cli(book, "open", "chapter_lin/linear.md", "--tab", tab, *extra)
    assert done.returncode == 0, done.stderr
    path = book / done.stdout.strip()
    assert path == book / "_build" / "edit" / tab / "chapter_lin" / "linear.ipynb"
    return path


def writeback(book: Path, nb_path: Path, *extra: str) -> int:
    return main(["--root", str(book), "writeback", str(nb_path), *extra])


def edit(nb_path: Path, change) -> None:
    nb = nbformat.read(nb_path, as_version=4)
    change(nb)
    nbformat.write(nb, nb_path)


def changed_lines(before: str, after: str) -> list[tuple[str, list[str], list[str]]]:
    """The differing regions: (operation, old lines, new lines)."""
    a, b = before.split("\n"), after.split("\n")
    return [(op, a[i1:i2], b[j1:j2])
            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
            if op != "equal"]


def cell_with(nb, text: str):
    return next(c for c in nb.cells if text in c.source)


def test_open_gives_the_original_markdown_of_one_tab(book):
    path = open_nb(book)
    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata[EDIT_KEY]
    assert meta["source"] == "chapter_lin/linear.md" and meta["tab"] == "pytorch"
    assert meta["docname"] == "chapter_lin/linear" and len(meta["sha256"]) == 64
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code == ["import torch\nx = torch.arange(3)", "def double(v):  #@save\n    return 2 * v",
                    "y = double(x)\ny"]
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    # untranslated: labels, roles and the prose tab's text as written; no front matter
    assert ":label:`sec_linear`" in prose and ":numref:`fig_line`" in prose
    assert ":eqlabel:`eq_line`" in prose and "PyTorch makes an int64 tensor." in prose
    assert "gpus" not in prose and ":begin_tab:" not in prose
    for cell in nb.cells:
        origin = cell.metadata[EDIT_KEY]
        assert {"index", "line", "tabs", "sha256"} <= set(origin)
    # images resolve from the notebook's folder as from the .md's
    assert (path.parent / "../img/line.svg").resolve().is_file()


def test_no_edit_writes_nothing(book):
    before = (book / "chapter_lin/linear.md").read_bytes()
    for tab in ("mxnet", "pytorch"):
        path = open_nb(book, tab)
        assert writeback(book, path) == 0
    assert (book / "chapter_lin/linear.md").read_bytes() == before


def test_code_edit_changes_exactly_that_cell(book):
    before = md(book)
    path = open_nb(book)
    edit(path, lambda nb: setattr(cell_with(nb, "y = double(x)"), "source", "y = double(x) + 1\ny"))
    assert writeback(book, path) == 0
    after = md(book)
    assert changed_lines(before, after) == [("replace", ["y = double(x)"], ["y = double(x) + 1"])]
    # the mxnet cell with the same code is untouched, and the pytorch cell kept its tab line
    assert "#@tab pytorch\ny = double(x) + 1\ny\n```" in after
    assert "```{.python .input}\ny = double(x)\ny\n```" in after


def test_prose_edit_changes_exactly_that_paragraph(book):
    before = md(book)
    path = open_nb(book)

    def change(nb):
        cell = cell_with(nb, "Now we use it.")
        cell.source = cell.source.replace("Now we use it.", "Now we use it,\ntwice over.")
    edit(path, change)
    assert writeback(book, path) == 0
    assert changed_lines(before, md(book)) == [
        ("replace", ["Now we use it."], ["Now we use it,", "twice over."])]


def test_prose_tab_edit_stays_inside_its_block(book):
    path = open_nb(book)
    edit(path, lambda nb: setattr(cell_with(nb, "int64"), "source", "PyTorch infers int64."))
    assert writeback(book, path) == 0
    assert ":begin_tab:`pytorch`\nPyTorch infers int64.\n:end_tab:\n" in md(book)


def test_shared_cell_is_split_by_default_and_edited_for_all_on_request(book, tmp_path):
    pristine = md(book)
    path = open_nb(book)
    new = "def double(v):  #@save\n    return v + v"
    edit(path, lambda nb: setattr(cell_with(nb, "def double"), "source", new))
    assert writeback(book, path) == 0
    after = md(book)
    assert ("```{.python .input}\n#@tab mxnet\ndef double(v):  #@save\n    return 2 * v\n```\n\n"
            "```{.python .input}\n#@tab pytorch\ndef double(v):  #@save\n    return v + v\n```\n") in after
    assert changed_lines(pristine, after)[0][0] == "replace"

    (book / "chapter_lin/linear.md").write_text(pristine)
    path = open_nb(book, "pytorch", "--force")
    edit(path, lambda nb: setattr(cell_with(nb, "def double"), "source", new))
    assert writeback(book, path, "--shared", "all") == 0
    assert changed_lines(pristine, md(book)) == [("replace", ["    return 2 * v"], ["    return v + v"])]


def test_added_and_deleted_cells(book):
    before = md(book)
    path = open_nb(book)

    def change(nb):
        at = nb.cells.index(cell_with(nb, "import torch"))
        nb.cells.insert(at + 1, new_code_cell("print(x.dtype)"))
        nb.cells.insert(at + 2, new_markdown_cell("The dtype is int64."))
        nb.cells.remove(cell_with(nb, "y = double(x)"))   # a pytorch-only cell
        nb.cells.append(new_code_cell(""))                # Jupyter's empty last cell
    edit(path, change)
    assert writeback(book, path) == 0
    after = md(book)
    assert ("#@tab pytorch\nimport torch\nx = torch.arange(3)\n```\n\n"
            "```{.python .input}\n#@tab pytorch\nprint(x.dtype)\n```\n\n"
            "The dtype is int64.\n\n:begin_tab:`pytorch`") in after
    assert "#@tab pytorch\ny = double(x)" not in after
    assert "```{.python .input}\ny = double(x)\ny\n```" in after  # mxnet's stays
    # nothing else moved: the diff is one insertion and one deletion
    assert [op for op, _, _ in changed_lines(before, after)] == ["insert", "delete"]


def test_deleting_a_shared_cell_keeps_it_for_the_other_tab(book):
    path = open_nb(book)
    edit(path, lambda nb: nb.cells.remove(cell_with(nb, "def double")))
    assert writeback(book, path) == 0
    assert "```{.python .input}\n#@tab mxnet\ndef double(v):  #@save" in md(book)


def test_added_code_after_a_prose_tab_goes_after_its_end_tab(book):
    path = open_nb(book)

    def change(nb):
        at = nb.cells.index(cell_with(nb, "int64"))
        nb.cells.insert(at + 1, new_code_cell("x.dtype"))
    edit(path, change)
    assert writeback(book, path) == 0
    assert (":end_tab:\n\n```{.python .input}\n#@tab pytorch\nx.dtype\n```\n\n"
            "```{.python .input}\n#@tab all\n") in md(book)


def test_moved_cell(book):
    path = open_nb(book)

    def change(nb):
        cell = cell_with(nb, "y = double(x)")
        nb.cells.remove(cell)
        nb.cells.insert(nb.cells.index(cell_with(nb, "int64")) + 1, cell)
    edit(path, change)
    assert writeback(book, path) == 0
    after = md(book)
    from d2lbuild.source import parse_document
    doc = parse_document(book / "x.md", "x.md", "x", ["mxnet", "pytorch"], text=after)
    assert [c.source for c in doc.code_cells("pytorch")] == [
        "import torch\nx = torch.arange(3)", "y = double(x)\ny", "def double(v):  #@save\n    return 2 * v"]
    assert [c.source for c in doc.code_cells("mxnet")][-1] == "y = double(x)\ny"


def test_writeback_refreshes_the_notebook_so_editing_goes_on(book):
    path = open_nb(book)
    edit(path, lambda nb: setattr(cell_with(nb, "y = double(x)"), "source", "y = 3 * x\ny"))
    assert writeback(book, path) == 0
    edit(path, lambda nb: setattr(cell_with(nb, "y = 3 * x"), "source", "y = 4 * x\ny"))
    assert writeback(book, path) == 0
    assert "#@tab pytorch\ny = 4 * x\ny\n```" in md(book)


def test_refuses_a_notebook_open_did_not_make(book, tmp_path):
    before = md(book)
    foreign = tmp_path / "foreign.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), foreign)
    done = run_cli(book, "writeback", str(foreign))
    assert done.returncode == 1
    assert "not made by `d2lbuild open`" in done.stderr and "refused" in done.stderr
    # nor the notebooks stage's notebook (translated prose: writing it back would be lossy)
    assert run_cli(book, "notebooks").returncode == 0
    stage = book / "_build" / "notebooks" / "pytorch" / "chapter_lin" / "linear.ipynb"
    done = run_cli(book, "writeback", str(stage))
    assert done.returncode == 1 and "not made by `d2lbuild open`" in done.stderr
    assert md(book) == before


def test_refuses_when_the_section_changed_since(book):
    path = open_nb(book)
    edit(path, lambda nb: setattr(cell_with(nb, "y = double(x)"), "source", "y = 0"))
    meanwhile = md(book).replace("Lines are models.", "Lines are simple models.")
    (book / "chapter_lin/linear.md").write_text(meanwhile)
    done = run_cli(book, "writeback", str(path))
    assert done.returncode == 1
    assert "has changed since this notebook was made" in done.stderr
    assert md(book) == meanwhile


def test_open_keeps_edits_that_are_not_written_back(book):
    path = open_nb(book)
    edit(path, lambda nb: setattr(cell_with(nb, "y = double(x)"), "source", "y = 0"))
    done = run_cli(book, "open", "chapter_lin/linear.md", "--tab", "pytorch")
    assert done.returncode == 1 and "not written back" in done.stderr
    assert "y = 0" in path.read_text()
    open_nb(book, "pytorch", "--force")
    assert "y = 0" not in path.read_text()


def test_refuses_edits_it_cannot_place(book):
    before = md(book)
    path = open_nb(book)
    edit(path, lambda nb: nb.cells.append(new_markdown_cell("```{.python .input}\nz = 1\n```")))
    done = run_cli(book, "writeback", str(path))
    assert done.returncode == 1 and "nothing was written" in done.stderr
    assert md(book) == before


def test_dry_run_shows_the_diff(book):
    before = md(book)
    path = open_nb(book)
    edit(path, lambda nb: setattr(cell_with(nb, "y = double(x)"), "source", "y = 5"))
    done = run_cli(book, "writeback", str(path), "--dry-run")
    assert done.returncode == 0
    assert "-y = double(x)\n-y\n+y = 5\n" in done.stdout and "dry run" in done.stdout
    assert md(book) == before


def test_crlf_line_ends_are_kept(book):
    source = book / "chapter_lin/linear.md"
    source.write_bytes(SECTION.replace("\n", "\r\n").encode())
    path = open_nb(book)
    edit(path, lambda nb: setattr(cell_with(nb, "y = double(x)"), "source", "y = 7\ny"))
    assert writeback(book, path) == 0
    data = source.read_bytes()
    assert data == SECTION.replace("#@tab pytorch\ny = double(x)", "#@tab pytorch\ny = 7") \
        .replace("\n", "\r\n").encode()


def test_every_corpus_section_round_trips_unchanged(tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(REPO / "tests" / "corpus", root)
    config = load_config(root)
    from d2lbuild.book import Book
    from d2lbuild.roundtrip import edit_notebook

    book = Book.load(config)
    for docname in book.order:
        source = read_source(config, book.doc_path(docname), docname)
        for tab in config.tabs:
            nb = edit_notebook(source, tab)
            plan = plan_writeback(source, nb, tab, "split", config.tabs)
            assert not plan.any and plan.text == source.raw, (docname, tab)



def test_added_code_holding_a_fence_gets_a_longer_fence(book):
    path = open_nb(book)
    code = 'md = """\n```\nnot a fence of ours\n```\n"""'
    edit(path, lambda nb: nb.cells.append(new_code_cell(code)))
    assert writeback(book, path) == 0
    assert "````{.python .input}\n#@tab pytorch\n" + code + "\n````\n" in md(book)


def test_a_draft_no_toc_lists_yet_opens_and_writes_back(book):
    draft = book / "chapter_lin" / "draft.md"
    draft.write_text("# Draft\n\nText.\n\n```{.python .input}\n#@tab pytorch\nz = 1\n```\n")
    done = run_cli(book, "open", str(draft), "--tab", "pytorch")
    assert done.returncode == 0, done.stderr
    path = book / done.stdout.strip()
    edit(path, lambda nb: setattr(cell_with(nb, "z = 1"), "source", "z = 2"))
    assert writeback(book, path) == 0
    assert draft.read_text() == "# Draft\n\nText.\n\n```{.python .input}\n#@tab pytorch\nz = 2\n```\n"
    done = run_cli(book, "open", "no/such/section.md", "--tab", "pytorch")
    assert done.returncode == 1 and "no section" in done.stderr


def test_open_jupyter_without_jupyter_says_so(book):
    import sys

    here = Path(sys.executable).parent
    if any(shutil.which(n) or (here / n).exists() for n in ("jupyter-lab", "jupyter-notebook")):
        pytest.skip("Jupyter is installed here: this test would start it")
    done = run_cli(book, "open", "chapter_lin/linear.md", "--tab", "pytorch", "--jupyter")
    assert done.returncode == 1 and "Jupyter is not installed" in done.stderr
    assert done.stdout.strip() == "_build/edit/pytorch/chapter_lin/linear.ipynb"  # still written
