"""The whole book: documents in table-of-contents order, their numbers and a label index.

``Book.load`` parses ``index.md`` and follows its ```` ```toc ```` blocks depth first, the
order in which readers meet the sections (and the library is assembled). Numbers follow
Sphinx with ``numfig_secnum_depth = 2``: chapters 1, 2, ...; sections 2.1; subsections
2.1.1; figures, tables and equations 2.1.1, 2.1.2 within their section.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .bibliography import Bibliography
from .config import BookConfig
from .diagnostics import Diagnostic
from .source import Document, Label, parse_document

NUMBERED_KINDS = {"figure": "Fig.", "table": "Table", "equation": "Eq."}


@dataclass
class Target:
    """What a label points at: the document, its kind, its number (if any) and its title."""

    label: Label
    number: str  # "" when unnumbered

    @property
    def docname(self) -> str:
        return self.label.docname


@dataclass
class Book:
    config: BookConfig
    order: list[str] = field(default_factory=list)           # docnames in reading order
    documents: dict[str, Document] = field(default_factory=dict)
    numbers: dict[str, tuple[int, ...]] = field(default_factory=dict)  # docname -> (2, 1)
    parents: dict[str, str] = field(default_factory=dict)    # docname -> the doc whose toc has it
    targets: dict[str, Target] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    bibliography: Bibliography | None = None

    # -- paths ------------------------------------------------------------------------
    @property
    def source_root(self) -> Path:
        return self.config.root / self.config.source_dir

    def doc_path(self, docname: str) -> Path:
        return self.source_root / f"{docname}.md"

    def rel(self, path: Path) -> str:
        return self.config.rel(path)

    def resolve_asset(self, docname: str, link: str) -> Path | None:
        """The file an image or other relative link in ``docname`` points at, seen through the
        build tree: the source folder with each ``[build] resources`` entry beside its
        documents under its own name (``static/img`` serves ``../img/x.svg``). None for URLs
        and links that leave the build tree."""
        if "://" in link or link.startswith(("data:", "mailto:", "#")):
            return None
        link = link.split("#")[0].split("?")[0]
        inside = within(PurePosixPath(docname).parent, link)
        if inside is None:
            return None
        stack = list(inside.parts)
        for resource in self.config.resources:
            res = Path(resource.rstrip("/"))
            if stack[0] == res.name:
                return self.config.root / res / Path(*stack[1:]) if len(stack) > 1 else self.config.root / res
        return self.source_root / Path(*stack)

    # -- loading ----------------------------------------------------------------------
    @classmethod
    def load(cls, config: BookConfig) -> Book:
        book = cls(config)
        book._walk(config.index, parent=None, number=(), numbered=False, seen=set())
        book._index_labels()
        book.bibliography = Bibliography.load(book)
        return book

    def _walk(self, docname: str, parent: str | None, number: tuple[int, ...], numbered: bool,
              seen: set[str]) -> None:
        path = self.doc_path(docname)
        doc = parse_document(path, self.rel(path), docname, self.config.tabs)
        self.documents[docname] = doc
        self.order.append(docname)
        if parent is not None:
            self.parents[docname] = parent
        if numbered:
            self.numbers[docname] = number
        seen.add(docname)
        child_number = 0
        for toc in doc.tocs:
            for entry, line in toc.entries:
                child = toc_target(docname, entry)
                if child is None or not self.doc_path(child).is_file():
                    self.diagnostics.append(Diagnostic(
                        doc.rel, line, f"toc entry '{entry}' names no file",
                        f"expected {self.rel(self.doc_path(child or entry))}"))
                    continue
                if child in seen:
                    self.diagnostics.append(Diagnostic(
                        doc.rel, line, f"toc entry '{entry}' is listed more than once in the book"))
                    continue
                child_numbered = toc.numbered or (numbered and docname != self.config.index)
                if child_numbered:
                    child_number += 1
                self._walk(child, docname, number + (child_number,) if child_numbered else (),
                           child_numbered, seen)

    def _index_labels(self) -> None:
        for docname in self.order:
            doc = self.documents[docname]
            base = self.numbers.get(docname, ())
            for label in doc.labels:
                number = ""
                if label.kind == "section":
                    number = ".".join(map(str, base))
                elif label.kind == "subsection" and base:
                    number = ".".join(map(str, base + label.heading_path))
                elif label.kind in NUMBERED_KINDS:
                    number = ".".join(map(str, base[:2] + (label.order,)))
                if label.name in self.targets:
                    first = self.targets[label.name].label
                    self.diagnostics.append(Diagnostic(
                        doc.rel, label.line, f"duplicate label '{label.name}'",
                        f"first defined at {self.documents[first.docname].rel}:{first.line}"))
                    continue
                self.targets[label.name] = Target(label, number)

    # -- queries ----------------------------------------------------------------------
    def chapter_of(self, docname: str) -> str:
        """The top-level document (chapter) a document belongs to."""
        while self.parents.get(docname) not in (None, self.config.index):
            docname = self.parents[docname]
        return docname

    def section_number(self, docname: str) -> str:
        return ".".join(map(str, self.numbers.get(docname, ())))

    def unreachable_sources(self) -> list[Path]:
        """Markdown files that the notebook patterns select but no toc reaches."""
        root = self.source_root
        build = (self.config.root / self.config.output_dir).resolve()
        found = []
        for path in sorted(root.rglob("*.md")):
            rel = path.relative_to(root).as_posix()
            if any(part.startswith((".", "_")) for part in path.relative_to(root).parts[:-1]):
                continue
            if path.resolve().is_relative_to(build):
                continue
            if not any(_glob_match(rel, p) for p in self.config.notebooks):
                continue
            if any(_glob_match(rel, p) for p in self.config.exclusions + self.config.non_notebooks):
                continue
            if rel[:-3] not in self.documents:
                found.append(path)
        return found


def _glob_match(rel: str, pattern: str) -> bool:
    """d2lbook-style patterns: ``**/*.md`` matches at any depth, ``*.md`` only at the top."""
    if pattern.startswith("**/"):
        return fnmatch.fnmatch(rel, pattern[3:]) or fnmatch.fnmatch(rel, pattern)
    return fnmatch.fnmatch(rel, pattern) and rel.count("/") == pattern.count("/")


def toc_target(docname: str, entry: str) -> str | None:
    """The docname a toc entry names, relative to the listing document's folder."""
    entry = entry.strip()
    if entry.endswith(".md"):
        entry = entry[:-3]
    target = within(PurePosixPath(docname).parent, entry)
    return target.as_posix() if target is not None else None


def within(folder: PurePosixPath, link: str) -> PurePosixPath | None:
    """``link`` relative to ``folder`` (or to the top when it starts with "/"), with "." and
    ".." resolved; None when it climbs above the top or names nothing."""
    target = PurePosixPath(link.lstrip("/")) if link.startswith("/") else folder / link
    parts: list[str] = []
    for part in target.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return PurePosixPath(*parts) if parts else None
