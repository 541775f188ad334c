"""The PDFs: tests/sitebook.py's sample book (front matter, two tabs, a figure, an equation,
citations, references across sections) built once with `d2lbuild pdf`, read back with
pdftotext. Needs TeX and friends from Debian (`.ci/run` installs them)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import load, run_cli, write_book
from sitebook import CONFIG, FILES, _d, cell, execute_into_eval

from d2lbuild.pdf import (book_matter, inputs_hash, parse_latex_log, pdf_stem, resolve_fonts,
                          missing_characters)

NEEDED = ("latexmk", "xelatex", "rsvg-convert", "pdftotext")
missing = [tool for tool in NEEDED if shutil.which(tool) is None]
needs_tex = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (Debian: latexmk "
                               "texlive-xetex texlive-latex-extra librsvg2-bin poppler-utils; "
                               ".ci/run installs them)")

LONG_LINE = ("result = " + " + ".join(f"weight_{i} * feature_{i}" for i in range(14)))
SVG_OUTPUT = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60">'
              '<circle cx="30" cy="30" r="20" fill="none" stroke="black"/></svg>')


def pdf_files() -> dict[str, str]:
    """The sample book, with a cell whose one line is too long for the page and a cell
    whose output is an SVG image."""
    files = {name: _d(text) for name, text in FILES.items()}
    extra = ("Long lines wrap.\n\n"
             + cell("\n".join(f"weight_{i} = feature_{i} = 1" for i in range(14)) + "\n"
                    + LONG_LINE + "\nprint(result)", "all")
             + "A drawing made by the code.\n\n"
             + cell(f"from IPython.display import SVG\nSVG('{SVG_OUTPUT}')", "all")
             + "## Summary\n")
    files["chapter_one/tensors.md"] = files["chapter_one/tensors.md"].replace("## Summary\n", extra)
    return files


def pdftotext(path: Path, *args: str) -> str:
    return subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def pages(path: Path) -> list[str]:
    """The text of each page (pdftotext separates pages with form feeds)."""
    return pdftotext(path, "-layout").split("\f")


@pytest.fixture(scope="module")
def pdf_book(tmp_path_factory):
    """The sample book with executed notebooks, its website folder, and both PDFs built by
    the command line: (root, completed process)."""
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    from d2lbuild.notebooks import build_notebooks

    root = write_book(tmp_path_factory.mktemp("pdf") / "book", pdf_files(), CONFIG)
    build_notebooks(load(root))
    execute_into_eval(root, "chapter_one/tensors", "mxnet")
    execute_into_eval(root, "chapter_one/tensors", "pytorch")
    execute_into_eval(root, "chapter_one/mxnet_only", "mxnet")
    (root / "_build" / "html").mkdir(parents=True)  # as if the website had been built
    done = run_cli(root, "pdf", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return root, done


def pdf_path(root: Path, tab: str) -> Path:
    return root / "_build" / "pdf" / ("sample.pdf" if tab == "mxnet" else f"sample-{tab}.pdf")


OTHER = {"mxnet": "pytorch", "pytorch": "mxnet"}
PROSE = {"mxnet": "MXNet readers read this.", "pytorch": "PyTorch readers read this."}


@needs_tex
def test_one_pdf_per_framework_also_in_the_website(pdf_book):
    root, done = pdf_book
    for tab in ("mxnet", "pytorch"):
        path = pdf_path(root, tab)
        assert path.is_file() and path.read_bytes().startswith(b"%PDF")
        assert (root / "_build" / "html" / path.name).read_bytes() == path.read_bytes()
        assert re.search(rf"pdf: _build/pdf/{path.name}: \d+ pages \({tab}\)", done.stdout)


@needs_tex
@pytest.mark.parametrize("tab", ["mxnet", "pytorch"])
def test_each_pdf_holds_its_framework_only(pdf_book, tab):
    root, _ = pdf_book
    text = pdftotext(pdf_path(root, tab))
    for title in ("A Sample Book", "Preface", "First Chapter", "Tensors", "MXNet Only",
                  "References"):
        assert title in text
    edition = {"mxnet": "MXNet Edition, Release 1.0.0", "pytorch": "PyTorch Edition, Release 1.0.0"}
    assert edition[tab] in pages(pdf_path(root, tab))[0]  # the title page
    # its code and its outputs, not the other framework's
    assert f"FRAMEWORK = '{tab}'" in text and f"hello from {tab}" in text
    assert f"FRAMEWORK = '{OTHER[tab]}'" not in text and f"hello from {OTHER[tab]}" not in text
    assert tab.upper() in text and OTHER[tab].upper() not in text
    assert "print(sum(range(4)))" in text  # a #@tab all cell
    # its :begin_tab: prose, not the other's
    assert PROSE[tab] in text and PROSE[OTHER[tab]] not in text
    # a section with code in one tab: its code only in that tab's PDF
    assert ("print('only mxnet')" in text) == (tab == "mxnet")


@needs_tex
@pytest.mark.parametrize("tab", ["mxnet", "pytorch"])
def test_numbers_and_references_resolve(pdf_book, tab):
    root, _ = pdf_book
    text = re.sub(r"[ \t]+", " ", pdftotext(pdf_path(root, tab), "-layout"))
    assert "??" not in text
    for numbered in ("1.1 Tensors", "1.2 MXNet Only", "1.1.1 Code"):
        assert numbered in text
    # :numref: to a figure, a table and a section in the same and in another section
    assert "See Fig. 1.1.1, (1.1.1) and Table 1.1.1" in text
    assert "goes back to Section 1.1 and its Fig. 1.1.1." in text
    assert "Fig. 1.1.1: Two boxes and an arrow." in text
    assert "Table 1.1.1: Sizes of things" in text
    assert re.search(r"a1 \+ a2 = s\. +\(1\.1\.1\)", text)  # the equation and its number
    assert "Boxes, sums and Section 1.1.1." in text


@needs_tex
@pytest.mark.parametrize("tab", ["mxnet", "pytorch"])
def test_citations_and_the_bibliography(pdf_book, tab):
    root, _ = pdf_book
    text = re.sub(r"\s+", " ", pdftotext(pdf_path(root, tab)))
    assert "(Smith and Jones, 2019)" in text and "Lee and Park (2021)" in text
    # the references page is the bibliography: its title, the entries, no empty chapter
    last = re.sub(r"\s+", " ", pages(pdf_path(root, tab))[-2])
    assert "REFERENCES" in last.upper()
    assert "Ann Smith and Bob Jones. Arrays." in last and "Cho Lee and Dae Park. Tensors." in last
    assert "Bibliography" not in text


@needs_tex
@pytest.mark.parametrize("tab", ["mxnet", "pytorch"])
def test_front_matter_is_unnumbered(pdf_book, tab):
    root, _ = pdf_book
    all_pages = pages(pdf_path(root, tab))
    toc = next(p for p in all_pages if "CONTENTS" in p)
    lines = [re.sub(r"\s+", " ", re.sub(r"(?:\s*\.\s){2,}", " ", line)).strip()
             for line in toc.splitlines()]
    assert "Preface ii" in lines        # no number, a roman page
    assert "1 First Chapter 1" in lines
    assert "1.1 Tensors 1" in lines
    assert any(re.fullmatch(r"References \d+", line) for line in lines)
    preface = next(p for p in all_pages if "Front matter is not numbered" in p)
    assert "CHAPTER" not in preface and "PREFACE" in preface
    chapter = next(p for p in all_pages if "FIRST CHAPTER" in p)
    assert "CHAPTER" in chapter.replace("FIRST CHAPTER", "") and "ONE" in chapter


@needs_tex
def test_figures_and_image_outputs_are_converted_svg(pdf_book):
    root, _ = pdf_book
    latex = root / "_build" / "latex" / "mxnet"
    tex = (latex / "sample.tex").read_text()
    assert r"\sphinxincludegraphics[width=200\sphinxpxdimen]{{boxes}.pdf}" in tex
    outputs = re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{([^}]+)\}\.pdf\}", tex)
    assert len(outputs) == 2  # the figure and the SVG output of a cell
    for name in outputs:
        assert (latex / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    assert not re.search(r"\.svg\}", tex)  # LaTeX cannot include SVG


@needs_tex
def test_long_code_lines_wrap_and_outputs_look_different(pdf_book):
    root, _ = pdf_book
    path = pdf_path(root, "pytorch")
    # every word lies inside the page, and the long line continues on a second line
    bbox = pdftotext(path, "-bbox")
    width = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))
    right = [float(x) for x in re.findall(r'xMax="([\d.]+)"', bbox)]
    assert right and max(right) < width - 36
    text = pdftotext(path, "-layout")
    first, last = "weight_0 * feature_0", "weight_13 * feature_13"
    line_of = {w: next(i for i, line in enumerate(text.splitlines()) if w in line)
               for w in (first, last)}
    assert line_of[last] > line_of[first]
    tex = (root / "_build" / "latex" / "pytorch" / "sample-pytorch.tex").read_text()
    assert r"\begin{sphinxuseclass}{cell_output}" in tex
    assert r"\newenvironment{sphinxclasscell_output}" in tex


@needs_tex
def test_an_unchanged_book_runs_neither_sphinx_nor_latex_again(pdf_book):
    root, _ = pdf_book
    before = pdf_path(root, "mxnet").stat().st_mtime_ns
    done = run_cli(root, "pdf", "--tab", "mxnet", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "(unchanged: neither Sphinx nor LaTeX ran)" in done.stdout
    assert pdf_path(root, "mxnet").stat().st_mtime_ns == before


@needs_tex
def test_a_latex_error_shows_the_log_line_and_the_markdown_line(pdf_book, tmp_path):
    source, _ = pdf_book
    root = tmp_path / "book"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("_build"))
    path = root / "chapter_one" / "mxnet_only.md"
    path.write_text(path.read_text().replace(
        "The end.", "The end.\n\n```eval_rst\n.. raw:: latex\n\n   \\dtwolnosuchmacro{x}\n```\n"))
    line = path.read_text().splitlines().index(".. raw:: latex") + 1
    done = run_cli(root, "pdf", "--tab", "mxnet", timeout=300)
    assert done.returncode == 1
    err = done.stderr
    assert f"chapter_one/mxnet_only.md:{line}: error: LaTeX: ! Undefined control sequence." in err, err
    match = re.search(r"^    l\.(\d+) \\dtwolnosuchmacro$", err, re.M)
    assert match, err
    assert f"_build/latex/mxnet/sample.tex:{match.group(1)}: \\dtwolnosuchmacro{{x}}" in err
    assert "pdf: the mxnet PDF failed in LaTeX" in err
    assert "latexmk exited" not in err


@needs_tex
def test_an_edit_runs_sphinx_and_latex_again(pdf_book):
    root, _ = pdf_book
    path = root / "chapter_one" / "mxnet_only.md"
    path.write_text(path.read_text().replace("The end.", "The end.\n\nAn added paragraph."))
    done = run_cli(root, "pdf", "--tab", "mxnet", timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.search(r"\(Sphinx [\d.]+ s, LaTeX [\d.]+ s\)", done.stdout), done.stdout
    assert "An added paragraph." in pdftotext(pdf_path(root, "mxnet"))


# -- without TeX ----------------------------------------------------------------------

LOG = r"""
This is XeTeX, Version 3.141592653-2.6-0.999995 (TeX Live 2023/Debian) (preloaded format=xelatex)
(./book.tex
Missing character: There is no ☃ (U+2603) in font TeX Gyre Termes/OT:script=latn;language=dflt;!
./book.tex:120: Undefined control sequence.
l.120 \sphinxAtStartPar Text \foo
                                 {bar} and more
Here is how much of TeX's memory you used:
"""


def test_the_first_latex_error_is_read_from_the_log():
    message, context, tex, line = parse_latex_log(LOG)
    assert message == "! Undefined control sequence."
    assert (tex, line) == ("./book.tex", 120)
    assert context == [r"l.120 \sphinxAtStartPar Text \foo", "                                 {bar} and more"]
    assert parse_latex_log("! LaTeX Error: File `x.sty' not found.\n\nl.5 \\usepackage{x}\n")[0] == \
        "! LaTeX Error: File `x.sty' not found."
    assert parse_latex_log("no errors here\n") is None
    assert missing_characters(LOG) == [("☃ (U+2603)", "TeX Gyre Termes/OT:script=latn;language=dflt;")]


def test_front_main_and_back_matter(book_dir):
    from sitebook import FILES as SITE

    root = book_dir({name: _d(text) for name, text in SITE.items()}, CONFIG)
    book = load(root)
    assert book_matter(book) == {"preface": "front", "chapter_one/index": "main",
                                 "references": "back"}
    assert pdf_stem(book, "mxnet") == "sample" and pdf_stem(book, "pytorch") == "sample-pytorch"


def test_fonts_come_from_the_config_or_the_installed_defaults(book_dir):
    from d2lbuild.diagnostics import BuildError

    files = {"index.md": "# Book\n"}
    book = load(book_dir(files, "[project]\nname = b\n"))
    families = {"tex gyre termes", "dejavu sans", "dejavu sans mono", "my font"}
    assert resolve_fonts(book, families) == {"main_font": "TeX Gyre Termes",
                                             "sans_font": "DejaVu Sans",
                                             "mono_font": "DejaVu Sans Mono"}
    book = load(book_dir(files, "[project]\nname = b\n[pdf]\nmain_font = My Font\n", name="b2"))
    assert resolve_fonts(book, families)["main_font"] == "My Font"
    book = load(book_dir(files, "[project]\nname = b\n[pdf]\nmono_font = Nope Mono\n", name="b3"))
    with pytest.raises(BuildError, match=r"\[pdf\] mono_font: no font family 'Nope Mono'"):
        resolve_fonts(book, families)


def test_the_latex_inputs_hash_ignores_latex_products(tmp_path):
    (tmp_path / "book.tex").write_text("a")
    (tmp_path / "fig.pdf").write_bytes(b"%PDF")
    first = inputs_hash(tmp_path, "book")
    for product in ("book.aux", "book.log", "book.pdf", "book.toc"):
        (tmp_path / product).write_text("x")
    assert inputs_hash(tmp_path, "book") == first
    (tmp_path / "fig.pdf").write_bytes(b"%PDF-changed")
    assert inputs_hash(tmp_path, "book") != first
