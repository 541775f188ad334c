"""Turn d2lbook Markdown into MyST Markdown that Sphinx (through MyST-NB) renders.

The notebooks stage writes prose for plain Jupyter, with numbers baked in; the website
lets Sphinx number and link everything instead, so each Markdown cell of a section is
translated again, from its source, with this module:

======================================  ===============================================
d2lbook                                 MyST
======================================  ===============================================
heading, then ``:label:`x```            ``(x)=`` before the heading
``![cap](p)`` ``:width:`` ``:label:``   ``{figure}`` directive with ``:name:``, ``:width:``
``:Caption``, table, ``:label:``        ``{table}`` directive with the caption, ``:name:``
``$$...$$``, then ``:eqlabel:`x```      ``$$...$$ (x)`` (a numbered, labelled equation)
``:label:`` after any other block       ``(x)=`` before that block (an anchor)
``:numref:`` ``:ref:`` ``:eqref:``      ``{numref}`` ``{ref}`` ``{eq}``
``:cite:`` ``:citet:``                  ``{cite:p}`` ``{cite:t}`` (sphinxcontrib-bibtex)
``:bibliography:`f```                   ``{bibliography}`` directive
```` ```toc ````                        ``{toctree}`` directive (same options)
```` ```eval_rst ````                   ``{eval-rst}`` directive
``[t](other.md)``                       ``[t](other.ipynb)``
======================================  ===============================================

Blocks are found with the Markdown parser and roles only outside code spans, so roles shown
as inline code or inside code blocks are left alone. ``translate_cell`` also returns, for
every output line, the input line it comes from, so that Sphinx's messages can be mapped
back to a line of the ``.md`` file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import markdown
from .bibliography import citation_keys
from .source import TABLE_CAPTION

# d2lbook role -> MyST role. Roles not listed are left as written.
INLINE_ROLES = {"numref": "numref", "ref": "ref", "eqref": "eq", "cite": "cite:p",
                "citep": "cite:p", "citet": "cite:t", "doc": "doc", "math": "math",
                "abbr": "abbr", "sub": "sub", "sup": "sup", "term": "term",
                "download": "download", "kbd": "kbd"}
STRUCTURAL_ROLES = {"label", "eqlabel", "width", "height", "bibliography"}
ROLE_ITEM = re.compile(r":([A-Za-z][\w-]*):`([^`]*)`")
STRUCTURAL_LINE = re.compile(r"^\s*(?::(?:label|eqlabel|width|height|bibliography):`[^`]*`\s*)+$")
FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
MD_LINK = re.compile(r"\]\(((?!\w+://)[^)\s]+?)\.md(#[^)\s]*)?\)")


@dataclass
class Block:
    """A top-level block of a Markdown cell: its kind and its lines [start, stop)."""

    kind: str
    start: int
    stop: int
    token: object = None
    end: int = 0                                   # last line of content + 1 (<= stop)
    roles: list = field(default_factory=list)      # structural roles that name this block
    caption: str = ""                              # a table's caption
    image: tuple[str, str] | None = None           # (alt, src) of an image paragraph
    dropped: bool = False                          # its lines moved elsewhere

    def __post_init__(self):
        self.end = self.end or self.stop


def _fence_for(text: str, char: str = "`") -> str:
    """A fence longer than any run of ``char`` in ``text``, so the text cannot close it."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(3, longest + 1)


def _blocks(text: str, lines: list[str]) -> list[Block]:
    """The top-level blocks, with structural roles attached to the block they name."""
    tokens = markdown.parse(text)
    blocks: list[Block] = []
    for token in tokens:
        if token.level != 0 or not token.map or token.nesting == -1:
            continue
        start, stop = token.map
        kind = {"paragraph_open": "paragraph", "heading_open": "heading", "table_open": "table",
                "math_block": "math", "math_block_label": "math", "fence": "fence"}.get(
                    token.type, token.type.replace("_open", ""))
        blocks.append(Block(kind, start, stop, token))

    previous: Block | None = None
    for index, block in enumerate(blocks):
        body = lines[block.start:block.stop]
        if block.kind == "paragraph":
            # Leading lines of only structural roles name the block before this one.
            lead = 0
            while lead < len(body) and STRUCTURAL_LINE.match(body[lead]):
                lead += 1
            roles = [r for line in body[:lead] for r in ROLE_ITEM.findall(line)]
            if previous is not None:
                previous.roles.extend(r for r in roles if r[0] != "bibliography")
                block.roles.extend(r for r in roles if r[0] == "bibliography")
            else:
                block.roles.extend(roles)
            block.start += lead
            if block.start >= block.stop:
                block.dropped = True
                continue
            body = lines[block.start:block.stop]
            # Trailing role lines name this paragraph (a figure, or an anchor).
            tail = len(body)
            while tail > 1 and STRUCTURAL_LINE.match(body[tail - 1]):
                tail -= 1
            block.roles.extend(r for line in body[tail:] for r in ROLE_ITEM.findall(line))
            block.end = block.start + tail
            block.image = _lone_image("\n".join(body[:tail]))
            caption = TABLE_CAPTION.match(body[0].strip())
            if (tail == 1 and caption and not block.roles and index + 1 < len(blocks)
                    and blocks[index + 1].kind == "table"):
                blocks[index + 1].caption = caption.group(1).strip()
                block.dropped = True
                continue
        elif block.kind == "table":
            last = body[-1] if body else ""
            if len(body) > 2 and STRUCTURAL_LINE.match(last.replace("|", " ")):
                block.roles.extend(ROLE_ITEM.findall(last))
                block.end = block.stop - 1
        previous = block
    return blocks


def _lone_image(text: str) -> tuple[str, str] | None:
    """(alt, src) if ``text`` is a paragraph made of one image and nothing else (its alt
    text may run over several lines), else None."""
    if not text.lstrip().startswith("!["):
        return None
    tokens = markdown.parse(text)
    if len(tokens) != 3 or tokens[1].type != "inline":
        return None
    children = [c for c in tokens[1].children or [] if c.type != "text" or c.content.strip()]
    if len(children) != 1 or children[0].type != "image":
        return None
    return children[0].content, children[0].attrGet("src") or ""


FOOT_ROLES = {"cite:p": "footcite:p", "cite:t": "footcite:t"}


def translate_cell(text: str, footcite: bool = False) -> tuple[str, list[int]]:
    """Translate one Markdown cell; return the MyST text and, for each of its lines, the
    0-based line of ``text`` it comes from. ``footcite``: cite with ``{footcite:p}`` and
    ``{footcite:t}`` (for books without a references page: each page lists its own)."""
    text_out, origin = _translate(text)
    if footcite:
        for role, foot in FOOT_ROLES.items():
            text_out = text_out.replace("{" + role + "}`", "{" + foot + "}`")
    return text_out, origin


def _translate(text: str) -> tuple[str, list[int]]:
    lines = text.split("\n")
    out: list[str] = []
    origin: list[int] = []

    def emit(new_lines, source_line: int) -> None:
        out.extend(new_lines)
        origin.extend([source_line] * len(new_lines))

    cursor = 0
    for block in _blocks(text, lines):
        # the blank lines between blocks (kept, so that line numbers stay close)
        for gap in range(cursor, block.start):
            if not lines[gap].strip():
                emit([""], gap)
        cursor = max(cursor, block.stop)
        labels = [f"({name})=" for role, name in block.roles if role == "label"]
        for role, _ in block.roles:
            if role == "bibliography":
                emit(["```{bibliography}", "```"], block.start)
        if block.dropped:
            continue
        src = lines[block.start:block.end]
        if block.image is not None:
            emit(_figure(block), block.start)
        elif block.kind == "table" and (block.caption or labels):
            name = labels[0][1:-2] if labels else ""
            body = [_inline(line) for line in src]
            fence = _fence_for("\n".join(body))
            emit([f"{fence}{{table}} {_inline(block.caption)}".rstrip()]
                 + ([f":name: {name}"] if name else []) + [""], block.start)
            for offset, line in enumerate(body):
                emit([line], block.start + offset)
            emit([fence], block.end - 1)
        elif block.kind == "math":
            equation = [c for r, c in block.roles if r == "eqlabel"]
            emit(labels, block.start)
            for offset, line in enumerate(src):
                if equation and offset == len(src) - 1 and line.rstrip().endswith("$$"):
                    line = f"{line.rstrip()} ({equation[0]})"
                emit([line], block.start + offset)
        elif block.kind == "fence":
            emit(labels, block.start)
            fenced = _fence(block.token, src)
            if len(fenced) == len(src):  # line for line: keep each line's origin
                for offset, line in enumerate(fenced):
                    emit([line], block.start + offset)
            else:
                emit(fenced, block.start)
        else:
            emit(labels, block.start)
            literal = block.kind in ("html_block", "code_block")
            for offset, line in enumerate(src):
                emit([line if literal else _inline(line)], block.start + offset)
    while out and not out[-1].strip():
        out.pop()
        origin.pop()
    while out and not out[0].strip():
        out.pop(0)
        origin.pop(0)
    return "\n".join(out), origin


def _figure(block: Block) -> list[str]:
    alt, src = block.image
    options = []
    for role, content in block.roles:
        if role == "label":
            options.append(f":name: {content}")
        elif role in ("width", "height"):
            options.append(f":{role}: {content}")
    caption = [_inline(line.strip()) for line in alt.split("\n")]
    fence = _fence_for("\n".join(caption))
    return ([f"{fence}{{figure}} {src}", *options, "", *caption, fence] if alt.strip()
            else [f"{fence}{{figure}} {src}", *options, fence])


def _fence(token, src: list[str]) -> list[str]:
    match = FENCE_OPEN.match(src[0]) if src else None
    info = token.info.strip()
    if match is None:
        return src
    indent, fence = match.group("indent"), match.group("fence")
    if info == "toc":
        return [f"{indent}{fence}{{toctree}}", *_toc_body(token.content), f"{indent}{fence}"]
    if info == "eval_rst":
        return [f"{indent}{fence}{{eval-rst}}", *src[1:]]
    if info.startswith("{") and info.endswith("}"):
        language, _, _ = markdown.fence_info(info)  # {.python} would read as a directive
        return [f"{indent}{fence}{language}", *src[1:]]
    return src


def _toc_body(content: str) -> list[str]:
    options, entries = [], []
    for raw in content.splitlines():
        text = raw.strip()
        if not text:
            continue
        if text.startswith(":"):
            options.append(text)
        else:
            entries.append(text[:-3] if text.endswith(".md") else text)
    return options + [""] + entries


def code_spans(line: str) -> list[tuple[bool, str]]:
    """Split a line into (is_code, text) pieces, code spans as CommonMark finds them: a run
    of n backticks up to the next run of exactly n."""
    pieces: list[tuple[bool, str]] = []
    start = i = 0
    while i < len(line):
        if line[i] != "`":
            i += 1
            continue
        j = i
        while j < len(line) and line[j] == "`":
            j += 1
        width, k = j - i, j
        close = -1
        while k < len(line):
            k = line.find("`" * width, k)
            if k < 0:
                break
            e = k
            while e < len(line) and line[e] == "`":
                e += 1
            if e - k == width:
                close = e
                break
            k = e
        if close < 0:
            i = j
            continue
        pieces.append((False, line[start:i]))
        pieces.append((True, line[i:close]))
        start = i = close
    pieces.append((False, line[start:]))
    return pieces


ROLE_END = re.compile(r":([A-Za-z][\w-]*):$")


def _inline(line: str) -> str:
    """Translate the roles and ``.md`` links of one line of running text."""
    pieces = code_spans(line)
    out = []
    for n, (is_code, text) in enumerate(pieces):
        if is_code:
            out.append(text)
            continue
        text = MD_LINK.sub(lambda m: f"]({m.group(1)}.ipynb{m.group(2) or ''})", text)
        following = pieces[n + 1] if n + 1 < len(pieces) else (False, "")
        role = ROLE_END.search(text)
        if role and following[0] and following[1].startswith("`") and not following[1].startswith("``"):
            name = role.group(1)
            if name in INLINE_ROLES:
                text = text[:role.start()] + "{" + INLINE_ROLES[name] + "}"
                if name in ("cite", "citep", "citet"):
                    keys = ",".join(citation_keys(following[1][1:-1]))
                    pieces[n + 1] = (True, f"`{keys}`")
            elif name in STRUCTURAL_ROLES:
                text = text[:role.start()].rstrip()  # a stray :label: in running text
                pieces[n + 1] = (True, "")
        out.append(text)
    return "".join(out)
