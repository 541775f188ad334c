"""Size of the book: prose words (code and math excluded) and code cells per tab, per section.

``python -m d2lbuild.stats [--root DIR] [--json]`` prints a table with a line per section and
a total per chapter; authors use it to see where a chapter stands against its plan.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field

from . import markdown
from .book import Book
from .config import load_config

WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
NOT_PROSE = {"fence", "code_block", "math_block", "math_block_label", "html_block", "front_matter"}


@dataclass
class SectionStats:
    docname: str
    number: str
    title: str
    words: int
    code_cells: dict[str, int] = field(default_factory=dict)


def prose_words(text: str) -> int:
    """Words a reader reads: text and inline code in paragraphs, headings, lists and tables;
    not code blocks, math or the targets of roles such as :label:."""
    count = 0
    for token in markdown.parse(text):
        if token.type in NOT_PROSE or token.type != "inline":
            continue
        previous = None
        for _, child in markdown.inline_items(token):
            if child.type == "text":
                content = markdown.ROLE_AT_END.sub("", child.content)
                count += len(WORD.findall(content))
            elif child.type == "code_inline":
                is_role = previous is not None and previous.type == "text" and \
                    markdown.ROLE_AT_END.search(previous.content)
                if not is_role:
                    count += len(WORD.findall(child.content))
            elif child.type == "image":
                count += len(WORD.findall(child.content))
            previous = child
    return count


def book_stats(book: Book) -> list[SectionStats]:
    rows = []
    for docname in book.order:
        doc = book.documents[docname]
        words = sum(prose_words(c.text) for c in doc.cells if c.kind == "markdown")
        cells = {tab: len(doc.code_cells(tab)) for tab in book.config.tabs}
        rows.append(SectionStats(docname, book.section_number(docname), doc.title, words, cells))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2lbuild.stats", description=__doc__)
    parser.add_argument("--root", default=".")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    book = Book.load(load_config(args.root))
    rows = book_stats(book)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
        return 0
    tabs = book.config.tabs
    print(f"{'section':<48} {'words':>6} " + " ".join(f"{t:>8}" for t in tabs))
    chapter_totals: dict[str, list[int]] = {}
    for row in rows:
        label = f"{row.number} {row.title}".strip()[:47]
        print(f"{label:<48} {row.words:>6} " + " ".join(f"{row.code_cells[t]:>8}" for t in tabs))
        chapter = book.chapter_of(row.docname)
        totals = chapter_totals.setdefault(chapter, [0] * (1 + len(tabs)))
        totals[0] += row.words
        for i, t in enumerate(tabs, 1):
            totals[i] += row.code_cells[t]
    print("\nper chapter:")
    for chapter, totals in chapter_totals.items():
        number = book.section_number(chapter)
        title = f"{number} {book.documents[chapter].title}".strip()[:47]
        print(f"{title:<48} {totals[0]:>6} " + " ".join(f"{n:>8}" for n in totals[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
