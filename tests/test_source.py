"""The Markdown parser on tricky input: which fences are cells, tabs, prose tabs, labels."""

import textwrap
from pathlib import Path

import pytest

from d2lbuild.source import parse_document

TABS = ["mxnet", "pytorch"]


def parse(text: str):
    text = textwrap.dedent(text).lstrip("\n")
    return parse_document(Path("sec.md"), "sec.md", "sec", TABS, text=text)


def codes(doc):
    return [(c.source, c.tabs, c.line) for c in doc.code_cells()]


def messages(doc):
    return [(d.line, d.message) for d in doc.diagnostics]


@pytest.mark.parametrize("fence, is_cell", [
    ("```{.python .input}", True),
    ("```{.python .input  n=3}", True),
    ("```{.python .input .unittest n=12}", True),
    ("```python", False),
    ("```bash", False),
    ("```text", False),
    ("```", False),
    ("````{.python .input}", True),
    ("  ```{.python .input}", True),  # up to 3 spaces: still a top-level fence
])
def test_which_fences_are_code_cells(fence, is_cell):
    closing = fence.strip().split("{")[0].rstrip("pythonbashtext")  # noqa: B005 - the letters
    doc = parse(f"# T\n\n{fence}\nx = 1\n{closing}\n")
    assert (len(doc.code_cells()) == 1) == is_cell
    assert not [d for d in doc.diagnostics if d.severity == "error"]


def test_attributes_are_kept():
    doc = parse("```{.python .input  n=3}\nx = 1\n```\n")
    assert doc.code_cells()[0].attrs == {"n": "3"}


def test_four_space_indent_is_an_indented_code_block_not_a_cell():
    doc = parse("Text\n\n    ```{.python .input}\n    x = 1\n    ```\n")
    assert doc.code_cells() == []


def test_fence_inside_longer_fence_is_text():
    doc = parse("""
        ````md
        ```{.python .input}
        shown = True
        ```
        ````

        ```{.python .input}
        real = True
        ```
        """)
    assert codes(doc) == [("real = True", ("mxnet",), 7)]


def test_fence_with_longer_backtick_run_contains_shorter_fences():
    doc = parse("`````{.python .input}\ns = '''\n```\n'''\n`````\n")
    assert codes(doc) == [("s = '''\n```\n'''", ("mxnet",), 1)]


def test_code_cell_inside_a_list_is_reported():
    doc = parse("1. Step\n\n   ```{.python .input}\n   x = 1\n   ```\n")
    assert doc.code_cells() == []
    assert (3, "a code cell inside a list or quote is not run") in messages(doc)


@pytest.mark.parametrize("first_line, tabs", [
    (None, ("mxnet",)),
    ("#@tab pytorch", ("pytorch",)),
    ("#@tab mxnet, pytorch", ("mxnet", "pytorch")),
    ("#@tab pytorch,mxnet", ("mxnet", "pytorch")),
    ("#@tab all", ("mxnet", "pytorch")),
    ("# @tab pytorch", ("pytorch",)),
    ("%%tab pytorch", ("pytorch",)),
    ("%%tab all", ("mxnet", "pytorch")),
])
def test_tab_marks(first_line, tabs):
    body = (first_line + "\n" if first_line else "") + "x = 1"
    doc = parse(f"```{{.python .input}}\n{body}\n```\n")
    cell = doc.code_cells()[0]
    assert cell.tabs == tabs
    assert cell.source == "x = 1"  # the tab line is not part of the code
    assert cell.code_line == (3 if first_line else 2)


def test_unknown_tab_is_reported_at_its_line():
    doc = parse("# T\n\n```{.python .input}\n#@tab tensorflow\nx = 1\n```\n")
    assert (4, "unknown tab 'tensorflow'") in messages(doc)


def test_prose_tabs_split_markdown():
    doc = parse("""
        # T

        Everyone.

        :begin_tab:`pytorch`
        Only PyTorch.
        :end_tab:

        :begin_tab:`mxnet, pytorch`
        Both, by name.
        :end_tab:

        Everyone again.
        """)
    prose = [(c.text, c.tabs) for c in doc.cells]
    assert prose == [("# T\n\nEveryone.", None), ("Only PyTorch.", ("pytorch",)),
                     ("Both, by name.", ("mxnet", "pytorch")), ("Everyone again.", None)]
    assert [c.line for c in doc.cells] == [1, 6, 10, 13]


@pytest.mark.parametrize("text, expected", [
    (":begin_tab:`pytorch`\nNever closed.\n", (1, "':begin_tab:' block is never closed")),
    ("Text.\n:end_tab:\n", (2, "':end_tab:' without a ':begin_tab:' before it")),
    (":begin_tab:`pytorch`\n:begin_tab:`mxnet`\n:end_tab:\n", (2, "':begin_tab:' inside another :begin_tab: block")),
    (":begin_tab:`jax`\nx\n:end_tab:\n", (1, "unknown tab 'jax'")),
    (":begin_tab:`pytorch`\n\n```{.python .input}\nx\n```\n:end_tab:\n", (3, "a code cell sits inside a :begin_tab: block")),
    ("Some :begin_tab:`pytorch` text\n", (1, "':begin_tab:' and ':end_tab:' must stand alone on their line")),
])
def test_prose_tab_mistakes(text, expected):
    assert expected in messages(parse(text))


def test_tab_marks_in_code_are_not_prose_tabs():
    doc = parse("```md\n:begin_tab:`pytorch`\n```\n\nWrite `:end_tab:` to close.\n")
    assert doc.diagnostics == []
    assert all(c.tabs is None for c in doc.cells)


def test_unclosed_fence_is_reported():
    doc = parse("# T\n\n```{.python .input}\nx = 1\n")
    assert (3, "code fence '```' is never closed") in messages(doc)


def test_unclosed_longer_fence_is_not_closed_by_shorter_marker():
    doc = parse("````python\nx = 1\n```\n")
    assert (1, "code fence '````' is never closed") in messages(doc)


def test_stored_output_is_an_error():
    doc = parse("```{.python .input}\n1\n```\n\n```{.json .output n=1}\n[\"1\"]\n```\n")
    assert (5, "stored output in the source") in messages(doc)


def test_labels_know_their_kind_title_and_line():
    doc = parse("""
        # Linear Models
        :label:`sec_linear`

        ## Loss
        :label:`subsec_loss`

        ![A plot of the loss.](../img/loss.svg)
        :width:`300px`
        :label:`fig_loss`

        $$L = \\sum_i (y_i - \\hat y_i)^2$$
        :eqlabel:`eq_loss`

        :Table caption

        | a | b |
        |---|---|
        | 1 | 2 |
        :label:`tab_ab`
        """)
    labels = [(l.name, l.kind, l.title, l.line) for l in doc.labels]
    assert labels == [
        ("sec_linear", "section", "Linear Models", 2),
        ("subsec_loss", "subsection", "Loss", 5),
        ("fig_loss", "figure", "A plot of the loss.", 9),
        ("eq_loss", "equation", "L = \\sum_i (y_i - \\hat y_i)^2", 12),
        ("tab_ab", "table", "Table caption", 19),
    ]
    assert doc.title == "Linear Models"
    assert [(i.path, i.line) for i in doc.images] == [("../img/loss.svg", 7)]


def test_roles_in_inline_code_and_math_are_not_roles():
    doc = parse("See :numref:`sec_a`, `:numref:`, ``:ref:`sec_b` `` and $x_{:ref:`no`}$.\n")
    assert [(r.name, r.content) for r in doc.roles] == [("numref", "sec_a")]


def test_roles_keep_their_line_across_soft_breaks_and_tables():
    doc = parse("Line one\nline two :cite:`K1`\n\n| a |\n|---|\n| :citet:`K2` |\n")
    assert [(r.name, r.content, r.line) for r in doc.roles] == [("cite", "K1", 2), ("citet", "K2", 6)]


def test_toc_blocks():
    doc = parse("""
        # Book

        ```toc
        :maxdepth: 2
        :numbered:

        chapter_one/index
        chapter_two/index
        ```
        """)
    (toc,) = doc.tocs
    assert toc.numbered and toc.maxdepth == 2
    assert toc.entries == (("chapter_one/index", 7), ("chapter_two/index", 8))


def test_front_matter_is_read_and_is_not_prose():
    doc = parse("---\ngpus: 2\ntimeout: 900\n---\n# Title\n\nText.\n")
    assert doc.front_matter == {"gpus": 2, "timeout": 900}
    assert doc.title == "Title"
    assert [(c.text, c.line) for c in doc.cells] == [("# Title\n\nText.", 5)]


def test_bad_front_matter_is_reported():
    doc = parse("---\ngpus: [1\n---\n# Title\n")
    assert doc.diagnostics and doc.diagnostics[0].message.startswith("cannot read the front matter")
