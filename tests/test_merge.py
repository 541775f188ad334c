"""Merging the tabs' notebooks of a section into one notebook for the website."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import load
from d2lbuild.merge import merge_notebooks, same_cell, tab_groups
from d2lbuild.notebooks import make_notebook

TABS = ["mxnet", "pytorch"]


def md(index, text, tabs="all"):
    cell = new_markdown_cell(text)
    cell.metadata["d2l"] = {"index": index, "tabs": tabs}
    cell["id"] = f"cell-{index}"
    return cell


def code(index, source, tabs, output=None):
    cell = new_code_cell(source)
    cell.metadata["d2l"] = {"index": index, "tabs": tabs}
    cell["id"] = f"cell-{index}"
    if output is not None:
        cell.outputs = [new_output("stream", name="stdout", text=output)]
        cell.execution_count = 1
    return cell


def notebook(tab, *cells, quick=False):
    nb = new_notebook(cells=list(cells))
    nb.metadata["d2l"] = {"tab": tab, "docname": "sec", "quick": quick}
    return nb


def layout(nb):
    """(index, tab or None, group or None) of each merged cell."""
    return [(c.metadata["d2l"]["index"], c.metadata["d2l"].get("tab"),
             c.metadata["d2l"].get("group")) for c in nb.cells]


def test_identical_cells_collapse():
    both = ["mxnet", "pytorch"]
    mx = notebook("mxnet", md(0, "# Title"), code(1, "x = 1", both), md(2, "End."))
    pt = notebook("pytorch", md(0, "# Title"), code(1, "x = 1", both), md(2, "End."))
    merged = merge_notebooks({"mxnet": mx, "pytorch": pt}, TABS)
    nbformat.validate(merged)
    assert layout(merged) == [(0, None, None), (1, None, None), (2, None, None)]
    assert merged.cells[1].source == "x = 1"
    assert merged.metadata["d2l"]["tabs"] == TABS and "tab" not in merged.metadata["d2l"]
    assert tab_groups(merged) == []


def test_differing_cells_group_in_order():
    mx = notebook("mxnet", md(0, "Intro."), code(1, "import mxnet", ["mxnet"]),
                  code(3, "a = 1", ["mxnet"]), md(4, "Middle."), code(5, "z = 0", TABS))
    pt = notebook("pytorch", md(0, "Intro."), code(2, "import torch", ["pytorch"]),
                  md(4, "Middle."), code(6, "w = 0", ["pytorch"]))
    merged = merge_notebooks({"mxnet": mx, "pytorch": pt}, TABS)
    nbformat.validate(merged)
    # cells 1-3 form one group laid out tab by tab; cell 5 (mxnet) and 6 (pytorch) another
    assert layout(merged) == [
        (0, None, None),
        (1, "mxnet", 0), (3, "mxnet", 0), (2, "pytorch", 0),
        (4, None, None),
        (5, "mxnet", 1), (6, "pytorch", 1),
    ]
    groups = tab_groups(merged)
    assert [c.source for c in groups[0]["mxnet"]] == ["import mxnet", "a = 1"]
    assert [c.source for c in groups[0]["pytorch"]] == ["import torch"]
    assert len({c["id"] for c in merged.cells}) == len(merged.cells)  # ids stay unique


def test_shared_code_with_different_outputs_is_shown_per_tab():
    mx = notebook("mxnet", code(0, "print(x)", TABS, output="array([1.])\n"))
    pt = notebook("pytorch", code(0, "print(x)", TABS, output="tensor([1.])\n"))
    merged = merge_notebooks({"mxnet": mx, "pytorch": pt}, TABS)
    assert layout(merged) == [(0, "mxnet", 0), (0, "pytorch", 0)]
    assert merged.cells[1].outputs[0]["text"] == "tensor([1.])\n"
    # the same output (execution counts aside) collapses
    pt.cells[0].outputs[0]["text"] = "array([1.])\n"
    pt.cells[0].execution_count = 7
    assert layout(merge_notebooks({"mxnet": mx, "pytorch": pt}, TABS)) == [(0, None, None)]


def test_prose_tabs_are_grouped_with_their_tab():
    mx = notebook("mxnet", md(0, "Shared."), md(1, "MXNet only.", ["mxnet"]), md(3, "After."))
    pt = notebook("pytorch", md(0, "Shared."), md(2, "PyTorch only.", ["pytorch"]), md(3, "After."))
    merged = merge_notebooks({"mxnet": mx, "pytorch": pt}, TABS)
    assert layout(merged) == [(0, None, None), (1, "mxnet", 0), (2, "pytorch", 0), (3, None, None)]
    assert merged.cells[1].cell_type == "markdown"


def test_a_tab_with_no_code_in_a_section():
    mx = notebook("mxnet", md(0, "# Only MXNet code here"), code(1, "x = 1", ["mxnet"]),
                  md(2, "The end."))
    pt = notebook("pytorch", md(0, "# Only MXNet code here"), md(2, "The end."))
    merged = merge_notebooks({"mxnet": mx, "pytorch": pt}, TABS)
    assert layout(merged) == [(0, None, None), (1, "mxnet", 0), (2, None, None)]
    assert tab_groups(merged) == [{"mxnet": [merged.cells[1]]}]


def test_quick_is_carried_and_inputs_are_left_alone():
    mx = notebook("mxnet", code(0, "x = 1", ["mxnet"]), quick=True)
    pt = notebook("pytorch", code(1, "y = 1", ["pytorch"]))
    before = nbformat.writes(mx)
    merged = merge_notebooks({"mxnet": mx, "pytorch": pt}, TABS)
    assert merged.metadata["d2l"]["quick"] is True
    assert nbformat.writes(mx) == before  # pure: the inputs are not changed


def test_a_single_tab_book_has_no_groups():
    nb = notebook("default", md(0, "Text"), code(1, "x", ["default"]))
    merged = merge_notebooks({"default": nb}, ["default"])
    assert layout(merged) == [(0, None, None), (1, None, None)]


def test_cells_without_an_index_are_refused():
    cell = new_code_cell("x")
    with pytest.raises(ValueError, match="d2l.index"):
        merge_notebooks({"mxnet": new_notebook(cells=[cell])}, TABS)


def test_merging_the_notebooks_stage_output(tmp_path):
    """The corpus's per-tab notebooks merge: shared cells once, tab cells grouped."""
    import shutil
    from pathlib import Path

    root = tmp_path / "corpus"
    shutil.copytree(Path(__file__).parent / "corpus", root)
    book = load(root)
    notebooks = {tab: make_notebook(book, "chapter_basics/cells", tab) for tab in TABS}
    merged = merge_notebooks(notebooks, TABS)
    nbformat.validate(merged)
    shared = [c for c in merged.cells if "tab" not in c.metadata["d2l"]]
    assert any(c.source.startswith("assert add(2, 3) == 5") for c in shared)  # #@tab all
    groups = tab_groups(merged)
    assert groups and set(groups[0]) == {"mxnet", "pytorch"}
    assert same_cell([notebooks["mxnet"].cells[0], notebooks["pytorch"].cells[0]])
