"""The ``check`` stage: every problem in the sources, reported in one run as ``file:line``."""

from __future__ import annotations

import difflib

from .bibliography import citation_keys
from .book import Book
from .diagnostics import Report
from .library import collect_blocks

REFERENCE_ROLES = {"numref", "ref", "eqref"}
CITATION_ROLES = {"cite", "citet", "citep"}


def check_book(book: Book) -> Report:
    report = Report()
    report.extend(book.config.warnings)
    report.extend(book.diagnostics)
    if book.bibliography is not None:
        report.extend(book.bibliography.diagnostics)
    for docname in book.order:
        doc = book.documents[docname]
        report.extend(doc.diagnostics)
        _check_roles(book, doc, report)
        _check_images(book, doc, report)
    for path in book.unreachable_sources():
        report.add(book.rel(path), 0, "section is not reachable from the table of contents",
                   "list it in a ```toc block, or add it to [build] exclusions")
    for tab in book.config.libraries:
        _, problems = collect_blocks(book, tab)
        report.extend(problems)
    return report


def _check_roles(book: Book, doc, report: Report) -> None:
    bib = book.bibliography
    for role in doc.roles:
        if role.name in REFERENCE_ROLES:
            label = role.content.rsplit("<", 1)[-1].rstrip(">").strip()
            target = book.targets.get(label)
            if target is None:
                report.add(doc.rel, role.line, f"unresolved :{role.name}: target '{label}'",
                           _suggest(label, book.targets))
            elif role.name == "eqref" and target.label.kind != "equation":
                report.add(doc.rel, role.line, f":eqref: target '{label}' is not an equation",
                           "use :numref: for sections, figures and tables")
            elif role.name == "numref" and target.label.kind == "equation":
                report.add(doc.rel, role.line, f":numref: target '{label}' is an equation",
                           "use :eqref: for equations")
            elif role.name == "numref" and target.label.kind == "anchor":
                report.add(doc.rel, role.line, f":numref: target '{label}' has no number",
                           "put the label right after a heading, figure or table, or use :ref:")
        elif role.name in CITATION_ROLES:
            for key in citation_keys(role.content):
                if bib is None or bib.path is None:
                    report.add(doc.rel, role.line, f"citation '{key}' but the book has no bibliography",
                               "add a .bib file to [build] resources")
                elif bib.data is not None and key not in bib:
                    report.add(doc.rel, role.line, f"citation key '{key}' is not in {book.rel(bib.path)}")
        elif role.name == "bibliography":
            path = book.resolve_asset(doc.docname, role.content)
            if path is None or not path.is_file():
                report.add(doc.rel, role.line, f"bibliography file '{role.content}' does not exist")


def _check_images(book: Book, doc, report: Report) -> None:
    for image in doc.images:
        path = book.resolve_asset(doc.docname, image.path)
        if path is None:
            if "://" not in image.path and not image.path.startswith("data:"):
                report.add(doc.rel, image.line, f"image '{image.path}' points outside the book")
            continue
        if not path.is_file():
            report.add(doc.rel, image.line, f"image '{image.path}' does not exist",
                       f"looked for {book.rel(path)}")


def _suggest(label: str, targets: dict) -> str:
    close = difflib.get_close_matches(label, list(targets), n=1)
    return f"did you mean '{close[0]}'?" if close else "define it with :label: (or :eqlabel:)"

