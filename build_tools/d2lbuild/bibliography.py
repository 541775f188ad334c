"""The bibliography: BibTeX entries read with pybtex, and author-year citation text."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import latexcodec  # noqa: F401  (registers the "ulatex" codec)
from pybtex.database import BibliographyData, parse_file
from pybtex.scanner import PybtexError

from .diagnostics import Diagnostic

if TYPE_CHECKING:
    from .book import Book


def _plain(text: str) -> str:
    """LaTeX to readable text: accents decoded, braces dropped."""
    try:
        text = codecs.decode(text, "ulatex")
    except Exception:  # a malformed accent should not stop the build
        pass
    return re.sub(r"[{}]", "", text).strip()


@dataclass
class Bibliography:
    path: Path | None = None
    data: BibliographyData | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @classmethod
    def load(cls, book: Book) -> Bibliography:
        path = find_bib_file(book)
        if path is None:
            return cls()
        try:
            return cls(path, parse_file(str(path), "bibtex"))
        except (PybtexError, OSError) as e:
            return cls(path, None, [Diagnostic(book.rel(path), 0, f"cannot read the bibliography: {e}")])

    def __contains__(self, key: str) -> bool:
        return self.data is not None and key in self.data.entries

    def author_year(self, key: str) -> tuple[str, str]:
        entry = self.data.entries[key]
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_plain(" ".join(p.last_names) or str(p)) for p in people]
        if not names:
            authors = _plain(entry.fields.get("organization", "") or entry.fields.get("title", key))
        elif len(names) == 1:
            authors = names[0]
        elif len(names) == 2:
            authors = f"{names[0]} and {names[1]}"
        else:
            authors = f"{names[0]} et al."
        return authors, _plain(entry.fields.get("year", "n.d."))

    def cite(self, keys: list[str], textual: bool) -> str:
        """``(Smith, 2020; Lee et al., 2021)``, or ``Smith (2020)`` for textual citations."""
        parts = []
        for key in keys:
            if key not in self:
                parts.append(f"[{key}]")
                continue
            authors, year = self.author_year(key)
            parts.append(f"{authors} ({year})" if textual else f"{authors}, {year}")
        return "; ".join(parts) if textual else f"({'; '.join(parts)})"


def find_bib_file(book: Book) -> Path | None:
    """The file named by a ``:bibliography:`` role, else ``[pdf] bibfile``, else a ``.bib``
    among the resources."""
    for docname in book.order:
        doc = book.documents[docname]
        for role in doc.roles:
            if role.name == "bibliography":
                path = book.resolve_asset(docname, role.content)
                if path is not None:
                    return path
    configured = book.config.get("pdf", "bibfile")
    if configured:
        return book.config.root / configured
    for resource in book.config.resources:
        if resource.endswith(".bib"):
            return book.config.root / resource
    return None


def citation_keys(content: str) -> list[str]:
    return [k.strip() for k in content.split(",") if k.strip()]
