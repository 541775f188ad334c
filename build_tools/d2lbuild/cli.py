"""Command-line interface: ``d2lbuild <stage>``. Thin: each stage is a function in its module.

Exit status: 0 success, 1 problems in the book (each printed as ``file:line``), 2 bad usage,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .book import Book
from .config import load_config
from .diagnostics import BuildError, Report


def _load(args) -> Book:
    config = load_config(args.root)
    return Book.load(config)


def _tabs(book: Book, tab: str) -> list[str]:
    if tab in (None, "all"):
        return list(book.config.tabs)
    names = [t.strip() for t in tab.split(",") if t.strip()]
    unknown = [t for t in names if t not in book.config.tabs]
    if unknown:
        raise BuildError(f"unknown tab {', '.join(unknown)}; the book's tabs are "
                         f"{', '.join(book.config.tabs)}")
    return names


def cmd_check(args) -> int:
    book = _load(args)
    report = check_report(book)
    report.print()
    errors, warnings = len(report.errors), len(report.warnings)
    docs = len(book.order)
    if errors:
        print(f"check: {errors} error(s), {warnings} warning(s) in {docs} documents", file=sys.stderr)
        return 1
    print(f"check: {docs} documents, no errors" + (f", {warnings} warning(s)" if warnings else ""))
    return 0


def check_report(book: Book) -> Report:
    from .checks import check_book

    return check_book(book)


def cmd_lib(args) -> int:
    from .library import stale_library_files, write_library

    book = _load(args)
    Report(book.config.warnings).print()
    if args.check:
        stale = stale_library_files(book)
        for path in stale:
            print(f"{book.rel(path)}: out of date with the sources; run `make lib` and commit it",
                  file=sys.stderr)
        if stale:
            return 1
        print("lib: the library matches the sources")
        return 0
    changed = write_library(book)
    for path in changed:
        print(f"lib: wrote {book.rel(path)}")
    if not changed:
        print("lib: up to date")
    return 0


def cmd_notebooks(args) -> int:
    from .notebooks import build_notebooks, notebook_dir

    book = _load(args)
    Report(book.config.warnings).print()
    errors = check_report(book).errors
    if errors:
        raise BuildError("the sources have errors; fix them (see `check`) before making notebooks",
                         errors)
    written = build_notebooks(book, _tabs(book, args.tab))
    for tab, paths in written.items():
        print(f"notebooks: {len(paths)} {tab} notebooks in {book.rel(notebook_dir(book, tab))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="d2lbuild", description=(
        "Build an executable book written in the d2lbook Markdown format."))
    parser.add_argument("--version", action="version", version=f"d2lbuild {__version__}")
    parser.add_argument("--root", default=".", type=Path,
                        help="the book's folder, which holds config.ini (default: here)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")

    p = sub.add_parser("check", help="report every problem in the sources as file:line")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("lib", help="write the d2l library from the #@save blocks")
    p.add_argument("--check", action="store_true",
                   help="write nothing; fail if the committed library differs from the sources")
    p.set_defaults(func=cmd_lib)

    p = sub.add_parser("notebooks", help="write one notebook per section and tab")
    p.add_argument("--tab", default="all", help="a tab, a comma-separated list, or 'all'")
    p.set_defaults(func=cmd_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BuildError as e:
        print(e.format(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
