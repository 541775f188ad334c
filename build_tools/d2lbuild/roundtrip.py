"""Edit a section in Jupyter and write the edits back into its ``.md`` (``open``, ``writeback``).

``open`` writes ``_build/edit/<tab>/<docname>.ipynb``: the cells one tab's readers see, in
the **original** d2lbook Markdown (labels, ``:numref:``, ``#@save`` marks as written; not the
notebooks stage's translation), each cell recording in ``metadata.d2l_edit`` which cell of
the ``.md`` it came from, and the notebook recording the source, the tab and the SHA-256 of
the ``.md`` it was made from.

``writeback`` splices the notebook's cells back into the ``.md`` line by line. Only the
lines of cells whose text changed are rewritten; every other byte (the other framework's
cells, ``#@tab`` lines, ``:begin_tab:`` blocks, front matter, blank lines) stays as it was.
The rules for what cannot be a plain edit:

* **Prose** is shared: editing or deleting a Markdown cell changes that text for every tab
  that shows it (a ``:begin_tab:`` block's text stays inside its block).
* **Code** belongs to tabs. A cell of this tab only is edited in place (its fence and tab
  line kept). A cell shared with other tabs (``#@tab all``) is, by default (``shared=
  "split"``), left to the other tabs: the edit becomes a new ``#@tab <tab>`` cell beside it,
  and deleting it removes this tab from its tab line. ``shared="all"`` edits or deletes the
  shared cell for every tab instead.
* An **added** cell goes after the cell it follows in the notebook (at the top: before the
  section's first cell). Added code gets a ``#@tab <tab>`` line; added code after prose in
  a ``:begin_tab:`` block goes after the block's ``:end_tab:``. Added prose joins the place
  it lands, inside such a block or not. Empty added cells are ignored.
* A **deleted** cell (or one emptied) is removed with one blank line beside it.
* A cell **moved** to another place is deleted where it was and added where it now is;
  a cell whose type was changed is deleted and added as its new type.

Before anything is written the result is parsed again and must show this tab exactly the
notebook's code cells and prose, and the other tabs exactly what they showed before;
otherwise nothing is written. A notebook that ``open`` did not make, or whose section has
changed since, is refused.
"""

from __future__ import annotations

import bisect
import copy
import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from . import __version__, markdown
from .config import BookConfig
from .diagnostics import BuildError
from .fsutil import atomic_write
from .notebooks import KERNELSPEC
from .source import END_TAB, CodeCell, Document, parse_document

EDIT_KEY = "d2l_edit"
FORMAT = 1
SHARED_MODES = ("split", "all")
FENCE_LINE = re.compile(r"^\s*(`{3,}|~{3,})\s*$")
TAB_PREFIX = re.compile(r"^(\s*(?:#\s*@tab|%%tab))\b")


def digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def edit_dir(config: BookConfig, tab: str) -> Path:
    return config.build_dir / "edit" / tab


def edit_path(config: BookConfig, docname: str, tab: str) -> Path:
    return edit_dir(config, tab) / f"{docname}.ipynb"


# -- the .md as lines ---------------------------------------------------------------------
@dataclass
class Piece:
    """One cell of the ``.md`` that a tab shows, and the lines it occupies."""

    index: int        # position in Document.cells
    kind: str         # "code" or "markdown"
    cell: object      # the CodeCell or MarkdownCell
    start: int        # 0-based first line (code: the opening fence)
    end: int          # 0-based last line (code: the closing fence; prose: last non-blank)
    content: str      # what the notebook shows

    @property
    def shared(self) -> bool:
        return self.kind == "code" and len(self.cell.tabs) > 1


@dataclass
class Source:
    """A section's ``.md`` read byte for byte (line ends kept) and parsed."""

    path: Path
    rel: str
    docname: str
    raw: str               # the file's text, exactly
    lines: list[str]       # raw split on "\n": a CRLF line keeps its "\r"
    eol: str               # "\r" for a CRLF file: appended to every line we write
    doc: Document
    sha256: str

    def text_of(self, start: int, end: int) -> str:
        """Lines start..end (inclusive) without their line ends."""
        return "\n".join(_plain(line) for line in self.lines[start:end + 1])


def _plain(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line


def read_source(config: BookConfig, path: Path, docname: str, data: bytes | None = None) -> Source:
    path = Path(path)
    rel = config.rel(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise BuildError(f"{rel}: cannot read the section: {e}") from None
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BuildError(f"{rel}: not UTF-8 text ({e})") from None
    if "\r" in raw.replace("\r\n", ""):
        raise BuildError(f"{rel}: has carriage returns that end no line; save it with "
                         "LF (or CRLF) line ends first")
    lines = raw.split("\n")
    eol = "\r" if raw.count("\r\n") * 2 > raw.count("\n") else ""
    doc = parse_document(path, rel, docname, config.tabs, text=raw.replace("\r\n", "\n"))
    return Source(path, rel, docname, raw, lines, eol, doc, digest(data))


def pieces(source: Source, tab: str) -> list[Piece]:
    """The cells ``tab`` shows, in order, with their line spans."""
    found = []
    unclosed = {d.line for d in source.doc.diagnostics if "never closed" in d.message}
    for index, cell in enumerate(source.doc.cells):
        if cell.kind == "code":
            if tab not in cell.tabs:
                continue
            start, end = cell.line - 1, cell.end_line - 1
            if cell.line in unclosed or end <= start or not FENCE_LINE.match(_plain(source.lines[end])):
                raise BuildError(f"{source.rel}:{cell.line}: this code fence is never closed; "
                                 "fix the .md (see `d2lbuild check`) before editing it in Jupyter")
            found.append(Piece(index, "code", cell, start, end, cell.source))
        else:
            if cell.tabs is not None and tab not in cell.tabs:
                continue
            start = cell.line - 1
            end = max(i for i in range(start, cell.end_line) if source.lines[i].strip())
            found.append(Piece(index, "markdown", cell, start, end, source.text_of(start, end)))
    return found


# -- open ----------------------------------------------------------------------------------
def edit_notebook(source: Source, tab: str) -> nbformat.NotebookNode:
    """The notebook ``open`` writes for one section and tab."""
    cells = []
    for piece in pieces(source, tab):
        cell = new_code_cell(piece.content) if piece.kind == "code" else new_markdown_cell(piece.content)
        cell["id"] = f"cell-{piece.index}"
        tabs = piece.cell.tabs
        cell.metadata[EDIT_KEY] = {"index": piece.index, "line": piece.start + 1,
                                   "tabs": "all" if tabs is None else list(tabs),
                                   "sha256": digest(piece.content)}
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata[EDIT_KEY] = {
        "format": FORMAT, "tool": f"d2lbuild {__version__}", "source": source.rel,
        "docname": source.docname, "tab": tab, "sha256": source.sha256,
        "cells": [c.metadata[EDIT_KEY]["index"] for c in cells],
        "note": "made by `d2lbuild open`; write your edits back with `d2lbuild writeback`",
    }
    return nb


def pending_edits(nb) -> bool:
    """Whether an ``open`` notebook holds edits not written back (compared with itself as
    ``open`` made it: cells added, removed, moved or changed)."""
    meta = nb.metadata.get(EDIT_KEY, {})
    indices, changed = [], False
    for cell in nb.cells:
        origin = cell.metadata.get(EDIT_KEY)
        if not isinstance(origin, dict):
            if cell.cell_type in ("code", "markdown") and cell.source.strip():
                return True
            continue
        indices.append(origin.get("index"))
        changed |= digest(cell.source) != origin.get("sha256")
    return changed or indices != meta.get("cells")


def open_section(config: BookConfig, path: Path, docname: str, tab: str, force: bool = False,
                 out: Path | None = None) -> Path:
    """Write the edit notebook of one section and tab; return its path."""
    source = read_source(config, path, docname)
    target = Path(out) if out else edit_path(config, docname, tab)
    if target.exists() and not force:
        try:
            old = nbformat.read(target, as_version=4)
        except Exception:  # not a notebook we can read: never overwrite it silently
            raise BuildError(f"{config.rel(target)} exists and is not a notebook `open` made; "
                             "pass --force to replace it") from None
        meta = old.metadata.get(EDIT_KEY)
        if not isinstance(meta, dict) or pending_edits(old):
            what = ("holds edits that are not written back" if isinstance(meta, dict)
                    else "was not made by `d2lbuild open`")
            hint = (f"run `d2lbuild writeback {config.rel(target)}` first, or pass --force to "
                    "discard them" if isinstance(meta, dict) else "pass --force to replace it")
            raise BuildError(f"{config.rel(target)} {what}; {hint}")
    nb = edit_notebook(source, tab)
    nbformat.validate(nb)
    atomic_write(target, nbformat.writes(nb) + "\n")
    return target


# -- writeback: plan -----------------------------------------------------------------------
@dataclass
class Item:
    """One cell of the edited notebook."""

    position: int     # 1-based cell number in the notebook, for messages
    kind: str
    text: str
    origin: int | None   # the .md cell it still stands for
    copy_of: int | None = None  # a moved or duplicated cell: where it came from
    cell_id: str = ""


@dataclass
class Plan:
    text: str                 # the new .md
    changed: int = 0
    added: int = 0
    deleted: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.changed or self.added or self.deleted)


@dataclass
class _Op:
    start: int        # 0-based line
    end: int          # exclusive; == start for an insertion
    lines: list[str]


def _lis(values: list[int]) -> set[int]:
    """Positions (in ``values``) of one longest strictly increasing subsequence."""
    best: list[int] = []        # best[k]: position of the smallest tail of a run of k + 1
    previous = [-1] * len(values)
    tails: list[int] = []
    for i, v in enumerate(values):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            best.append(i)
        else:
            tails[k] = v
            best[k] = i
        previous[i] = best[k - 1] if k else -1
    chosen, i = set(), best[-1] if best else -1
    while i != -1:
        chosen.add(i)
        i = previous[i]
    return chosen


def notebook_items(nb, by_index: dict[int, Piece], notes: list[str]) -> list[Item]:
    items = []
    for position, cell in enumerate(nb.cells, 1):
        if cell.cell_type not in ("code", "markdown"):
            notes.append(f"notebook cell {position} is a {cell.cell_type} cell: ignored")
            continue
        origin = cell.metadata.get(EDIT_KEY)
        index = origin.get("index") if isinstance(origin, dict) else None
        piece = by_index.get(index) if isinstance(index, int) else None
        kept = index if piece is not None else None
        item = Item(position, cell.cell_type, cell.source, kept, cell_id=cell.get("id", ""))
        if piece is not None and piece.kind != cell.cell_type:  # cell type changed
            item.origin = None
        items.append(item)
    # A copied or split cell carries its original's metadata: the copy whose id is the
    # original's (or else the first) stays the original, the others are new cells.
    claimed: dict[int, list[Item]] = {}
    for item in items:
        if item.origin is not None:
            claimed.setdefault(item.origin, []).append(item)
    for index, group in claimed.items():
        if len(group) > 1:
            keep = next((i for i in group if i.cell_id == f"cell-{index}"), group[0])
            for item in group:
                if item is not keep:
                    item.origin, item.copy_of = None, index
    # A moved cell: keep the longest run in the .md's order; the rest count as moved.
    mapped = [i for i in items if i.origin is not None]
    keep = _lis([i.origin for i in mapped])
    for position, item in enumerate(mapped):
        if position not in keep:
            item.origin, item.copy_of = None, item.origin
    return items


class Writer:
    def __init__(self, source: Source, tab: str, shared: str, tabs: list[str]):
        self.source, self.tab, self.shared, self.tabs = source, tab, shared, tabs
        self.lines = source.lines
        self.ops: list[_Op] = []
        self.consumed: set[int] = set()
        literal = markdown.literal_lines(markdown.parse(source.raw.replace("\r\n", "\n")))
        self.literal = literal

    # lines we write get the file's line end
    def out(self, lines: list[str]) -> list[str]:
        return [line + self.source.eol for line in lines]

    def blank(self, i: int) -> bool:
        return 0 <= i < len(self.lines) and not self.lines[i].strip() and i not in self.consumed \
            and not (i == len(self.lines) - 1 and self.lines[i] == "")

    def delete(self, start: int, end: int) -> None:
        """Delete lines start..end (inclusive) and one blank line beside them."""
        if self.blank(end + 1):
            self.consumed.add(end + 1)
            end += 1
        elif self.blank(start - 1):
            self.consumed.add(start - 1)
            self.ops.append(_Op(start - 1, start, []))
        self.ops.append(_Op(start, end + 1, []))

    def code_body(self, piece: Piece) -> tuple[int, int]:
        """0-based lines of a code cell's code (after the fence and tab line; exclusive end)."""
        cell: CodeCell = piece.cell
        return piece.start + 1 + (1 if cell.tab_line else 0), piece.end

    def code_lines(self, piece: Piece | None, code: str) -> list[str]:
        indent = ""
        if piece is not None:
            first = _plain(self.lines[piece.start])
            indent = first[:len(first) - len(first.lstrip())]
        return [indent + line if line.strip() else line for line in code.rstrip("\n").split("\n")]

    def tab_line(self, piece: Piece, tabs: list[str]) -> str:
        """The cell's tab line naming ``tabs``, in the cell's own style."""
        raw = _plain(self.lines[piece.start + 1])
        prefix = TAB_PREFIX.match(raw)
        return f"{prefix.group(1) if prefix else '#@tab'} {', '.join(tabs)}"

    def new_code_cell(self, code: str, like: Piece | None) -> list[str]:
        """A new fenced cell of this tab (fence lines copied from ``like``, if given)."""
        body = code.rstrip("\n").split("\n")
        runs = [re.match(r"\s*(`*)", line).group(1) for line in body]
        longest = max(len(run) for run in runs)  # a fence must be longer than any inside
        if like is not None:
            opening, closing = _plain(self.lines[like.start]), _plain(self.lines[like.end])
            indent = opening[:len(opening) - len(opening.lstrip())]
            if len(closing.strip()) <= longest:
                like = None
        if like is None:
            fence = "`" * max(3, longest + 1)
            opening, closing, indent = f"{fence}{{.python .input}}", fence, ""
        mark = f"{indent}#@tab {self.tab}"
        return [opening, mark] + [indent + line if line.strip() else line for line in body] + [closing]

    def replace(self, start: int, end: int, lines: list[str]) -> None:
        self.ops.append(_Op(start, end, self.out(lines)))

    def insert(self, at: int, blocks: list[list[str]], top: bool = False) -> None:
        """Insert blocks of lines at ``at``, separated from each other and their neighbours by
        one blank line."""
        if not blocks:
            return
        lines: list[str] = []
        for block in blocks:
            lines += [""] + block
        if top:
            lines = lines[1:] + [""]
            if at > 0 and self.lines[at - 1].strip():
                lines = [""] + lines
        elif at < len(self.lines) and self.lines[at].strip():
            lines.append("")
        self.ops.append(_Op(at, at, self.out(lines)))

    def end_of_block(self, piece: Piece) -> int:
        """0-based line of the ``:end_tab:`` that closes the block ``piece`` is in."""
        for i in range(piece.end + 1, len(self.lines)):
            if i not in self.literal and END_TAB.match(_plain(self.lines[i])):
                return i
        return len(self.lines) - 1

    def apply(self) -> str:
        result: list[str] = []
        position = 0
        for op in sorted(self.ops, key=lambda o: (o.start, o.end != o.start)):
            if op.start < position:
                raise BuildError("internal error: two edits overlap; nothing was written")
            result += self.lines[position:op.start] + op.lines
            position = op.end
        result += self.lines[position:]
        return "\n".join(result)


def plan_writeback(source: Source, nb, tab: str, shared: str = "split",
                   tabs: list[str] | None = None) -> Plan:
    """The new text of the ``.md`` with the notebook's edits (nothing is written)."""
    if shared not in SHARED_MODES:
        raise ValueError(f"shared must be one of {SHARED_MODES}")
    tabs = tabs or []
    visible = pieces(source, tab)
    by_index = {p.index: p for p in visible}
    plan = Plan(source.raw)
    items = notebook_items(nb, by_index, plan.notes)
    w = Writer(source, tab, shared, tabs)
    kept = {i.origin: i for i in items if i.origin is not None}
    others = lambda piece: [t for t in tabs if t in piece.cell.tabs and t != tab]  # noqa: E731

    # deletions
    for piece in visible:
        item = kept.get(piece.index)
        if item is not None and (item.text.strip() or item.text == piece.content):
            continue
        plan.deleted += 1
        if piece.shared and shared == "split":
            w.replace(piece.start + 1, piece.start + 2, [w.tab_line(piece, others(piece))])
            plan.notes.append(f"{source.rel}:{piece.start + 1}: the deleted cell is shared with "
                              f"{', '.join(others(piece))}; it stays for them (its tab line no "
                              f"longer names {tab})")
        else:
            w.delete(piece.start, piece.end)

    # edits of the cells that stay
    for piece in visible:
        item = kept.get(piece.index)
        if item is None or not item.text.strip() or item.text == piece.content:
            continue  # deleted above, or unchanged
        plan.changed += 1
        if piece.kind == "markdown":
            w.replace(piece.start, piece.end + 1, _prose_lines(item.text))
        elif piece.shared and shared == "split":
            rest = others(piece)
            original = [_plain(line) for line in w.lines[piece.start:piece.end + 1]]
            original[1] = w.tab_line(piece, rest)
            mine = w.new_code_cell(item.text, piece)
            first = tabs.index(tab) < min(tabs.index(t) for t in rest) if tabs else False
            w.replace(piece.start, piece.end + 1,
                      mine + [""] + original if first else original + [""] + mine)
            plan.notes.append(f"{source.rel}:{piece.start + 1}: the edited cell is shared with "
                              f"{', '.join(rest)}; your edit is a new '#@tab {tab}' cell beside "
                              f"it and the shared cell now runs in {', '.join(rest)} only "
                              "(writeback --shared all edits it for every tab instead)")
        else:
            start, end = w.code_body(piece)
            w.replace(start, end, w.code_lines(piece, item.text))

    # additions, grouped by the cell they follow
    groups: dict[int | None, list[Item]] = {}
    anchor = None
    for item in items:
        if item.origin is not None and (item.text.strip() or item.text == by_index[item.origin].content):
            anchor = item.origin
        elif item.origin is None and item.text.strip():
            groups.setdefault(anchor, []).append(item)
    for anchor, added in groups.items():
        plan.added += len(added)
        blocks = [_added_lines(w, by_index, item) for item in added]
        if anchor is None:
            first = source.doc.cells[0].line - 1 if source.doc.cells else _end_of_text(w.lines)
            w.insert(first, blocks, top=True)
            continue
        piece = by_index[anchor]
        inside = piece.kind == "markdown" and piece.cell.tabs is not None
        split = next((k for k, item in enumerate(added) if item.kind == "code"), len(added)) \
            if inside else len(added)
        w.insert(piece.end + 1, blocks[:split])
        if split < len(added):
            w.insert(w.end_of_block(piece) + 1, blocks[split:])
    plan.text = w.apply()
    return plan


def _prose_lines(text: str) -> list[str]:
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _added_lines(w: Writer, by_index: dict[int, Piece], item: Item) -> list[str]:
    if item.kind == "markdown":
        return _prose_lines(item.text)
    like = by_index.get(item.copy_of) if item.copy_of is not None else None
    return w.new_code_cell(item.text, like if like is not None and like.kind == "code" else None)


def _end_of_text(lines: list[str]) -> int:
    return len(lines) - 1 if lines and lines[-1] == "" else len(lines)


# -- writeback: verify ---------------------------------------------------------------------
def _norm_prose(text: str) -> str:
    return re.sub(r"\n[ \t\r]*(?:\n[ \t\r]*)+", "\n\n", text.strip())


def _view(entries) -> list[tuple[str, str]]:
    """Consecutive prose joined: the same view from a notebook and from a parsed .md."""
    view: list[tuple[str, str]] = []
    for kind, text in entries:
        if not text.strip():
            continue
        if kind == "markdown":
            text = _norm_prose(text)
            if view and view[-1][0] == "markdown":
                view[-1] = ("markdown", view[-1][1] + "\n\n" + text)
                continue
        else:
            text = text.rstrip("\n")
        view.append((kind, text))
    return view


def doc_view(doc: Document, tab: str) -> list[tuple[str, str]]:
    return _view(("code", c.source) if c.kind == "code" else ("markdown", c.text)
                 for c in doc.cells
                 if (tab in c.tabs if c.kind == "code" else c.tabs is None or tab in c.tabs))


def notebook_view(nb) -> list[tuple[str, str]]:
    return _view((c.cell_type, c.source) for c in nb.cells if c.cell_type in ("code", "markdown"))


def verify(before: Document, after: Document, nb, tab: str, tabs: list[str], shared: str) -> str:
    """Why the new .md does not say what the notebook says (empty: it does)."""
    mine, wanted = doc_view(after, tab), notebook_view(nb)
    if mine != wanted:
        for k, (a, b) in enumerate(zip(mine + [("", "")] * len(wanted), wanted + [("", "")] * len(mine))):
            if a != b:
                return (f"the {tab} view differs at its part {k + 1} ({b[0] or 'end'} in the "
                        f"notebook, {a[0] or 'end'} in the .md): {(b[1] or a[1])[:80]!r}")
    for other in tabs:
        if other == tab:
            continue
        if shared == "split":
            old = [c.source for c in before.code_cells(other)]
            new = [c.source for c in after.code_cells(other)]
        else:
            old = [c.source for c in before.code_cells(other) if tab not in c.tabs]
            new = [c.source for c in after.code_cells(other) if tab not in c.tabs]
        if old != new:
            return f"the {other} code would change"
        hidden = lambda doc: [c.text for c in doc.cells  # noqa: E731
                              if c.kind == "markdown" and c.tabs is not None and tab not in c.tabs]
        if hidden(before) != hidden(after):
            return "prose that the notebook does not show would change"
    if before.front_matter != after.front_matter:
        return "the front matter would change"
    return ""


# -- writeback -----------------------------------------------------------------------------
@dataclass
class WritebackResult:
    source: Path
    plan: Plan
    diff: str
    written: bool


def read_edit_notebook(path: Path):
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise BuildError(f"{path}: no such notebook") from None
    except Exception as e:
        raise BuildError(f"{path}: cannot read this notebook: {e}") from None
    meta = nb.metadata.get(EDIT_KEY)
    if not isinstance(meta, dict) or not {"source", "docname", "tab", "sha256"} <= set(meta):
        raise BuildError(f"{path}: refused: this notebook was not made by `d2lbuild open` "
                         "(it has no metadata.d2l_edit), so there is no telling which .md cells "
                         "it stands for; make one with `d2lbuild open SECTION --tab TAB` and copy "
                         "the edits into it")
    if meta.get("format") != FORMAT:
        raise BuildError(f"{path}: refused: made by another version of `d2lbuild open` "
                         f"(format {meta.get('format')!r}, this one reads {FORMAT})")
    return nb, meta


def writeback(config: BookConfig, nb_path: Path, shared: str = "split",
              dry_run: bool = False) -> WritebackResult:
    nb, meta = read_edit_notebook(nb_path)
    tab = meta["tab"]
    if tab not in config.tabs:
        raise BuildError(f"{nb_path}: refused: tab '{tab}' is not one of the book's tabs "
                         f"({', '.join(config.tabs)})")
    path = (config.root / meta["source"]).resolve()
    try:
        docname = path.relative_to((config.root / config.source_dir).resolve()).with_suffix("").as_posix()
    except ValueError:
        raise BuildError(f"{nb_path}: refused: its section {meta['source']} is not in this book "
                         f"({config.root})") from None
    if not path.is_file():
        raise BuildError(f"{nb_path}: refused: its section {meta['source']} no longer exists")
    source = read_source(config, path, docname)
    if source.sha256 != meta["sha256"]:
        raise BuildError(
            f"{nb_path}: refused: {source.rel} has changed since this notebook was made, so "
            "writing the notebook back could undo those changes; nothing was written. Open "
            f"it again (`d2lbuild open {source.rel} --tab {tab} --force`) and redo the edits")
    plan = plan_writeback(source, nb, tab, shared, config.tabs)
    if plan.any:
        new_text = plan.text.replace("\r\n", "\n")
        after = parse_document(path, source.rel, docname, config.tabs, text=new_text)
        problem = verify(source.doc, after, nb, tab, config.tabs, shared)
        if problem:
            raise BuildError(f"{nb_path}: refused: the edits cannot be written into "
                             f"{source.rel} as they are ({problem}); nothing was written. A "
                             "Markdown cell that holds a ```{.python .input} fence, a "
                             ":begin_tab: block or a #@tab line does this: use code cells")
    diff = "".join(difflib.unified_diff(
        source.raw.splitlines(keepends=True), plan.text.splitlines(keepends=True),
        f"a/{source.rel}", f"b/{source.rel}"))
    written = False
    if plan.any and not dry_run:
        atomic_write(path, plan.text.encode("utf-8"))
        written = True
        _refresh(config, nb_path, nb, read_source(config, path, docname), tab)
    return WritebackResult(path, plan, diff, written)


def _refresh(config: BookConfig, nb_path: Path, edited, source: Source, tab: str) -> None:
    """Make the notebook the ``open`` notebook of the new .md, keeping the outputs of its
    code cells, so editing can go on (reload it in Jupyter)."""
    fresh = edit_notebook(source, tab)
    outputs = [c for c in edited.cells if c.cell_type == "code" and c.source.strip()]
    code = [c for c in fresh.cells if c.cell_type == "code"]
    if len(outputs) == len(code):
        for cell, old in zip(code, outputs):
            cell.outputs = copy.deepcopy(old.get("outputs", []))
            cell.execution_count = old.get("execution_count")
    for key, value in edited.metadata.items():
        if key != EDIT_KEY:
            fresh.metadata.setdefault(key, value)
    atomic_write(Path(nb_path), nbformat.writes(fresh) + "\n")



# -- Jupyter -------------------------------------------------------------------------------
def launch_jupyter(config: BookConfig, path: Path) -> int:
    """Start JupyterLab (or Notebook) on the notebook, with the repository's ``d2l`` first on
    the kernels' path; return its exit status."""
    import os
    import shutil
    import subprocess
    import sys

    here = Path(sys.executable).parent
    for name in ("jupyter-lab", "jupyter-notebook"):
        exe = shutil.which(name) or (str(here / name) if (here / name).is_file() else None)
        if exe:
            break
    else:
        raise BuildError(f"Jupyter is not installed here (pip install jupyterlab); the notebook "
                         f"is at {config.rel(path)}, open it in any notebook editor")
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(config.root)] + paths)}
    rel = Path(path).resolve().relative_to(config.root.resolve())
    return subprocess.call([exe, "--ip=127.0.0.1", str(rel)], cwd=config.root, env=env)
