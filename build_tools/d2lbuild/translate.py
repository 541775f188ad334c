"""Turn d2lbook Markdown into Markdown that reads well in plain Jupyter.

Labels disappear; ``:numref:`` / ``:ref:`` become links with the target's number or title;
``:eqref:`` becomes the equation's number (and labelled equations get a matching ``\\tag``);
citations become author-year text; ```` ```toc ```` blocks become lists of links; reST-only
blocks are dropped. Roles are located with the Markdown parser, so the same text shown as
inline code or inside a code block is left alone.
"""

from __future__ import annotations

import posixpath
import re

from . import markdown
from .bibliography import citation_keys
from .book import Book, toc_target
from .source import TABLE_CAPTION

DROPPED_ROLES = {"width", "height", "bibliography"}
ANCHOR_ROLES = {"label", "eqlabel"}  # become HTML anchors that links can land on
ROLE_TEXT = r":{name}:`{content}`"
NUMREF_FORMATS = {"section": "Section {}", "subsection": "Section {}", "figure": "Fig. {}",
                  "table": "Table {}", "equation": "({})"}
MD_LINK = re.compile(r"\]\(((?!\w+://)[^)\s]+?)\.md(#[^)\s]*)?\)")


def notebook_link(from_docname: str, to_docname: str, anchor: str = "") -> str:
    """A link from one notebook to another (or to an anchor in it, or in the same one)."""
    fragment = f"#{anchor}" if anchor else ""
    if from_docname == to_docname:
        return fragment or "#"
    rel = posixpath.relpath(to_docname, posixpath.dirname(from_docname) or ".")
    return rel + ".ipynb" + fragment


def role_replacement(book: Book, docname: str, name: str, content: str) -> str | None:
    """What a role becomes in a notebook; None leaves it as written."""
    if name in DROPPED_ROLES:
        return ""
    if name in ANCHOR_ROLES:
        return f'<a id="{content}"></a>'
    if name in ("cite", "citet", "citep"):
        keys = citation_keys(content)
        if book.bibliography is None or book.bibliography.data is None:
            return "[" + ", ".join(keys) + "]"
        return book.bibliography.cite(keys, textual=name == "citet")
    if name not in ("numref", "ref", "eqref"):
        return None
    explicit = re.match(r"(.*?)\s*<([^<>]+)>$", content, re.S)
    text, label = (explicit.group(1), explicit.group(2)) if explicit else (None, content)
    target = book.targets.get(label.strip())
    if target is None:
        return f"`{label}`"
    title = target.label.title or label
    if name == "eqref":
        return f"({target.number})" if target.number else f"({label})"
    if name == "numref" and target.number:
        shown = (text.replace("%s", target.number).replace("{number}", target.number)
                 .replace("{name}", title) if text else
                 NUMREF_FORMATS.get(target.label.kind, "{}").format(target.number))
    else:
        shown = text or title
    if target.label.kind == "equation" and target.docname != docname:
        return shown
    anchor = "" if target.label.kind == "section" and target.docname != docname else label
    return f"[{shown}]({notebook_link(docname, target.docname, anchor)})"


def translate(book: Book, docname: str, text: str) -> str:
    tokens = markdown.parse(text)
    lines = text.split("\n")
    drop: set[int] = set()      # 0-based lines removed entirely
    replace: dict[int, list[str]] = {}  # line -> lines that stand in for a block starting there
    equation_tags: dict[int, str] = {}  # closing line of a math block -> its number
    last_math_end = None
    for token in tokens:
        if token.type == "fence" and token.map:
            info = token.info.strip()
            if info == "eval_rst":
                drop.update(range(*token.map))
            elif info == "toc":
                drop.update(range(*token.map))
                replace[token.map[0]] = _toc_list(book, docname, token)
        if token.type == "math_block" and token.map:
            last_math_end = token.map[1] - 1
        if token.type == "inline":
            for role in markdown.roles_in(token):
                if role.name == "eqlabel" and last_math_end is not None:
                    target = book.targets.get(role.content)
                    if target and target.label.docname == docname and target.number:
                        equation_tags[last_math_end] = target.number
    roles_by_line: dict[int, list[markdown.Role]] = {}
    captions: set[int] = set()  # d2lbook's ":Caption" line above a table
    for position, token in enumerate(tokens):
        if (token.type == "inline" and position + 2 < len(tokens)
                and tokens[position + 2].type == "table_open"
                and TABLE_CAPTION.match(token.content) and token.map[1] - token.map[0] == 1):
            captions.add(token.map[0])
        if token.type == "inline":
            for role in markdown.roles_in(token):
                roles_by_line.setdefault(role.line - 1, []).append(role)

    out: list[str] = []
    for index, line in enumerate(lines):
        if index in replace:
            out.extend(replace[index])
        if index in drop:
            continue
        original = line
        if index in captions:
            out.append(f"*{line.strip()[1:].strip()}*")
            continue
        for role in roles_by_line.get(index, []):
            new = role_replacement(book, docname, role.name, role.content)
            if new is None:
                continue
            pattern = re.compile(r":" + re.escape(role.name) + r":`\s*" + re.escape(role.content) + r"\s*`")
            line = pattern.sub(lambda _, new=new: new, line, count=1)
        if index in equation_tags:
            cut = line.rfind("$$")
            line = line[:cut] + f"\\tag{{{equation_tags[index]}}}" + line[cut:]
        if original.strip() and not line.strip():
            continue  # a line that held only a role that leaves no text
        if out and out[-1].lstrip().startswith("|") and line.startswith("<a id="):
            out.append("")  # keep a label's anchor out of the table above it
        out.append(MD_LINK.sub(lambda m: f"]({m.group(1)}.ipynb{m.group(2) or ''})", line))
    return "\n".join(out).strip("\n")


def _toc_list(book: Book, docname: str, token) -> list[str]:
    items = []
    for raw in token.content.splitlines():
        entry = raw.strip()
        if not entry or entry.startswith(":"):
            continue
        child = toc_target(docname, entry)
        doc = book.documents.get(child or "")
        if doc is None:
            continue
        number = book.section_number(child)
        title = f"{number}. {doc.title}" if number else doc.title
        items.append(f"- [{title}]({notebook_link(docname, child)})")
    return items
