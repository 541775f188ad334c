"""The one Markdown parser every stage uses: markdown-it-py configured as MyST configures it.

Parsing with a real CommonMark parser (not line-by-line regular expressions) makes fences
inside lists, indented fences and fences with longer backtick runs behave exactly as they
render, and tells roles (``:numref:`x```) from the same text shown as inline code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

# Tokens whose lines hold literal text: no roles or tab marks are looked for inside them.
LITERAL_TOKENS = {"fence", "code_block", "html_block", "math_block", "math_block_label",
                  "front_matter"}

ROLE_AT_END = re.compile(r":([A-Za-z][\w-]*):$")


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    return (MarkdownIt("commonmark", {"html": True})
            .use(dollarmath_plugin, allow_space=True, allow_digits=False, double_inline=True)
            .use(front_matter_plugin)
            .enable("table"))


def parse(text: str) -> list[Token]:
    return parser().parse(text)


@dataclass(frozen=True)
class Role:
    """A role such as ``:numref:`sec_x``` found in running text, with its 1-based line."""

    name: str
    content: str
    line: int


def inline_items(token: Token):
    """Yield ``(line, child)`` for each child of an inline token, tracking line breaks."""
    line = token.map[0] + 1 if token.map else 0
    for child in token.children or []:
        yield line, child
        if child.type in ("softbreak", "hardbreak"):
            line += 1


def roles_in(token: Token) -> list[Role]:
    """The roles in one inline token: text ending in ``:name:`` followed by a code span."""
    found = []
    previous = None
    for line, child in inline_items(token):
        if child.type == "code_inline" and previous is not None and previous.type == "text":
            m = ROLE_AT_END.search(previous.content)
            if m:
                found.append(Role(m.group(1), child.content.strip(), line))
        previous = child
    return found


def literal_lines(tokens: list[Token]) -> set[int]:
    """0-based numbers of the lines that belong to code, HTML or math blocks."""
    lines: set[int] = set()
    for token in tokens:
        if token.type in LITERAL_TOKENS and token.map:
            lines.update(range(*token.map))
    return lines


def fence_info(info: str) -> tuple[str, set[str], dict[str, str]]:
    """Split a fence's info string: ``{.python .input n=3}`` gives
    ("python", {"python", "input"}, {"n": "3"}); ``bash`` gives ("bash", set(), {})."""
    info = info.strip()
    if info.startswith("{") and info.endswith("}"):
        classes, attrs = set(), {}
        for word in info[1:-1].split():
            if word.startswith("."):
                classes.add(word[1:])
            elif "=" in word:
                key, value = word.split("=", 1)
                attrs[key] = value.strip("\"'")
        language = "python" if "python" in classes else next(iter(sorted(classes)), "")
        return language, classes, attrs
    language = info.split()[0] if info else ""
    return language, set(), {}


def fence_is_closed(token: Token, lines: list[str]) -> bool:
    """Whether a fence token has its closing marker (markdown-it runs an unclosed fence to the
    end of its container without saying so)."""
    start, end = token.map
    if end - start < 2:
        return False
    last = lines[end - 1].strip() if end - 1 < len(lines) else ""
    char, width = token.markup[0], len(token.markup)
    return len(last) >= width and set(last) == {char}
