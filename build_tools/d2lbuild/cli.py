"""Command-line interface: ``d2lbuild <stage>``. Thin: each stage is a function in its module.

Exit status: 0 success, 1 problems in the book (each printed as ``file:line``), 2 bad usage,
130 interrupted.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
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


def _load_checked(args, before: str = "", strict: bool = True) -> Book:
    """The book, after printing config warnings and checking the sources: errors stop the
    stage, or with ``strict=False`` are shown as warnings and the stage goes on."""
    book = _load(args)
    Report(book.config.warnings).print()
    errors = check_report(book).errors
    if errors and strict:
        raise BuildError(f"the sources have errors; fix them (see `check`){before}", errors)
    Report([replace(e, severity="warning") for e in errors]).print()
    return book


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

    book = _load_checked(args, " before making notebooks")
    written = build_notebooks(book, _tabs(book, args.tab))
    for tab, paths in written.items():
        print(f"notebooks: {len(paths)} {tab} notebooks in {book.rel(notebook_dir(book, tab))}")
    return 0


def cmd_eval(args) -> int:
    from .engine import EvalOptions, evaluate, quick_from_env

    book = _load_checked(args, " before executing")
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
    from .website import build_html

    book = _load_checked(args, strict=args.strict)
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


# -- PDF: one per framework ----------------------------------------------------------------
def cmd_pdf(args) -> int:
    from .pdf import build_pdfs, outputs_notes

    book = _load_checked(args, strict=args.strict)
    echo = print if args.verbose else None
    results = build_pdfs(book, _tabs(book, args.tab), strict=args.strict, jobs=args.jobs,
                         force=args.force, echo=echo)
    failed = 0
    for result in results:
        Report(result.diagnostics).print()
        for note in outputs_notes(book, result):
            print(note, file=sys.stderr)
        if result.missing_chars:
            chars = ", ".join(f"{c} ({font})" for c, font in result.missing_chars[:10])
            print(f"pdf: warning: the fonts of the {result.tab} PDF lack {len(result.missing_chars)} "
                  f"character(s), shown as blanks: {chars}; set [pdf] fonts in config.ini",
                  file=sys.stderr)
        if result.latex_error is not None:
            print(result.latex_error.format(), file=sys.stderr)
        elif not result.ok and not result.diagnostics:  # Sphinx itself failed
            print("\n".join(result.log.splitlines()[-30:]), file=sys.stderr)
        if not result.ok:
            failed += 1
            stage = "LaTeX" if result.latex_error is not None else "Sphinx"
            print(f"pdf: the {result.tab} PDF failed in {stage}; see above", file=sys.stderr)
            continue
        if not result.sphinx_ran:
            how = "unchanged: neither Sphinx nor LaTeX ran"
        elif result.latex_ran:
            how = f"Sphinx {result.sphinx_seconds:.1f} s, LaTeX {result.latex_seconds:.1f} s"
        else:
            how = f"Sphinx {result.sphinx_seconds:.1f} s, .tex unchanged: LaTeX not run"
        print(f"pdf: {book.rel(result.pdf)}: {result.pages} pages ({result.tab}) in "
              f"{result.seconds:.1f} s ({how})")
    return 1 if failed else 0


def _add_pdf_parser(sub) -> None:
    p = sub.add_parser("pdf", help="one PDF per framework (Sphinx's LaTeX builder, xelatex)",
                       description="Render each framework's prose, code and outputs (executed "
                       "notebooks from _build/eval) with Sphinx's LaTeX builder and latexmk "
                       "-pdfxe into _build/pdf/<name>.pdf (default tab) and "
                       "<name>-<tab>.pdf, copied into _build/html when the website exists. "
                       "Sphinx runs only when its sources changed, LaTeX only when the .tex "
                       "file or its inputs did.")
    p.add_argument("--tab", default="all", help="a tab, a comma-separated list, or 'all'")
    p.add_argument("--strict", action="store_true",
                   help="fail on check errors and on any Sphinx warning")
    p.add_argument("--jobs", "-j", default=None,
                   help="Sphinx processes per PDF (default: auto for one PDF, else 1)")
    p.add_argument("--force", action="store_true",
                   help="run Sphinx and LaTeX even if nothing changed")
    p.add_argument("--verbose", "-v", action="store_true", help="show Sphinx's and LaTeX's progress")
    p.set_defaults(func=cmd_pdf)


# -- downloads: notebook bundles, Colab notebooks, the d2l package -----------------------
def cmd_pkg(args) -> int:
    from .notebooks import build_notebooks
    from .package import build_bundles, build_library_dists

    book = _load_checked(args, " before packaging")
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


# -- the authors' and contributors' workflow: serve, open, writeback, changed --------------
def _config_tabs(config, tab: str | None) -> list[str]:
    names = list(config.tabs) if tab in (None, "all") else [t.strip() for t in tab.split(",") if t.strip()]
    unknown = [t for t in names if t not in config.tabs]
    if unknown:
        raise BuildError(f"unknown tab {', '.join(unknown)}; the book's tabs are {', '.join(config.tabs)}")
    return names


def cmd_serve(args) -> int:
    from .serve import ServeOptions, serve

    config = load_config(args.root)
    Report(config.warnings).print()
    _config_tabs(config, args.tab)
    return serve(config, ServeOptions(
        host=args.host, port=args.port, tab=args.tab, quick=args.quick, data=args.data,
        jobs=args.jobs, no_eval=args.no_eval, interval=args.interval, open_browser=args.open,
        verbose=args.verbose))


def cmd_open(args) -> int:
    from .engine import resolve_only
    from .notebooks import _sync_assets
    from .roundtrip import edit_dir, launch_jupyter, open_section

    book = _load(args)
    tabs = _config_tabs(book.config, args.tab or book.config.default_tab)
    if len(tabs) != 1:
        raise BuildError("open: name one tab, e.g. --tab pytorch")
    try:
        (docname,) = resolve_only(book, [args.section])
    except BuildError:  # a draft no toc lists yet can be opened too
        path = Path(args.section).resolve()
        if not (path.suffix == ".md" and path.is_file()
                and path.is_relative_to(book.source_root.resolve())):
            raise BuildError(f"open: no section {args.section!r}; give its .md file or its "
                             "docname, such as chapter_x/section") from None
        docname = path.relative_to(book.source_root.resolve()).with_suffix("").as_posix()
    path = open_section(book.config, book.doc_path(docname), docname, tabs[0], force=args.force)
    _sync_assets(book, edit_dir(book.config, tabs[0]))  # images resolve as in the .md
    print(book.rel(path))
    print(f"open: edit it in Jupyter, then `d2lbuild writeback {book.rel(path)}`", file=sys.stderr)
    return launch_jupyter(book.config, path) if args.jupyter else 0


def cmd_writeback(args) -> int:
    from .roundtrip import writeback

    config = load_config(args.root)
    result = writeback(config, args.notebook, shared=args.shared, dry_run=args.dry_run)
    plan, rel = result.plan, config.rel(result.source)
    for note in plan.notes:
        print(f"writeback: note: {note}", file=sys.stderr)
    if args.dry_run or args.diff:
        print(result.diff, end="")
    if not plan.any:
        print(f"writeback: {rel}: no changes")
        return 0
    print(f"writeback: {rel}: {plan.changed} cell(s) changed, {plan.added} added, {plan.deleted} "
          "deleted" + (" (dry run: nothing written)" if args.dry_run else ""))
    if result.written:
        print(f"writeback: {args.notebook} now matches the new .md; reload it in Jupyter to go on")
    return 0


def cmd_changed(args) -> int:
    import json

    from .changed import changed_sections

    config = load_config(args.root)
    affected, base = changed_sections(config, args.since, _config_tabs(config, args.tab))
    if args.json:
        print(json.dumps({"since": args.since, "base": base,
                          "sections": [a.to_json() for a in affected]}, indent=1))
    else:
        for a in affected:
            print(a.docname if args.names else f"{a.docname}\t{','.join(a.tabs)}")
    print(f"changed: {len(affected)} section(s) to execute, compared with {base}", file=sys.stderr)
    return 0


def _add_workflow_parsers(sub) -> None:
    p = sub.add_parser("serve", help="live preview on 127.0.0.1 that rebuilds when a source is saved",
                       description="Serve _build/html on a local port; when a chapter, figure or "
                       "config.ini is saved, run eval (cached: only changed code runs) and html "
                       "again and reload the browser. Ctrl-C stops.")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--tab", default="all", help="tabs to execute: a tab, a list, or 'all'")
    p.add_argument("--quick", action="store_true", help="execute in quick mode")
    p.add_argument("--no-eval", action="store_true",
                   help="execute nothing: prose previews only (outputs of unchanged code stay)")
    p.add_argument("--data", choices=("auto", "origin", "fixtures"), default="auto",
                   help="where data sets come from (as for eval)")
    p.add_argument("--jobs", "-j", type=_jobs, default=None, help="eval's workers")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between looks at the sources")
    p.add_argument("--open", action="store_true", help="open the site in a browser")
    p.add_argument("--verbose", "-v", action="store_true", help="log every request")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("open", help="write a section as a notebook of one tab, to edit in Jupyter",
                       description="Write _build/edit/<tab>/<section>.ipynb: the cells the tab "
                       "shows, in the section's own Markdown, with what `writeback` needs to "
                       "put edits back. Prints its path.")
    p.add_argument("section", help="the .md file or its docname (chapter_x/section)")
    p.add_argument("--tab", default=None, help="the tab (default: the book's first)")
    p.add_argument("--force", action="store_true",
                   help="replace an earlier notebook even if it has edits not written back")
    p.add_argument("--jupyter", action="store_true", help="then start Jupyter on it")
    p.set_defaults(func=cmd_open)

    p = sub.add_parser("writeback", help="write a notebook made by `open` back into its .md",
                       description="Write the notebook's code and prose back into the .md it was "
                       "made from, changing only the lines of the cells that changed. Refuses "
                       "notebooks `open` did not make and sections changed since.")
    p.add_argument("notebook", type=Path, help="the .ipynb that `open` wrote")
    p.add_argument("--shared", choices=("split", "all"), default="split",
                   help="a code cell shared with other tabs (#@tab all): 'split' (default) keeps "
                   "it for them and writes your edit as a cell of this tab; 'all' edits it for "
                   "every tab")
    p.add_argument("--dry-run", "-n", action="store_true", help="show the diff; write nothing")
    p.add_argument("--diff", action="store_true", help="show the diff")
    p.set_defaults(func=cmd_writeback)

    p = sub.add_parser("changed", help="the sections whose execution a git diff affects",
                       description="List the sections whose code, or the library code they "
                       "reach, differs between the merge base of REV and HEAD and the working "
                       "tree (prose edits do not count): one 'docname<TAB>tabs' per line.")
    p.add_argument("--since", required=True, metavar="REV", help="e.g. origin/main or HEAD~1")
    p.add_argument("--tab", default="all", help="only these tabs")
    p.add_argument("--names", action="store_true", help="docnames only (for eval --only)")
    p.add_argument("--json", action="store_true", help="JSON with each section's tabs and reasons")
    p.set_defaults(func=cmd_changed)


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
    _add_pdf_parser(sub)
    _add_package_parsers(sub)
    _add_workflow_parsers(sub)
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
