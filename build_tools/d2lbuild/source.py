"""Parse one d2lbook-format Markdown file into cells, labels, references and findings.

A document is a list of cells in source order: Markdown cells (each visible in every tab,
or only in the tabs of a ``:begin_tab:`` block) and code cells (``{.python .input}`` fences,
each for the tabs its ``#@tab`` / ``%%tab`` line names, or the default tab). Every cell and
every finding keeps its 1-based line in the ``.md`` so any later stage can point back at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import markdown
from .diagnostics import Diagnostic

TAB_MARK = re.compile(r"^\s*(?:#\s*@tab|%%tab)\b(.*)$")
BEGIN_TAB = re.compile(r"^\s*:begin_tab:`([^`]*)`\s*$")
END_TAB = re.compile(r"^\s*:end_tab:\s*$")
ANY_TAB_MARK = re.compile(r":(begin|end)_tab:")
TABLE_CAPTION = re.compile(r"^:(?!\w+:`)(.+)$")  # d2lbook's ":Caption" line above a table

REFERENCE_ROLES = {"numref", "ref", "eqref"}
CITATION_ROLES = {"cite", "citet", "citep"}


@dataclass
class CodeCell:
    source: str            # the code, without its tab line
    tabs: tuple[str, ...]  # the tabs this cell runs in
    line: int              # line of the opening fence
    end_line: int          # line of the closing fence
    attrs: dict[str, str] = field(default_factory=dict)
    tab_line: str = ""     # the "#@tab ..." line as written, if any

    @property
    def code_line(self) -> int:
        """Line of the first code line (after the fence and any tab line)."""
        return self.line + 1 + (1 if self.tab_line else 0)

    kind = "code"


@dataclass
class MarkdownCell:
    text: str
    line: int
    end_line: int
    tabs: tuple[str, ...] | None = None  # None: every tab; otherwise a :begin_tab: block

    kind = "markdown"


@dataclass(frozen=True)
class Label:
    name: str
    kind: str     # section, subsection, figure, table, equation or anchor
    title: str
    line: int
    docname: str
    order: int = 0  # position among the labels of its kind in the document (for numbers)
    heading_path: tuple[int, ...] = ()  # for subsections: their position under the title


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int


@dataclass(frozen=True)
class TocBlock:
    line: int
    entries: tuple[tuple[str, int], ...]  # (entry, line)
    numbered: bool
    maxdepth: int | None


@dataclass(frozen=True)
class Image:
    path: str
    alt: str
    line: int


@dataclass
class Document:
    path: Path       # the .md file
    rel: str         # path as shown in messages
    docname: str     # path under the source folder, without ".md" (as in a toc entry)
    text: str
    cells: list = field(default_factory=list)
    title: str = ""
    headings: list[Heading] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    roles: list[markdown.Role] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    tocs: list[TocBlock] = field(default_factory=list)
    front_matter: dict = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def code_cells(self, tab: str | None = None) -> list[CodeCell]:
        return [c for c in self.cells if c.kind == "code" and (tab is None or tab in c.tabs)]

    def error(self, line: int, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(self.rel, line, message, hint))

    def warning(self, line: int, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(self.rel, line, message, hint, "warning"))


def parse_tab_names(text: str, tabs: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Resolve a tab list such as ``mxnet, pytorch`` or ``all``; return (tabs, unknown names)."""
    names = [w for w in re.split(r"[,\s]+", text.strip()) if w]
    if "all" in names:
        return tuple(tabs), [n for n in names if n != "all" and n not in tabs]
    known = tuple(t for t in tabs if t in names)
    return known, [n for n in names if n not in tabs]


def parse_document(path: Path, rel: str, docname: str, tabs: list[str],
                   text: str | None = None) -> Document:
    """Parse one Markdown file. Problems become diagnostics on the document, never exceptions."""
    if text is None:
        text = Path(path).read_text(encoding="utf-8")
    doc = Document(path=Path(path), rel=rel, docname=docname, text=text)
    lines = text.splitlines()
    tokens = markdown.parse(text)
    literal = markdown.literal_lines(tokens)
    code_fences = []  # (token, language, classes, attrs) of top-level input fences

    _read_structure(doc, tokens, lines, code_fences)
    # Front matter is settings, not prose: cells start after it.
    body_start = next((t.map[1] for t in tokens if t.type == "front_matter" and t.map), 0)
    _build_cells(doc, lines, literal, code_fences, tabs, body_start)
    return doc


def _read_structure(doc: Document, tokens, lines: list[str], code_fences: list) -> None:
    """One pass over the tokens: fences, tocs, headings, roles, labels, images."""
    last_target = ("anchor", "")   # what a following :label: names
    heading_counts: list[int] = []  # numbering of headings below the title
    counts: dict[str, int] = {}
    pending_table_caption = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "front_matter":
            try:
                data = yaml.safe_load(token.content) or {}
                if not isinstance(data, dict):
                    raise yaml.YAMLError("front matter must be a mapping of keys to values")
                doc.front_matter = data
            except yaml.YAMLError as e:
                doc.error(1, f"cannot read the front matter: {e}".splitlines()[0])
        elif token.type == "fence":
            _read_fence(doc, token, lines, code_fences)
        elif token.type == "math_block":
            last_target = ("equation", token.content.strip())
        elif token.type == "table_open":
            last_target = ("table", pending_table_caption)
        elif token.type == "heading_open":
            inline = tokens[i + 1]
            level = int(token.tag[1])
            title = _plain_text(inline)
            doc.headings.append(Heading(level, title, token.map[0] + 1))
            if not doc.title:
                doc.title = title
                top_level = level
                last_target = ("section", title)
            else:
                depth = max(level - top_level, 1)
                heading_counts[depth:] = []
                heading_counts += [0] * (depth - len(heading_counts))
                heading_counts[depth - 1] += 1
                last_target = ("subsection", title, tuple(heading_counts))
        if token.type == "inline":
            pending_table_caption = ""
            for line, child in markdown.inline_items(token):
                if child.type == "image":
                    src = child.attrGet("src") or ""
                    doc.images.append(Image(src, _plain_text(child), line))
                    last_target = ("figure", _plain_text(child))
            for role in markdown.roles_in(token):
                doc.roles.append(role)
                if role.name in ("label", "eqlabel"):
                    kind = "equation" if role.name == "eqlabel" else last_target[0]
                    if role.name == "label" and kind == "equation":
                        kind = "anchor"
                    if role.name == "eqlabel" and last_target[0] != "equation":
                        doc.error(role.line, f"':eqlabel:`{role.content}`' does not follow an equation",
                                  "put it on the line right after the closing $$")
                    counts[kind] = counts.get(kind, 0) + 1
                    doc.labels.append(Label(
                        role.content, kind, last_target[1], role.line, doc.docname, counts[kind],
                        last_target[2] if len(last_target) > 2 else ()))
            caption = TABLE_CAPTION.match(token.content.strip())
            if caption and tokens[i - 1].type == "paragraph_open" and token.level == 1:
                pending_table_caption = caption.group(1).strip()
        i += 1


def _plain_text(token) -> str:
    """The readable text of an inline or image token (code spans keep their text)."""
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "math_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.children:
            parts.append(_plain_text(child))
    return "".join(parts).strip() or token.content.strip()


def _read_fence(doc: Document, token, lines: list[str], code_fences: list) -> None:
    line = token.map[0] + 1
    language, classes, attrs = markdown.fence_info(token.info)
    if not markdown.fence_is_closed(token, lines):
        doc.error(line, f"code fence {token.markup!r} is never closed",
                  f"add a line with {token.markup} after the code")
    if "output" in classes:
        doc.error(line, "stored output in the source",
                  "outputs come from execution; delete this block")
        return
    if token.info.strip() == "toc":
        _read_toc(doc, token, line)
        return
    if "input" in classes:
        if token.level > 0:
            doc.error(line, "a code cell inside a list or quote is not run",
                      "move the fence to the top level (no indentation)")
            return
        code_fences.append((token, language, classes, attrs))


def _read_toc(doc: Document, token, line: int) -> None:
    entries, numbered, maxdepth = [], False, None
    for offset, raw in enumerate(token.content.splitlines(), 1):
        text = raw.strip()
        if not text:
            continue
        option = re.match(r":(\w+):\s*(.*)$", text)
        if option:
            name, value = option.groups()
            if name == "numbered":
                numbered = True
            elif name == "maxdepth":
                if not value.strip().isdigit():
                    doc.error(line + offset, f"':maxdepth:' needs a number, got {value!r}")
                else:
                    maxdepth = int(value)
            elif name not in ("titlesonly", "hidden", "glob", "caption", "name", "includehidden"):
                doc.warning(line + offset, f"unknown toc option ':{name}:' is ignored")
            continue
        entries.append((text, line + offset))
    doc.tocs.append(TocBlock(line, tuple(entries), numbered, maxdepth))


def _build_cells(doc: Document, lines: list[str], literal: set[int], code_fences: list,
                 tabs: list[str], body_start: int) -> None:
    """Cut the file into Markdown and code cells, splitting out ``:begin_tab:`` blocks."""
    position = body_start  # 0-based line where the next Markdown cell starts
    open_block = None  # (tabs, line) of the :begin_tab: block we are in
    for token, language, _classes, attrs in code_fences:
        start, end = token.map
        open_block = _markdown_cells(doc, lines, literal, position, start, tabs, open_block)
        if open_block is not None:
            doc.error(start + 1, "a code cell sits inside a :begin_tab: block",
                      f"close the block (line {open_block[1]}) with :end_tab: before the code, "
                      "and mark the cell with #@tab")
        doc.cells.append(_code_cell(doc, token, language, attrs, tabs))
        position = end
    open_block = _markdown_cells(doc, lines, literal, position, len(lines), tabs, open_block)
    if open_block is not None:
        doc.error(open_block[1], "':begin_tab:' block is never closed", "add a line ':end_tab:'")


def _code_cell(doc: Document, token, language: str, attrs: dict, tabs: list[str]) -> CodeCell:
    line = token.map[0] + 1
    body = token.content.rstrip("\n").split("\n") if token.content.strip() else []
    tab_line = ""
    cell_tabs: tuple[str, ...] = (tabs[0],)
    if body:
        mark = TAB_MARK.match(body[0])
        if mark:
            tab_line = body.pop(0)
            cell_tabs, unknown = parse_tab_names(mark.group(1), tabs)
            for name in unknown:
                doc.error(line + 1, f"unknown tab '{name}'",
                          f"tabs are set in config.ini [build] tabs: {', '.join(tabs)}")
            if not mark.group(1).strip():
                doc.error(line + 1, "'#@tab' names no tab", "write e.g. '#@tab pytorch' or '#@tab all'")
    if language and language != "python":
        doc.warning(line, f"input cell in language '{language}' is treated as Python")
    return CodeCell("\n".join(body), cell_tabs, line, token.map[1], attrs, tab_line)


def _markdown_cells(doc: Document, lines: list[str], literal: set[int], start: int, end: int,
                    tabs: list[str], open_block):
    """Add the Markdown cells for lines [start, end); return the :begin_tab: block still open."""
    chunk_start = start

    def flush(upto: int, cell_tabs):
        text = "\n".join(lines[chunk_start:upto]).strip("\n")
        if text.strip():
            first = chunk_start + next(i for i, l in enumerate(lines[chunk_start:upto]) if l.strip())
            doc.cells.append(MarkdownCell(text, first + 1, upto, cell_tabs))

    for index in range(start, end):
        if index in literal:
            continue
        raw = lines[index]
        begin, finish = BEGIN_TAB.match(raw), END_TAB.match(raw)
        if begin:
            if open_block is not None:
                doc.error(index + 1, "':begin_tab:' inside another :begin_tab: block",
                          f"close the block opened on line {open_block[1]} first")
            flush(index, open_block[0] if open_block else None)
            names, unknown = parse_tab_names(begin.group(1), tabs)
            for name in unknown:
                doc.error(index + 1, f"unknown tab '{name}'",
                          f"tabs are set in config.ini [build] tabs: {', '.join(tabs)}")
            open_block = (names, index + 1)
            chunk_start = index + 1
        elif finish:
            if open_block is None:
                doc.error(index + 1, "':end_tab:' without a ':begin_tab:' before it")
                flush(index, None)
            else:
                flush(index, open_block[0])
            open_block = None
            chunk_start = index + 1
        elif ANY_TAB_MARK.search(raw) and not _in_code_span(raw):
            doc.error(index + 1, "':begin_tab:' and ':end_tab:' must stand alone on their line")
    flush(end, open_block[0] if open_block else None)
    return open_block


def _in_code_span(line: str) -> bool:
    """Whether the tab mark on this line is shown as inline code (``:begin_tab:``)."""
    stripped = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", line)
    return not ANY_TAB_MARK.search(stripped)
