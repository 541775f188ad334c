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


def cmd_eval(args) -> int:
    from .engine import EvalOptions, evaluate, quick_from_env

    book = _load(args)
    Report(book.config.warnings).print()
    errors = check_report(book).errors
    if errors:
        raise BuildError("the sources have errors; fix them (see `check`) before executing", errors)
    from .datasource import choose_data_source

    print(choose_data_source(book, args.data))
    options = EvalOptions(tabs=_tabs(book, args.tab), jobs=args.jobs,
                          quick=args.quick or quick_from_env(), shard=args.shard,
                          force=args.force, only=args.only or [],
                          warm_kernels=not args.no_warm_kernels)
    return evaluate(book, options).exit_status


def _shard(text: str) -> tuple[int, int]:
    from .scheduler import parse_shard

    try:
        return parse_shard(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of workers (1 or more), got {text!r}")
    return value


# -- website: merge, html -----------------------------------------------------------------
def cmd_merge(args) -> int:
    from .sitesrc import write_site_source

    book = _load(args)
    Report(book.config.warnings).print()
    site = write_site_source(book)
    print(f"merge: {len(site.pages)} sections in {book.rel(site.root)}, "
          f"{len(site.written)} file(s) changed")
    return 0


def cmd_html(args) -> int:
    from dataclasses import replace

    from .website import build_html

    book = _load(args)
    Report(book.config.warnings).print()
    errors = check_report(book).errors
    if errors and args.strict:
        raise BuildError("the sources have errors; fix them (see `check`)", errors)
    Report([replace(e, severity="warning") for e in errors]).print()
    echo = print if args.verbose else None
    result = build_html(book, strict=args.strict, jobs=args.jobs, echo=echo)
    Report(result.diagnostics).print()
    for page in result.site.pages.values():
        for tab, line in page.stale:
            print(f"{page.source}:{line}: warning: the {tab} output of this cell is from older "
                  "code and is not shown; run `make eval`", file=sys.stderr)
    quick = [p.source for p in result.site.pages.values() if p.quick]
    if quick:
        print(f"html: {len(quick)} page(s) show outputs of a quick build (marked with a banner)")
    if result.returncode != 0:
        if not result.diagnostics:  # Sphinx itself failed: show the end of its output
            print("\n".join(result.log.splitlines()[-30:]), file=sys.stderr)
        print(f"html: failed ({len(result.diagnostics)} problem(s)); see above", file=sys.stderr)
        return 1
    print(f"html: {len(result.read)} section(s) read, {len(result.written)} page(s) written to "
          f"{book.rel(result.out)} in {result.seconds:.1f} s")
    return 0


def _add_site_parsers(sub) -> None:
    p = sub.add_parser("merge", help="write the website's Sphinx sources (_build/site_src)",
                       description="Merge each section's notebooks (executed ones from "
                       "_build/eval where there are some) into one notebook per section and "
                       "write them, with conf.py and the static files, to _build/site_src.")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("html", help="build the website into _build/html",
                       description="Merge the notebooks and render them with Sphinx (MyST-NB, "
                       "no execution) into _build/html; only changed sections are re-rendered.")
    p.add_argument("--strict", action="store_true",
                   help="fail on any warning (broken reference, missing image, unknown citation)")
    p.add_argument("--jobs", "-j", default="auto", help="Sphinx processes (default: auto)")
    p.add_argument("--verbose", "-v", action="store_true", help="show Sphinx's progress")
    p.set_defaults(func=cmd_html)


# -- downloads: notebook bundles, Colab notebooks, the d2l package -----------------------
def cmd_pkg(args) -> int:
    from .notebooks import build_notebooks
    from .package import build_bundles, build_library_dists

    book = _load(args)
    Report(book.config.warnings).print()
    errors = check_report(book).errors
    if errors:
        raise BuildError("the sources have errors; fix them (see `check`) before packaging", errors)
    build_notebooks(book)
    for path, counts in build_bundles(book):
        outputs = (f"{counts['with_outputs']} with outputs of a full build"
                   if counts["with_outputs"] else "no outputs (run a full `make eval` to ship them)")
        print(f"pkg: {book.rel(path)}: {counts['notebooks']} notebooks, {outputs}")
    if not args.no_library:
        for path in build_library_dists(book):
            print(f"pkg: {book.rel(path)}")
    return 0


def _add_package_parsers(sub) -> None:
    p = sub.add_parser("pkg", help="notebook zips per framework, Colab notebooks, the d2l wheel",
                       description="Write _build/pkg/<name>-<tab>.zip (notebooks with the images "
                       "they show; outputs only from a full build of the current code), "
                       "<name>-<tab>-colab.zip, and the d2l wheel and sdist.")
    p.add_argument("--no-library", action="store_true", help="skip the wheel and sdist")
    p.set_defaults(func=cmd_pkg)


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

    p = sub.add_parser("eval", help="execute the notebooks (cached, in parallel, on the GPUs)",
                       description="Execute every section's notebook in fresh kernels, reusing "
                       "the cache in _build/cache; write _build/eval/<tab>/<section>.ipynb and "
                       "_build/eval/summary.json. Exit status 1 if a notebook failed.")
    p.add_argument("--tab", default="all", help="a tab, a comma-separated list, or 'all'")
    p.add_argument("--jobs", "-j", type=_jobs, default=None,
                   help="notebooks run at once (default: the number of cores)")
    p.add_argument("--quick", action="store_true",
                   help="quick mode (also D2L_QUICK=1): the library does less work; cached apart")
    p.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="run only slice I of N (1-based), balanced by recorded durations")
    p.add_argument("--force", action="store_true",
                   help="run the chosen notebooks even when the cache has them")
    p.add_argument("--only", nargs="+", action="extend", metavar="SECTION",
                   help="only these sections: docnames (chapter_x/sec) or .md files")
    p.add_argument("--no-warm-kernels", action="store_true",
                   help="start each kernel only when its notebook is due (no start-up hiding)")
    p.add_argument("--data", choices=("auto", "origin", "fixtures"), default="auto",
                   help="where data sets come from: their real addresses, generated fixtures, "
                   "or (auto) D2L_DATA_MIRROR if set, else the real addresses when reachable, "
                   "else fixtures (with a warning)")
    p.set_defaults(func=cmd_eval)
    _add_site_parsers(sub)
    _add_package_parsers(sub)
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
