"""The ``pdf`` stage: one PDF per framework, with Sphinx's LaTeX builder and xelatex.

For each tab the book's sections are written as a Sphinx source tree of that tab only,
``_build/pdf_src/<tab>/``, with the website's code (``sitesrc.write_sphinx_source``: prose
translated to MyST, the tab's code with the outputs of ``_build/eval/<tab>/``, else of
``_build/notebooks/<tab>/``) and a ``conf.py`` for the LaTeX builder. Sphinx writes
``_build/latex/<tab>/<name>[-<tab>].tex`` (its environment is kept in
``_build/pdf_cache/<tab>/`` so unchanged sections are not read again), and ``latexmk
-pdfxe`` turns it into the PDF, which is copied to ``_build/pdf/`` and, when the website
has been built, into ``_build/html/`` (its header links point there).

* The default tab's PDF is ``<name>.pdf``, the others ``<name>-<tab>.pdf``.
* Front matter (the unnumbered chapters listed before the numbered ones) and back matter
  are unnumbered (``sphinx_ext/latex.py`` marks them; the preamble below defines the marks).
* SVG figures and outputs become PDF with ``rsvg-convert`` (sphinxcontrib-svg2pdfconverter's
  converter, run only for SVGs that changed; the PDFs are kept in the Sphinx cache).
* Fonts: ``[pdf] main_font``, ``sans_font``, ``mono_font`` (and ``cjk_font``), else the first
  of ``FONT_DEFAULTS`` that fontconfig knows.
* Incremental: when the source tree (and the extension, the date, the Sphinx packages) is
  as at the last successful build, neither Sphinx nor LaTeX runs; otherwise Sphinx re-reads
  the changed sections and writes the ``.tex`` file, and LaTeX runs only when a hash of the
  ``.tex`` file and everything it includes differs from the last successful run's.
* When LaTeX fails, the first error of the ``.log`` is shown with its ``l.NNN`` context,
  the offending line of the ``.tex`` file and the ``.md`` file and line it comes from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from .book import Book
from .diagnostics import BuildError, Diagnostic
from .fsutil import atomic_write
from .notebooks import _copy_file
from .sitesrc import SiteSource, common_sphinx_values, render_conf, write_sphinx_source
from .sphinx_ext.latex import SOURCE_MARK
from .website import locate, map_messages, pages_by_path, run_sphinx, sphinx_command

# [pdf] key -> (fontspec command, candidates in order of preference, fontspec options)
FONT_DEFAULTS = {
    "main_font": ("setmainfont", ["TeX Gyre Termes", "DejaVu Serif"], ""),
    "sans_font": ("setsansfont", ["TeX Gyre Heros", "DejaVu Sans"], "Scale=MatchLowercase"),
    "mono_font": ("setmonofont", ["DejaVu Sans Mono", "TeX Gyre Cursor"], "Scale=MatchLowercase"),
}
TOOLS = {"latexmk": "latexmk", "xelatex": "texlive-xetex", "rsvg-convert": "librsvg2-bin"}
DEBIAN_PACKAGES = ("latexmk texlive-xetex texlive-latex-recommended texlive-latex-extra "
                   "texlive-fonts-recommended tex-gyre fonts-texgyre librsvg2-bin poppler-utils")
LATEXMK_TIMEOUT = 3600
SPHINX_PACKAGES = ("sphinx", "myst-nb", "myst-parser", "sphinxcontrib-bibtex",
                   "sphinxcontrib-svg2pdfconverter", "pybtex", "pygments")
# TeX wraps its log at 79 columns by default, which cuts error messages and input lines
TEX_ENV = {"max_print_line": "10000", "error_line": "254", "half_error_line": "238"}

CODE_STYLE = ("pre_background-TeXcolor={RGB}{244,246,249}, pre_border-TeXcolor={RGB}{196,204,216}, "
              "pre_border-width=0.5pt, pre_border-radius=2pt")
# outputs: no background, a bar on the left, grey text
OUTPUT_STYLE = ("pre_background-TeXcolor={RGB}{255,255,255}, pre_border-width=0pt, "
                "pre_border-left-width=2.5pt, pre_border-radius=0pt, "
                "pre_border-TeXcolor={RGB}{150,172,204}, pre_TeXcolor={RGB}{70,70,70}, "
                "pre_padding=4pt")

PREAMBLE = r"""
% --- d2lbuild: the book's parts (sphinx_ext/latex.py puts the marks in the body) ---
\makeatletter
\setcounter{tocdepth}{1}
\AtBeginDocument{\edef\dtwolsecnumdepth{\the\c@secnumdepth}}
% the table of contents and the front matter have roman page numbers
\newcommand\dtwoltableofcontents{%
  \pagenumbering{roman}%
  \begingroup\parskip\z@skip\sphinxtableofcontentshook\tableofcontents\endgroup
  \clearpage}
\newcommand\dtwolfrontmatter{\clearpage\setcounter{secnumdepth}{-1}}
\newcommand\dtwolmainmatter{\clearpage\pagenumbering{arabic}%
  \setcounter{secnumdepth}{\dtwolsecnumdepth}\setcounter{chapter}{0}}
\newcommand\dtwolbackmatter{\clearpage\setcounter{secnumdepth}{-1}}
\newcommand\dtwolplainmatter{\clearpage\pagenumbering{arabic}\setcounter{secnumdepth}{-1}}
% the bibliography: citations are author-year, so entries carry no labels; alphabetical,
% with a hanging indent
\renewenvironment{sphinxthebibliography}[1]{%
  \clearpage
  \chapter*{\bibname}\addcontentsline{toc}{chapter}{\bibname}%
  \markboth{\bibname}{\bibname}%
  \def\@biblabel##1{}%
  \list{}{\leftmargin 1.5em \itemindent -1.5em \labelwidth\z@ \labelsep\z@
    \itemsep 3pt \parsep\z@}%
  \sloppy\clubpenalty4000\widowpenalty4000\sfcode`\.\@m}{\endlist}
% cell outputs: set apart from the code above them
\newenvironment{sphinxclasscell_output}{\sphinxsetup{@OUTPUT_STYLE@}}{}
\makeatother
"""


@dataclass
class LatexError:
    """The first error LaTeX reported, and where it comes from."""

    message: str                 # "! Undefined control sequence."
    context: list[str]           # the lines after it, up to and including "l.NNN ..."
    tex: str = ""                # the file TeX was reading, as shown in messages
    tex_line: int = 0
    input_line: str = ""         # that line of the file
    source: str = ""             # the .md file and line it comes from, if known
    source_line: int = 0
    log: str = ""                # the .log file

    def format(self) -> str:
        where = f"{self.source}:{self.source_line}" if self.source_line else (self.source or self.tex)
        lines = [f"{where}: error: LaTeX: {self.message}"]
        lines += [f"    {line}" for line in self.context]
        if self.tex and self.tex_line:
            lines.append(f"    {self.tex}:{self.tex_line}: {self.input_line}")
        if self.log:
            lines.append(f"    (full log: {self.log})")
        return "\n".join(lines)


@dataclass
class PdfResult:
    tab: str
    pdf: Path                    # _build/pdf/<name>[-<tab>].pdf
    site: SiteSource
    returncode: int
    seconds: float
    sphinx_seconds: float = 0.0
    latex_seconds: float = 0.0
    sphinx_ran: bool = False
    latex_ran: bool = False
    pages: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    latex_error: LatexError | None = None
    missing_chars: list[tuple[str, str]] = field(default_factory=list)
    log: str = ""
    copies: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# -- names and folders -------------------------------------------------------------------

def pdf_stem(book: Book, tab: str) -> str:
    """``<name>`` for the default tab, ``<name>-<tab>`` for the others."""
    name = book.config.name
    return name if tab == book.config.default_tab else f"{name}-{tab}"


def pdf_dir(book: Book) -> Path:
    return book.config.build_dir / "pdf"


def pdf_src_dir(book: Book, tab: str) -> Path:
    return book.config.build_dir / "pdf_src" / tab


def pdf_cache_dir(book: Book, tab: str) -> Path:
    return book.config.build_dir / "pdf_cache" / tab


def latex_dir(book: Book, tab: str) -> Path:
    return book.config.build_dir / "latex" / tab


def missing_tools() -> list[str]:
    """The programs the PDF needs that are not on the PATH, with their Debian packages."""
    return [f"{tool} (Debian: {package})" for tool, package in TOOLS.items()
            if shutil.which(tool) is None]


# -- configuration -----------------------------------------------------------------------

def book_matter(book: Book) -> dict[str, str]:
    """The top-level documents as ``front``, ``main`` or ``back`` matter: unnumbered ones
    before the first numbered chapter are front matter, after the last one back matter.
    A book without numbered chapters is all ``plain`` (no numbers, arabic page numbers)."""
    top = [d for d in book.order if book.parents.get(d) == book.config.index]
    numbered = [i for i, d in enumerate(top) if d in book.numbers]
    if not numbered:
        return {d: "plain" for d in top}
    first, last = numbered[0], numbered[-1]
    return {d: "front" if i < first else "back" if i > last else "main"
            for i, d in enumerate(top)}


def installed_font_families() -> set[str] | None:
    """Font families fontconfig (which xelatex uses) knows, lower case; None without it."""
    try:
        out = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True,
                             timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {name.strip().lower() for line in out.splitlines() for name in line.split(",")
            if name.strip()}


def resolve_fonts(book: Book, families: set[str] | None = None) -> dict[str, str]:
    """The font of each ``[pdf]`` key: as configured (it must exist), else the first
    default that exists on this machine."""
    if families is None:
        families = installed_font_families()
    fonts = {}
    for key, (_, candidates, _) in FONT_DEFAULTS.items():
        configured = book.config.get("pdf", key).strip()
        if configured:
            if families is not None and configured.lower() not in families:
                raise BuildError(f"config.ini: [pdf] {key}: no font family {configured!r} on this "
                                 "machine (see `fc-list : family`)")
            fonts[key] = configured
            continue
        found = [c for c in candidates if families is None or c.lower() in families]
        if not found:
            raise BuildError(f"no font for [pdf] {key}: none of {', '.join(candidates)} is "
                             f"installed; install Debian's fonts-texgyre and fonts-dejavu-core, "
                             f"or set {key} in config.ini")
        fonts[key] = found[0]
    cjk = book.config.get("pdf", "cjk_font").strip()
    if cjk:
        fonts["cjk_font"] = cjk
    return fonts


def fontpkg(fonts: dict[str, str]) -> str:
    lines = []
    for key, (command, _, options) in FONT_DEFAULTS.items():
        lines.append(f"\\{command}{{{fonts[key]}}}" + (f"[{options}]" if options else ""))
    if fonts.get("cjk_font"):
        lines += ["\\usepackage{xeCJK}", f"\\setCJKmainfont{{{fonts['cjk_font']}}}"]
    return "\n".join(lines)


FRAMEWORK_NAMES = {"mxnet": "MXNet", "pytorch": "PyTorch", "tensorflow": "TensorFlow",
                   "jax": "JAX", "paddle": "PaddlePaddle", "numpy": "NumPy"}


def framework_name(tab: str) -> str:
    return FRAMEWORK_NAMES.get(tab.lower(), tab[:1].upper() + tab[1:])


def latex_conf(tab: str, fonts: dict[str, str], logo: str = ""):
    """The ``make_conf`` of ``write_sphinx_source`` for the PDF of ``tab``."""

    def make(book: Book, links, static, bibfile: str) -> str:
        config = book.config
        stem = pdf_stem(book, tab)
        values = common_sphinx_values(
            book, ["d2lbuild.sphinx_ext.latex"], bibfile)
        values.update({
            "d2l_tabs": [tab],
            "d2l_latex_matter": book_matter(book),
            "d2l_nb_output_folder": f"../../pdf_cache/{tab}/jupyter_execute",
            # matplotlib's SVG outputs (converted to PDF) rather than their text
            "nb_mime_priority_overrides": [("latex", "image/svg+xml", 25)],
            "latex_engine": "xelatex",
            "latex_documents": [(config.index, f"{stem}.tex", config.title or config.name,
                                 config.author, "manual", False)],
            "latex_domain_indices": False,
            "latex_use_xindy": False,
            "latex_show_urls": "footnote",
            "latex_elements": {
                "papersize": "letterpaper",
                "pointsize": "10pt",
                "extraclassoptions": "openany,oneside",
                "fontpkg": fontpkg(fonts),
                "figure_align": "H",
                "sphinxsetup": ", ".join([
                    "hmargin={0.9in,0.9in}", "vmargin={0.9in,0.9in}",
                    "verbatimwrapslines=true", "verbatimforcewraps=true",
                    "verbatimmaxunderfull=2", CODE_STYLE,
                    "InnerLinkColor={RGB}{28,78,150}", "OuterLinkColor={RGB}{28,78,150}",
                    "TitleColor={RGB}{25,45,80}"]),
                "preamble": PREAMBLE.replace("@OUTPUT_STYLE@", OUTPUT_STYLE),
                "tableofcontents": r"\dtwoltableofcontents",
                # "PyTorch Edition, Release 1.0" on the title page and in the page headers
                "releasename": f"{framework_name(tab)} Edition, Release",
                "makeindex": "",
                "printindex": "",
            },
        })
        if logo:
            values["latex_logo"] = logo
        return render_conf(book, values, f"PDF ({tab})")

    return make


# -- LaTeX: running it, reading its log --------------------------------------------------

ERROR_LINE = re.compile(r"^(?:! (?P<bang>.+)|(?P<file>[^\s:][^:\n]*\.\w+):(?P<line>\d+): (?P<msg>.+))$")
CONTEXT_LINE = re.compile(r"^l\.(?P<line>\d+)(?: (?P<text>.*))?$")
MISSING_CHAR = re.compile(r"^Missing character: There is no (?P<char>.+?) in font (?P<font>[^!]+)!")
PAGES = re.compile(r"^Output written on .+? \((?P<pages>\d+) pages?")


def parse_latex_log(text: str) -> tuple[str, list[str], str, int] | None:
    """The first error of a TeX log: its message (as ``! ...``), the lines that follow it up
    to and including the ``l.NNN`` line (and the rest of that input line), the file TeX was
    reading (when ``-file-line-error`` names it) and the line number; None if there is none."""
    lines = text.splitlines()
    for index, raw in enumerate(lines):
        match = ERROR_LINE.match(raw)
        if not match:
            continue
        message = match.group("bang") or match.group("msg")
        tex, line = match.group("file") or "", int(match.group("line") or 0)
        context: list[str] = []
        for follow in lines[index + 1:index + 40]:
            if ERROR_LINE.match(follow) and context:
                break
            context.append(follow)
            numbered = CONTEXT_LINE.match(follow)
            if numbered:
                line = line or int(numbered.group("line"))
                position = lines.index(follow, index + 1)
                if position + 1 < len(lines) and lines[position + 1].strip():
                    context.append(lines[position + 1])
                break
        while context and not context[0].strip():
            context.pop(0)
        return f"! {message}", [c for c in context if c.strip()][:12], tex, line
    return None


def missing_characters(text: str) -> list[tuple[str, str]]:
    """(character, font) for each character the fonts lack, once each."""
    found: dict[tuple[str, str], None] = {}
    for raw in text.splitlines():
        match = MISSING_CHAR.match(raw)
        if match:
            found[(match.group("char"), match.group("font").strip())] = None
    return list(found)


def page_count(text: str) -> int:
    pages = 0
    for raw in text.splitlines():
        match = PAGES.match(raw)
        if match:
            pages = int(match.group("pages"))
    return pages


def latex_error(book: Book, site: SiteSource, folder: Path, stem: str, output: str) -> LatexError:
    """The first error of the LaTeX run in ``folder``, traced back to the ``.md`` line."""
    log_path = folder / f"{stem}.log"
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
    parsed = parse_latex_log(text)
    if parsed is None:
        # latexmk or xdvipdfmx failed without a TeX error: show the end of their output
        tail = [line for line in output.splitlines() if line.strip()][-20:]
        return LatexError("latexmk failed without a LaTeX error in the log", tail,
                          log=book.rel(log_path) if log_path.is_file() else "")
    message, context, tex, line = parsed
    tex_path = (folder / tex).resolve() if tex else folder / f"{stem}.tex"
    error = LatexError(message, context, book.rel(tex_path), line, log=book.rel(log_path))
    try:
        tex_lines = tex_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return error
    if 0 < line <= len(tex_lines):
        error.input_line = tex_lines[line - 1].strip()
        error.source, error.source_line = _tex_origin(book, site, tex_lines, line)
    return error


def _tex_origin(book: Book, site: SiteSource, tex_lines: list[str], line: int) -> tuple[str, int]:
    """The ``.md`` file and line a line of the ``.tex`` file comes from: the nearest source
    mark above it (``sphinx_ext/latex.py``); before the body, the configuration."""
    by_path = pages_by_path(site)
    for number in range(line, 0, -1):
        text = tex_lines[number - 1]
        if text.startswith(SOURCE_MARK):
            path, _, at = text[len(SOURCE_MARK):].strip().rpartition(":")
            full = site.root / path
            return locate(book, by_path, str(full), int(at) if at.isdigit() else 0)
        if text.startswith(r"\begin{document}"):
            break
    return "", 0


def inputs_hash(folder: Path, stem: str) -> str:
    """A hash of what LaTeX reads: every file in ``folder`` except LaTeX's own products
    (``<stem>.*`` other than the ``.tex`` file)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if (rel.startswith(f"{stem}.") and rel != f"{stem}.tex") or rel.startswith("."):
            continue
        digest.update(rel.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def run_latexmk(folder: Path, stem: str, echo=None) -> tuple[int, str]:
    """``latexmk -pdfxe`` in ``folder`` (Sphinx's ``latexmkrc`` there runs ``xelatex
    --no-pdf``); returns its exit status and output."""
    command = ["latexmk", "-pdfxe", "-dvi-", "-ps-", "-interaction=nonstopmode",
               "-halt-on-error", "-file-line-error", f"{stem}.tex"]
    env = {**os.environ, **TEX_ENV, "LATEXOPTS": "-interaction=nonstopmode -halt-on-error"}
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace",
                               stdin=subprocess.DEVNULL)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if echo is not None:
                echo(line.rstrip("\n"))
        returncode = process.wait(timeout=LATEXMK_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        returncode = process.wait()
        lines.append(f"latexmk: stopped after {LATEXMK_TIMEOUT} s")
    return returncode, "\n".join(lines)


# -- the stage ---------------------------------------------------------------------------

def _epoch(book: Book) -> str:
    """``SOURCE_DATE_EPOCH`` for Sphinx: the date on the title page (and the time stamp
    rsvg-convert writes into converted figures). Unless set, the time of the latest change
    to the book's sources, so that an unchanged book gives identical files on any day."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return os.environ["SOURCE_DATE_EPOCH"]
    paths = [book.doc_path(d) for d in book.order] + [book.config.path]
    return str(int(max((p.stat().st_mtime for p in paths if p.exists()), default=0)))


def _state(book: Book, tab: str) -> dict:
    try:
        return json.loads((pdf_cache_dir(book, tab) / "latex.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _copy_logo(book: Book, root: Path) -> str:
    logo = book.config.get("pdf", "latex_logo").strip()
    if not logo:
        return ""
    source = book.config.root / logo
    if not source.is_file():
        raise BuildError(f"config.ini: [pdf] latex_logo: no file {logo}")
    _copy_file(source, root / "_static" / source.name)
    return f"_static/{source.name}"


def _post_latex(book: Book, tex: Path) -> None:
    """``[pdf] post_latex``: a Python script that edits the ``.tex`` file in place (as in
    d2lbook), run as ``python SCRIPT FILE.tex``."""
    script = book.config.get("pdf", "post_latex").strip()
    if not script:
        return
    path = book.config.root / script
    if not path.is_file():
        raise BuildError(f"config.ini: [pdf] post_latex: no file {script}")
    done = subprocess.run([sys.executable, str(path), str(tex)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"[pdf] post_latex {script} failed on {book.rel(tex)}:\n"
                         + (done.stdout + done.stderr).strip())


def build_pdf(book: Book, tab: str, fonts: dict[str, str], strict: bool = False,
              jobs: str | int = "auto", force: bool = False, echo=None) -> PdfResult:
    """Build the PDF of one tab (see the module doc); ``echo`` sees Sphinx's and LaTeX's
    progress. Sphinx runs unless its source tree (and everything else it reads) is as it was
    at the last successful build; LaTeX runs unless its inputs are."""
    start = time.perf_counter()
    stem = pdf_stem(book, tab)
    root, cache, out = pdf_src_dir(book, tab), pdf_cache_dir(book, tab), latex_dir(book, tab)
    epoch = _epoch(book)
    logo = _copy_logo(book, root)
    site = write_sphinx_source(book, root, [tab], latex_conf(tab, fonts, logo))
    result = PdfResult(tab, pdf_dir(book) / f"{stem}.pdf", site, 0, 0.0)
    tex, built = out / f"{stem}.tex", out / f"{stem}.pdf"
    state = _state(book, tab)
    script = book.config.get("pdf", "post_latex").strip()
    sphinx_key = sphinx_inputs_key(root, epoch, strict,
                                   book.config.root / script if script else None)
    if (not force and state.get("sphinx") == sphinx_key and tex.is_file() and built.is_file()
            and state.get("hash") == inputs_hash(out, stem)):
        # nothing changed: report what the last build found, and publish its PDF
        result.diagnostics = [Diagnostic(**d) for d in state.get("diagnostics", [])]
        result.pages = state.get("pages", 0)
        result.missing_chars = [tuple(m) for m in state.get("missing_chars", [])]
        result.copies = _publish(book, built, f"{stem}.pdf")
        result.seconds = time.perf_counter() - start
        return result

    result.sphinx_ran = True
    command = sphinx_command("latex", root, out, cache / "doctrees", jobs)
    if strict:
        command.append("-W")
    returncode, log, stderr_lines = run_sphinx(command, root, echo, {"SOURCE_DATE_EPOCH": epoch})
    result.diagnostics = map_messages(book, site, stderr_lines, strict)
    result.sphinx_seconds = time.perf_counter() - start
    result.log = "\n".join(log + stderr_lines)
    if returncode != 0 or not tex.is_file():
        result.returncode = returncode or 1
        result.seconds = time.perf_counter() - start
        return result
    _post_latex(book, tex)

    digest = inputs_hash(out, stem)
    if force or state.get("hash") != digest or not built.is_file():
        latex_start = time.perf_counter()
        code, output = run_latexmk(out, stem, echo)
        result.latex_seconds = time.perf_counter() - latex_start
        result.latex_ran = True
        log_text = (out / f"{stem}.log").read_text(encoding="utf-8", errors="replace") \
            if (out / f"{stem}.log").is_file() else ""
        result.log += "\n" + output
        if code != 0 or not built.is_file():
            result.returncode = code or 1
            result.latex_error = latex_error(book, site, out, stem, output)
            (cache / "latex.json").unlink(missing_ok=True)
            result.seconds = time.perf_counter() - start
            return result
        result.pages = page_count(log_text)
        result.missing_chars = missing_characters(log_text)
    else:
        result.pages = state.get("pages", 0)
        result.missing_chars = [tuple(m) for m in state.get("missing_chars", [])]
    atomic_write(cache / "latex.json", json.dumps(
        {"sphinx": sphinx_key, "hash": digest, "pages": result.pages,
         "missing_chars": [list(m) for m in result.missing_chars],
         "diagnostics": [asdict(d) for d in result.diagnostics]}, indent=1))
    result.copies = _publish(book, built, f"{stem}.pdf")
    result.seconds = time.perf_counter() - start
    return result


def sphinx_inputs_key(root: Path, epoch: str, strict: bool, post_latex: Path | None = None) -> str:
    """What Sphinx's output (and the ``.tex`` file) depends on: the source tree, the date,
    the strictness, the book's Sphinx extension, the versions of the Sphinx packages and
    the ``[pdf] post_latex`` script."""
    digest = hashlib.sha256(f"{epoch} {strict}".encode())
    for name in SPHINX_PACKAGES:
        try:
            digest.update(f"{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} missing".encode())
    extension = Path(__file__).parent / "sphinx_ext"
    if post_latex is not None and post_latex.is_file():
        digest.update(b"post_latex\0" + post_latex.read_bytes())
    for folder, prefix in ((extension, "ext/"), (root, "src/")):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            if "__pycache__" in rel or ".ipynb_checkpoints" in rel:
                continue
            digest.update((prefix + rel).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _publish(book: Book, built: Path, name: str) -> list[Path]:
    """Copy the PDF to ``_build/pdf/`` and, where the website is, into it."""
    targets = [pdf_dir(book) / name]
    html = book.config.build_dir / "html"
    if html.is_dir():
        targets.append(html / name)
    data = built.read_bytes()
    for target in targets:
        if not target.is_file() or target.read_bytes() != data:
            atomic_write(target, data)
    return targets


def build_pdfs(book: Book, tabs: list[str], strict: bool = False, jobs: str | int | None = None,
               force: bool = False, echo=None) -> list[PdfResult]:
    """The PDFs of ``tabs``, built side by side (one LaTeX run per core)."""
    missing = missing_tools()
    if missing:
        raise BuildError("the PDF needs " + ", ".join(missing) + "; on Debian: apt-get install "
                         + DEBIAN_PACKAGES)
    fonts = resolve_fonts(book)
    workers = max(1, min(len(tabs), os.cpu_count() or 1))
    if jobs is None:
        jobs = "auto" if workers == 1 else 1
    if workers == 1:
        return [build_pdf(book, tab, fonts, strict, jobs, force, echo) for tab in tabs]

    def one(tab: str) -> PdfResult:
        tagged = (lambda line: echo(f"[{tab}] {line}")) if echo is not None else None
        return build_pdf(book, tab, fonts, strict, jobs, force, tagged)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, tabs))


def outputs_notes(book: Book, result: PdfResult) -> list[str]:
    """Warnings about the outputs a PDF shows: sections whose code ran in no executed
    notebook (shown without outputs), outputs of older code (left out) and quick builds."""
    tab, notes = result.tab, []
    missing, quick = [], []
    for page in result.site.pages.values():
        cells = book.documents[page.docname].cells
        has_code = any(c.kind != "markdown" and tab in c.tabs for c in cells)
        if has_code and tab not in page.executed:
            missing.append(page.source)
        if page.quick:
            quick.append(page.source)
        for _, line in page.stale:
            notes.append(f"{page.source}:{line}: warning: the {tab} output of this cell is from "
                         "older code and is left out of the PDF; run `make eval`")
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        notes.append(f"pdf: warning: {len(missing)} section(s) have no executed {tab} notebook in "
                     f"{book.rel(book.config.build_dir / 'eval' / tab)}; the {tab} PDF shows their "
                     f"code from {book.rel(book.config.build_dir / 'notebooks' / tab)} without "
                     f"outputs (run `make eval`): {shown}")
    if quick:
        notes.append(f"pdf: warning: the {tab} PDF shows outputs of a quick build in "
                     f"{len(quick)} section(s)")
    return notes
