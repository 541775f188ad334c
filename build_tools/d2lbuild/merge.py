"""Merge the notebooks of all tabs of one section into one notebook for rendering.

Every notebook of a section comes from the same ``.md`` file, and each of its cells records
the position of its source cell there (``metadata.d2l.index``). Merging walks the source
cells in order:

* a cell that every tab has, with the same type, the same source text and (for code) the
  same outputs, appears once, as it is;
* any other cell (code for some tabs only, ``:begin_tab:`` prose, a ``#@tab all`` cell
  whose outputs differ between frameworks) is kept once per tab it belongs to, with that
  tab in ``metadata.d2l.tab``. Neighbouring such cells form one *tab group*
  (``metadata.d2l.group``, counted from 0), laid out tab by tab in the book's tab order and,
  within a tab, in source order, which is how the site shows them: one tab set per group.

A pure function of its inputs: nothing is read or written here.
"""

from __future__ import annotations

import copy
import json

import nbformat
from nbformat import NotebookNode

VOLATILE_OUTPUT_KEYS = {"execution_count"}


def _outputs_key(cell: NotebookNode) -> str:
    """The outputs of a code cell as comparable text (execution counts left out)."""
    outputs = [{k: v for k, v in out.items() if k not in VOLATILE_OUTPUT_KEYS}
               for out in cell.get("outputs", [])]
    return json.dumps(outputs, sort_keys=True, default=str)


def same_cell(cells: list[NotebookNode]) -> bool:
    """Whether these cells (one per tab) would read identically on the page."""
    first = cells[0]
    for other in cells[1:]:
        if other.cell_type != first.cell_type or other.source != first.source:
            return False
        if first.cell_type == "code" and _outputs_key(other) != _outputs_key(first):
            return False
    return True


def _source_index(cell: NotebookNode, position: int) -> int:
    d2l = cell.get("metadata", {}).get("d2l", {})
    index = d2l.get("index")
    if not isinstance(index, int):
        raise ValueError(f"cell {position} has no metadata.d2l.index; was the notebook made "
                         "by d2lbuild?")
    return index


def merge_notebooks(notebooks: dict[str, NotebookNode], tabs: list[str]) -> NotebookNode:
    """One notebook from the notebooks of one section, keyed by tab (see the module doc).

    ``tabs`` gives the order of the tabs; tabs without a notebook are left out. The result's
    metadata is the first tab's, with ``d2l.tab`` replaced by ``d2l.tabs`` (the merged tabs)
    and ``d2l.quick`` true if any tab's notebook came from a quick build."""
    tabs = [t for t in tabs if t in notebooks]
    if not tabs:
        raise ValueError("no notebooks to merge")
    by_tab: dict[str, dict[int, NotebookNode]] = {}
    for tab in tabs:
        cells: dict[int, NotebookNode] = {}
        for position, cell in enumerate(notebooks[tab].cells):
            index = _source_index(cell, position)
            if index in cells:
                raise ValueError(f"tab {tab}: two cells come from source cell {index}")
            cells[index] = cell
        by_tab[tab] = cells

    merged: list[NotebookNode] = []
    group: dict[str, list[NotebookNode]] = {}
    groups = 0

    def flush() -> None:
        nonlocal group, groups
        if not group:
            return
        for tab in tabs:
            for cell in group.get(tab, []):
                cell.metadata["d2l"]["group"] = groups
                merged.append(cell)
        groups += 1
        group = {}

    for index in sorted(set().union(*by_tab.values())):
        present = [t for t in tabs if index in by_tab[t]]
        cells = [by_tab[t][index] for t in present]
        if len(present) == len(tabs) and same_cell(cells):
            flush()
            cell = copy.deepcopy(cells[0])
            cell.metadata.setdefault("d2l", {})["tabs"] = "all" if len(tabs) > 1 else list(tabs)
            cell.metadata["d2l"].pop("tab", None)
            merged.append(cell)
            continue
        for tab, cell in zip(present, cells):
            cell = copy.deepcopy(cell)
            cell.metadata.setdefault("d2l", {})["tab"] = tab
            cell["id"] = f"{cell.get('id') or f'cell-{index}'}-{tab}"
            group.setdefault(tab, []).append(cell)
    flush()

    first = notebooks[tabs[0]]
    nb = nbformat.v4.new_notebook(cells=merged)
    nb.metadata = copy.deepcopy(first.metadata)
    d2l = nb.metadata.setdefault("d2l", {})
    d2l.pop("tab", None)
    d2l["tabs"] = list(tabs)
    d2l["quick"] = any(bool(notebooks[t].metadata.get("d2l", {}).get("quick")) for t in tabs)
    return nb


def tab_groups(nb: NotebookNode) -> list[dict[str, list[NotebookNode]]]:
    """The tab groups of a merged notebook, in order: for each, its cells by tab."""
    groups: dict[int, dict[str, list[NotebookNode]]] = {}
    for cell in nb.cells:
        d2l = cell.metadata.get("d2l", {})
        if "group" in d2l:
            groups.setdefault(d2l["group"], {}).setdefault(d2l["tab"], []).append(cell)
    return [groups[g] for g in sorted(groups)]
