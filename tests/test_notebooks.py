"""Per-framework notebooks: the right cells, valid nbformat, Markdown translated for Jupyter."""

import shutil
from pathlib import Path

import nbformat
import pytest

from conftest import load, run_cli
from d2lbuild.notebooks import build_notebooks, make_notebook

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb") / "corpus"
    shutil.copytree(CORPUS, root)
    return load(root)


def sources(nb, kind):
    return [c.source for c in nb.cells if c.cell_type == kind]


def test_each_tab_gets_its_own_cells(book):
    mx = make_notebook(book, "chapter_basics/cells", "mxnet")
    pt = make_notebook(book, "chapter_basics/cells", "pytorch")
    mx_code, pt_code = sources(mx, "code"), sources(pt, "code")
    assert mx_code[0].startswith('def add(a, b):  #@save\n    """Add two numbers."""')
    assert pt_code[0] == "def add(a, b):  #@save\n    return a + b"
    assert len(mx_code) == 4 and len(pt_code) == 5  # Box is pytorch-only
    assert not any(c.startswith(("#@tab", "%%tab")) for c in mx_code + pt_code)
    assert "print(\"not executed\")" not in "".join(mx_code)  # plain fences stay prose
    assert "```python\nprint(\"not executed\")\n```" in "\n".join(sources(mx, "markdown"))


def test_notebooks_are_valid_and_record_origins(book):
    nb = make_notebook(book, "chapter_basics/cells", "pytorch")
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    meta = nb.metadata["d2l"]
    assert meta["source"].endswith("chapter_basics/cells.md") and meta["tab"] == "pytorch"
    assert meta["number"] == "1.1"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.metadata["d2l"]["line"] == 22  # the pytorch `add` fence in the .md
    assert first_code.metadata["d2l"]["tabs"] == ["pytorch"]
    assert len({c["id"] for c in nb.cells}) == len(nb.cells)


def test_markdown_is_translated_for_jupyter(book):
    nb = make_notebook(book, "chapter_basics/prose", "mxnet")
    text = "\n".join(sources(nb, "markdown"))
    assert ":numref:" not in text.replace("`:numref:`", "") and ":label:" not in text
    assert "[Section 1.1](cells.ipynb)" in text              # numref to a section
    assert "[Section 1.1.1](cells.ipynb#subsec_checks)" in text  # to a subsection
    assert "[Code Cells](cells.ipynb)" in text               # :ref: shows the title
    assert "[Fig. 1.2.1](#fig_boxes)" in text               # same-page figure
    assert "and (1.2.1) states" in text and "\\tag{1.2.1}$$" in text
    assert "[Table 1.2.1](#tab_sizes)" in text
    assert "*Sizes of things*\n\n| thing | size |" in text
    assert "| box   | 2    |\n\n<a id=\"tab_sizes\"></a>" in text
    assert "(Smith and Jones, 2019)" in text and "Lee et al. (2021)" in text
    assert "Inline code such as\n`:numref:` is not a reference" in text
    assert "![Two boxes and an arrow.](../img/boxes.svg)" in text and ":width:" not in text
    assert "Only MXNet readers see this." in text and "Only PyTorch" not in text
    assert "begin_tab" not in text and "end_tab" not in text
    pt_text = "\n".join(sources(make_notebook(book, "chapter_basics/prose", "pytorch"), "markdown"))
    assert "Only PyTorch readers see this." in pt_text and "Only MXNet" not in pt_text


def test_prose_only_section_is_a_valid_notebook(book):
    nb = make_notebook(book, "chapter_basics/prose", "pytorch")
    nbformat.validate(nb)
    assert sources(nb, "code") == [] and nb.cells


def test_index_toc_becomes_links_and_rest_is_dropped(book):
    nb = make_notebook(book, "index", "mxnet")
    text = "\n".join(sources(nb, "markdown"))
    assert "- [Preface](preface.ipynb)" in text
    assert "- [1. Basics](chapter_basics/index.ipynb)" in text
    assert "eval_rst" not in text and "reST-only" not in text


def test_reverse_alias_rewrites_code_of_its_tab(book_dir):
    root = book_dir({
        "index.md": "# Home\n\n```toc\nsec\n```\n",
        "sec.md": "# S\n\n```{.python .input}\n#@tab all\nx = d2l.ones(3)\n```\n",
    }, config="[build]\ntabs = mxnet, pytorch\n[library-pytorch]\nlib_file = d2l/torch.py\n"
              "reverse_alias = d2l\\.ones\\( -> torch.ones(\n")
    b = load(root)
    assert sources(make_notebook(b, "sec", "pytorch"), "code") == ["x = torch.ones(3)"]
    assert sources(make_notebook(b, "sec", "mxnet"), "code") == ["x = d2l.ones(3)"]


def test_build_writes_files_images_and_prunes_stale_ones(tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS, root)
    result = run_cli(root, "notebooks")
    assert result.returncode == 0, result.stderr
    for tab in ("mxnet", "pytorch"):
        base = root / "_build/notebooks" / tab
        for name in ("index", "preface", "chapter_basics/index", "chapter_basics/cells", "chapter_basics/prose"):
            nbformat.validate(nbformat.read(base / f"{name}.ipynb", 4))
        # The image path written in the section resolves from the notebook's folder.
        assert (base / "chapter_basics" / "../img/boxes.svg").resolve().is_file()
    stale = root / "_build/notebooks/mxnet/old.ipynb"
    stale.write_text("{}")
    mtime = (root / "_build/notebooks/mxnet/preface.ipynb").stat().st_mtime_ns
    build_notebooks(load(root), ["mxnet"])
    assert not stale.exists()
    assert (root / "_build/notebooks/mxnet/preface.ipynb").stat().st_mtime_ns == mtime  # untouched
