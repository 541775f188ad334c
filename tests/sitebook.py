"""A small book for the website tests, and a function that builds its site.

It has front matter, a numbered chapter with two sections and a references page; code in
both tabs, prose tabs, a ``#@tab all`` cell whose output differs between tabs and one whose
output does not, a section with code in one tab only, a figure, an equation, a table,
citations and references within and across pages. Two sections are executed with nbclient
into ``_build/eval`` (one of them marked as a quick build), as the eval stage writes them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

from conftest import load, write_book

CONFIG = """\
[project]
name = sample
title = A Sample Book
author = Tests
release = 1.0.0

[build]
tabs = mxnet, pytorch
resources = img refs.bib

[html]
header_links = PDF, sample.pdf, fa-solid fa-file-pdf,
    Notebooks, sample-pytorch.zip, fa-solid fa-download,
    GitHub, https://example.org/sample, fa-brands fa-github
discussion_url = https://example.org/discuss/{docname}

[colab]
url_pattern = https://colab.example.org/{tab}/{docname}.ipynb
"""

FENCE = "```"


def _d(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def cell(code: str, tab: str | None = None) -> str:
    head = f"#@tab {tab}\n" if tab else ""
    return f"{FENCE}{{.python .input}}\n{head}{textwrap.dedent(code).strip()}\n{FENCE}\n\n"


FILES = {
    "index.md": f"""
        A Sample Book
        =============

        {FENCE}eval_rst
        .. raw:: html
           :file: frontpage.html
        {FENCE}

        {FENCE}toc
        :maxdepth: 1

        preface
        {FENCE}

        {FENCE}toc
        :numbered:
        :maxdepth: 2

        chapter_one/index
        {FENCE}

        {FENCE}toc
        :maxdepth: 1

        references
        {FENCE}
        """,
    "static/frontpage.html": """
        <div class="sample-front"><p>Welcome to the sample.</p>
        <!-- d2l:header-links -->
        </div>
        """,
    "preface.md": """
        # Preface
        :label:`chap_preface`

        Front matter is not numbered. The book starts with :numref:`chap_one`.
        """,
    "chapter_one/index.md": f"""
        # First Chapter
        :label:`chap_one`

        This chapter has two sections, starting with :numref:`sec_tensors`.

        {FENCE}toc
        :maxdepth: 2

        tensors
        mxnet_only
        {FENCE}
        """,
    "chapter_one/tensors.md": _d("""
        # Tensors
        :label:`sec_tensors`

        Arrays are old :cite:`Smith.Jones.2019`, as :citet:`Lee.Park.2021` recall.
        See :numref:`fig_boxes`, :eqref:`eq_sum` and :numref:`tab_sizes`; inline math
        such as $x^2$ is typeset too.

        ![Two boxes and an arrow.](../img/boxes.svg)
        :width:`200px`
        :label:`fig_boxes`

        $$a_1 + a_2 = s.$$
        :eqlabel:`eq_sum`

        :Sizes of things

        | thing | size |
        |-------|------|
        | box   | 2    |
        :label:`tab_sizes`

        ## Code
        :label:`subsec_code`

        """) + cell("FRAMEWORK = 'mxnet'\nprint('hello from', FRAMEWORK)") + "\n"
        + cell("FRAMEWORK = 'pytorch'\nprint('hello from', FRAMEWORK)", "pytorch") + _d("""
        :begin_tab:`mxnet`
        MXNet readers read this.
        :end_tab:

        :begin_tab:`pytorch`
        PyTorch readers read this.
        :end_tab:

        Both frameworks agree on sums, so the next cell appears once.

        """) + cell("print(sum(range(4)))", "all") + _d("""
        They name themselves differently, so this one appears in each tab.

        """) + cell("print(FRAMEWORK.upper())", "all") + _d("""
        ## Summary

        * Boxes, sums and :numref:`subsec_code`.
        """),
    "chapter_one/mxnet_only.md": _d("""
        # MXNet Only
        :label:`sec_mxnet_only`

        This section goes back to :numref:`sec_tensors` and its :numref:`fig_boxes`.

        """) + cell("print('only mxnet')") + _d("""
        The end.
        """),
    "references.md": """
        # References

        :bibliography:`refs.bib`
        """,
    "refs.bib": """
        @article{Smith.Jones.2019,
          title = {Arrays},
          author = {Smith, Ann and Jones, Bob},
          journal = {Journal of Arrays},
          year = {2019}
        }

        @book{Lee.Park.2021,
          title = {Tensors},
          author = {Lee, Cho and Park, Dae},
          publisher = {Press},
          year = {2021}
        }
        """,
    "img/boxes.svg": """
        <svg xmlns="http://www.w3.org/2000/svg" width="200" height="80" viewBox="0 0 200 80">
        <rect x="10" y="20" width="50" height="40" fill="none" stroke="black"/>
        <rect x="140" y="20" width="50" height="40" fill="none" stroke="black"/>
        <line x1="60" y1="40" x2="140" y2="40" stroke="black"/></svg>
        """,
}


def write_sample_book(root: Path) -> Path:
    files = {name: _d(text) for name, text in FILES.items()}
    return write_book(root, files, CONFIG)


def execute_into_eval(root: Path, docname: str, tab: str, quick: bool = False,
                      data: str = "origin") -> Path:
    """Run a section's notebook for one tab with nbclient and store it as the eval stage
    does: ``_build/eval/<tab>/<docname>.ipynb``, same cells and metadata, plus outputs."""
    from nbclient import NotebookClient

    from d2lbuild.notebooks import make_notebook

    book = load(root)
    nb = make_notebook(book, docname, tab)
    folder = root / "_build" / "eval" / tab
    path = folder / f"{docname}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    NotebookClient(nb, timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata["d2l"]["quick"] = quick
    nb.metadata["d2l"]["data"] = data
    nbformat.write(nb, path)
    return path


def build_sample_site(root: Path):
    """Write the sample book, execute two sections, build the site (strict); return
    (root, result of build_html)."""
    from d2lbuild.notebooks import build_notebooks
    from d2lbuild.website import build_html

    write_sample_book(root)
    build_notebooks(load(root))
    execute_into_eval(root, "chapter_one/tensors", "mxnet", quick=True)
    execute_into_eval(root, "chapter_one/tensors", "pytorch", quick=True)
    execute_into_eval(root, "chapter_one/mxnet_only", "mxnet", data="mirror:0123abcd")
    result = build_html(load(root), strict=True)
    return root, result
