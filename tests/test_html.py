"""The website: a small book built with `d2lbuild html`, checked in its HTML."""

import re
import zipfile
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import load, run_cli, write_book
from sitebook import CONFIG, FILES, _d, write_sample_book
from d2lbuild.website import build_html


def page(root: Path, name: str) -> BeautifulSoup:
    return BeautifulSoup((root / "_build" / "html" / name).read_text(encoding="utf-8"),
                         "html.parser")


def panel(tabset, tab):
    return tabset.select_one(f'.d2l-tabpanel[data-tab="{tab}"]')


def test_the_strict_build_succeeds(sample_site):
    root, result = sample_site
    assert result.returncode == 0, result.log
    assert result.diagnostics == []
    html = root / "_build" / "html"
    for name in ("index", "preface", "chapter_one/index", "chapter_one/tensors",
                 "chapter_one/mxnet_only", "references"):
        assert (html / f"{name}.html").is_file()


def test_cells_that_differ_between_tabs_become_tab_sets(sample_site):
    root, _ = sample_site
    soup = page(root, "chapter_one/tensors.html")
    tabsets = soup.select("div.d2l-tabset")
    assert len(tabsets) == 2
    for tabset in tabsets:
        assert [b["data-tab"] for b in tabset.select(".d2l-tab-button")] == ["mxnet", "pytorch"]
        assert [b.get_text() for b in tabset.select(".d2l-tab-button")] == ["mxnet", "pytorch"]
    first, second = tabsets
    # each tab's code, with its output right under it, then that tab's prose
    for tab in ("mxnet", "pytorch"):
        cells = panel(first, tab).select("div.cell")
        assert len(cells) == 1
        parts = [c for c in cells[0].children if getattr(c, "name", None)]
        assert "cell_input" in parts[0]["class"] and "cell_output" in parts[1]["class"]
        assert f"FRAMEWORK = '{tab}'" in parts[0].get_text()
        assert f"hello from {tab}" in parts[1].get_text()
    assert "MXNet readers read this." in panel(first, "mxnet").get_text()
    assert "PyTorch readers" not in panel(first, "mxnet").get_text()
    assert "PyTorch readers read this." in panel(first, "pytorch").get_text()
    # a #@tab all cell with the same output in both tabs appears once, outside any tab set
    shared = [c for c in soup.select("div.cell") if "sum(range(4))" in c.get_text()]
    assert len(shared) == 1 and not shared[0].find_parent(class_="d2l-tabset")
    # one whose output differs appears in each tab with its own output
    assert "MXNET" in panel(second, "mxnet").get_text()
    assert "PYTORCH" in panel(second, "pytorch").get_text()
    # only the default tab's panel is marked as shown without JavaScript
    assert "d2l-default" in panel(first, "mxnet")["class"]
    assert "d2l-default" not in panel(first, "pytorch")["class"]


def test_a_tab_without_code_gets_an_empty_panel(sample_site):
    root, _ = sample_site
    soup = page(root, "chapter_one/mxnet_only.html")
    (tabset,) = soup.select("div.d2l-tabset")
    assert "only mxnet" in panel(tabset, "mxnet").get_text()
    assert panel(tabset, "pytorch").select_one(".d2l-tab-empty") is not None


def test_numbers_and_references_resolve(sample_site):
    root, _ = sample_site
    soup = page(root, "chapter_one/tensors.html")
    assert soup.h1.get_text().startswith("1.1. Tensors")
    links = {a.get_text(): a["href"] for a in soup.select("article a.reference.internal")}
    assert links["Fig. 1.1.1"] == "#fig-boxes"
    assert links["(1.1.1)"] == "#equation-eq-sum"
    assert links["Table 1.1.1"] == "#tab-sizes"
    assert links["Section 1.1.1"] == "#subsec-code"
    assert soup.select_one("figure#fig-boxes .caption-number").get_text().strip() == "Fig. 1.1.1"
    assert soup.select_one("#equation-eq-sum .eqno").get_text().startswith("(1.1.1)")
    assert "Table 1.1.1" in soup.select_one("table#tab-sizes caption").get_text()
    other = page(root, "chapter_one/mxnet_only.html")
    links = {a.get_text(): a["href"] for a in other.select("article a.reference.internal")}
    assert links["Section 1.1"] == "tensors.html#sec-tensors"
    assert links["Fig. 1.1.1"] == "tensors.html#fig-boxes"
    assert other.h1.get_text().startswith("1.2. MXNet Only")
    preface = page(root, "preface.html")
    assert preface.h1.get_text().startswith("Preface")  # front matter: no number
    assert preface.select_one('article a[href="chapter_one/index.html#chap-one"]').get_text() == "Section 1"
    # the sidebar lists the numbered table of contents
    toc = [a.get_text(" ", strip=True) for a in soup.select("nav.d2l-toc a")]
    assert toc[:4] == ["Preface", "1. First Chapter", "1.1. Tensors", "1.2. MXNet Only"]


def test_citations_are_author_year_and_listed(sample_site):
    root, _ = sample_site
    text = page(root, "chapter_one/tensors.html").select_one("article").get_text()
    assert "(Smith and Jones, 2019)" in re.sub(r"\s+", " ", text)
    assert "Lee and Park (2021)" in re.sub(r"\s+", " ", text)
    references = page(root, "references.html").select_one("article").get_text(" ")
    assert "Ann Smith and Bob Jones" in references and "Cho Lee and Dae Park" in references


def test_quick_pages_carry_a_banner(sample_site):
    root, result = sample_site
    assert page(root, "chapter_one/tensors.html").select_one(".d2l-quick-banner") is not None
    assert page(root, "chapter_one/tensors.html").select_one(".d2l-fixture-banner") is None
    only = page(root, "chapter_one/mxnet_only.html")
    assert only.select_one(".d2l-quick-banner:not(.d2l-fixture-banner)") is None
    # Outputs computed on the generated stand-in data say so.
    assert "generated" in only.select_one(".d2l-fixture-banner").get_text()
    assert result.site.pages["chapter_one/tensors"].quick
    assert result.site.pages["chapter_one/mxnet_only"].executed == ["mxnet"]


def test_no_page_needs_a_cdn(sample_site):
    root, _ = sample_site
    html = root / "_build" / "html"
    remote = re.compile(r"^(https?:)?//", re.I)
    pages = list(html.rglob("*.html"))
    assert len(pages) >= 6
    for path in pages:
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        for tag, attr in (("script", "src"), ("link", "href"), ("img", "src"),
                          ("iframe", "src"), ("source", "src")):
            for element in soup.find_all(tag):
                value = element.get(attr) or ""
                assert not remote.match(value), f"{path.relative_to(html)}: <{tag} {attr}={value}>"
        for style in soup.find_all("style"):
            assert not re.search(r"url\(\s*['\"]?(https?:)?//", style.get_text())
    for path in (html / "_static").rglob("*.css"):
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not re.search(r"@import\s+url\(\s*['\"]?(https?:)?//|url\(\s*['\"]?https?://", text), path


def test_mathjax_is_served_by_the_site(sample_site):
    root, _ = sample_site
    html = root / "_build" / "html"
    scripts = [s.get("src", "") for s in page(root, "chapter_one/tensors.html").find_all("script")]
    assert any(s.startswith("../_static/mathjax/tex-chtml.js") for s in scripts)
    assert (html / "_static/mathjax/tex-chtml.js").is_file()
    assert list((html / "_static/mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))
    assert (html / "_static/mathjax/input/tex/extensions/boldsymbol.js").is_file()


def test_header_links_front_page_and_downloads(sample_site):
    root, _ = sample_site
    html = root / "_build" / "html"
    section = page(root, "chapter_one/tensors.html")
    header = {a.get_text(strip=True): a["href"] for a in section.select(".d2l-header-links a")}
    assert header == {"PDF": "../sample.pdf", "Notebooks": "../sample-pytorch.zip",
                      "GitHub": "https://example.org/sample"}
    front = page(root, "index.html")
    assert "Welcome to the sample." in front.get_text()
    assert [a["href"] for a in front.select(".d2l-frontpage-links a")] == [
        "sample.pdf", "sample-pytorch.zip", "https://example.org/sample"]
    # this section's notebook for each tab, Colab, discussion
    notebooks = {a["data-tab"]: a["href"] for a in section.select("a.d2l-notebook-link")}
    assert notebooks == {tab: f"../notebooks/{tab}/chapter_one/tensors.ipynb"
                         for tab in ("mxnet", "pytorch")}
    for href in notebooks.values():
        assert (html / "chapter_one" / href).resolve().is_file()
    colab = {a["data-tab"]: a["href"] for a in section.select("a.d2l-colab-link")}
    assert colab["pytorch"] == "https://colab.example.org/pytorch/chapter_one/tensors.ipynb"
    assert section.select_one("a.d2l-discussion-link")["href"] == \
        "https://example.org/discuss/chapter_one/tensors"
    with zipfile.ZipFile(html / "sample-pytorch.zip") as archive:
        names = archive.namelist()
    assert "sample-pytorch/chapter_one/tensors.ipynb" in names
    assert "sample-pytorch/img/boxes.svg" in names
    # pages without code offer no notebook
    assert page(root, "references.html").select_one("a.d2l-notebook-link") is None


def test_copy_buttons_skip_outputs(sample_site):
    root, _ = sample_site
    conf = (root / "_build" / "site_src" / "conf.py").read_text()
    assert "sphinx_copybutton" in conf and ":not(.output)" in conf
    js = (root / "_build" / "html" / "_static" / "copybutton.js").read_text()
    assert ":not(.output) > div.highlight > pre" in js


def test_a_prose_edit_rerenders_only_its_pages(tmp_path):
    root = write_sample_book(tmp_path / "book")
    first = build_html(load(root), strict=True)
    assert first.returncode == 0, first.log
    assert "chapter_one/tensors" in first.read and len(first.read) == 6

    again = build_html(load(root), strict=True)
    assert again.read == [] and again.written == [] and again.site.written == []

    path = root / "chapter_one" / "mxnet_only.md"
    path.write_text(path.read_text().replace("The end.", "The very end."))
    edited = build_html(load(root), strict=True)
    assert edited.returncode == 0, edited.log
    assert edited.read == ["chapter_one/mxnet_only"]
    # Sphinx also re-writes the page whose table of contents lists the section
    assert edited.written == ["chapter_one/index", "chapter_one/mxnet_only"]
    assert "The very end." in page(root, "chapter_one/mxnet_only.html").get_text()

    # a new figure before fig_boxes renumbers it: the page holding it and the page that
    # refers to it are rendered again, and nothing else
    path = root / "chapter_one" / "tensors.md"
    path.write_text(path.read_text().replace(
        "![Two boxes", "![One box.](../img/boxes.svg)\n:label:`fig_one`\n\n![Two boxes"))
    renumbered = build_html(load(root), strict=True)
    assert renumbered.returncode == 0, renumbered.log
    assert set(renumbered.read) == {"chapter_one/tensors", "chapter_one/mxnet_only"}
    assert set(renumbered.written) == {"chapter_one/tensors", "chapter_one/mxnet_only",
                                       "chapter_one/index"}
    links = [a.get_text() for a in page(root, "chapter_one/mxnet_only.html").select("article a")]
    assert "Fig. 1.1.2" in links

    # a section that leaves the book leaves the site
    (root / "chapter_one" / "mxnet_only.md").unlink()
    index = root / "chapter_one" / "index.md"
    index.write_text(index.read_text().replace("mxnet_only\n", ""))
    removed = build_html(load(root), strict=True)
    assert removed.returncode == 0, removed.log
    html = root / "_build" / "html"
    assert not (html / "chapter_one" / "mxnet_only.html").exists()
    assert not (html / "notebooks" / "mxnet" / "chapter_one" / "mxnet_only.ipynb").exists()
    assert page(root, "chapter_one/tensors.html").select_one("a.right-next")["href"] == \
        "../references.html"


def test_strict_fails_with_file_and_line(tmp_path):
    files = {name: _d(text) for name, text in FILES.items()}
    files["chapter_one/mxnet_only.md"] = files["chapter_one/mxnet_only.md"].replace(
        "The end.", "See :numref:`fig_nowhere`, :cite:`Nobody.2020` and\n\n"
        "![Lost.](../img/lost.svg)\n")
    root = write_book(tmp_path / "book", files, CONFIG)
    lines = files["chapter_one/mxnet_only.md"].splitlines()
    ref = next(i for i, text in enumerate(lines, 1) if "fig_nowhere" in text)
    image = next(i for i, text in enumerate(lines, 1) if "lost.svg" in text)
    done = run_cli(root, "html", "--strict")
    assert done.returncode == 1
    where = "chapter_one/mxnet_only.md"
    assert f"{where}:{ref}: error: unresolved :numref: target 'fig_nowhere'" in done.stderr
    assert re.search(rf"{where}:{ref}: error: .*Nobody\.2020", done.stderr)
    assert re.search(rf"{where}:{image}: error: .*lost\.svg", done.stderr)
    assert not (root / "_build" / "html").exists()  # stopped before rendering


def test_sphinx_messages_point_at_the_markdown(tmp_path):
    files = {name: _d(text) for name, text in FILES.items()}
    files["chapter_one/mxnet_only.md"] = files["chapter_one/mxnet_only.md"].replace(
        "The end.", "The end.\n\n```eval_rst\n.. no-such-directive::\n```\n")
    root = write_book(tmp_path / "book", files, CONFIG)
    lines = files["chapter_one/mxnet_only.md"].splitlines()
    line = lines.index(".. no-such-directive::") + 1
    done = run_cli(root, "html", "--strict")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(rf"chapter_one/mxnet_only\.md:{line}: error: .*no-such-directive",
                     done.stderr), done.stderr
    # without --strict the problem is reported, and the site is built
    done = run_cli(root, "html")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"chapter_one/mxnet_only\.md:{line}: .*no-such-directive",
                     done.stderr), done.stderr
    assert (root / "_build" / "html" / "chapter_one" / "mxnet_only.html").is_file()


@pytest.mark.parametrize("docname", ["chapter_one/tensors"])
def test_merge_command_writes_the_site_sources(tmp_path, docname):
    root = write_sample_book(tmp_path / "book")
    done = run_cli(root, "merge")
    assert done.returncode == 0, done.stderr
    src = root / "_build" / "site_src"
    assert (src / f"{docname}.ipynb").is_file() and (src / "conf.py").is_file()
    text = (src / f"{docname}.ipynb").read_text()
    assert "{d2l-tab} mxnet" in text and "(sec_tensors)=" in text and "{numref}`fig_boxes`" in text


# -- the translation of d2lbook Markdown to MyST (myst.py) -----------------------------

def translate(text):
    from d2lbuild.myst import translate_cell

    return translate_cell(_d(text))


def test_labels_become_targets_names_and_equation_labels():
    out, origin = translate("""
        # Title
        :label:`sec_x`

        ![A caption that runs
        over two lines with $x$.](../img/a.svg)
        :width:`300px`
        :label:`fig_a`

        $$a = b$$
        :eqlabel:`eq_a`

        :A caption

        | a | b |
        |---|---|
        | 1 | 2 |
        :label:`tab_a`

        Some text.
        :label:`anchor_a`
        """)
    assert out.startswith("(sec_x)=\n# Title\n")
    assert ("```{figure} ../img/a.svg\n:width: 300px\n:name: fig_a\n\nA caption that runs\n"
            "over two lines with $x$.\n```") in out
    assert "$$a = b$$ (eq_a)" in out and ":eqlabel:" not in out
    assert "```{table} A caption\n:name: tab_a\n\n| a | b |\n|---|---|\n| 1 | 2 |\n```" in out
    assert "(anchor_a)=\nSome text." in out and ":label:" not in out
    assert origin[out.split("\n").index("# Title")] == 0
    assert origin[out.split("\n").index("$$a = b$$ (eq_a)")] == 8


def test_roles_are_translated_outside_code_only():
    out, _ = translate("""
        See :numref:`fig_a`, :ref:`sec_x`, :eqref:`eq_a`, :numref:`Figure %s <fig_a>`,
        :cite:`A.2020, B.2021` and :citet:`C.2019`; `:numref:` and ``:ref:`x` `` stay.
        Links to [another section](other.md#part) work.

        ```python
        print(":numref:`not_a_role`")
        ```
        """)
    assert ("See {numref}`fig_a`, {ref}`sec_x`, {eq}`eq_a`, {numref}`Figure %s <fig_a>`,\n"
            "{cite:p}`A.2020,B.2021` and {cite:t}`C.2019`; `:numref:` and ``:ref:`x` `` stay.") in out
    assert "[another section](other.ipynb#part)" in out
    assert 'print(":numref:`not_a_role`")' in out


def test_toc_eval_rst_and_bibliography_become_directives():
    out, _ = translate("""
        ```toc
        :numbered:
        :maxdepth: 2

        intro
        basics.md
        ```

        ```eval_rst
        .. only:: html

           Text.
        ```

        ```{.python}
        shown = True
        ```

        :bibliography:`../refs.bib`
        """)
    assert "```{toctree}\n:numbered:\n:maxdepth: 2\n\nintro\nbasics\n```" in out
    assert "```{eval-rst}\n.. only:: html" in out
    assert "```python\nshown = True\n```" in out
    assert "```{bibliography}\n```" in out and ":bibliography:" not in out


def test_a_book_without_a_references_page_cites_in_footnotes(tmp_path):
    """The corpus (a d2lbook-style book) has citations but no :bibliography: page."""
    import shutil

    import nbformat

    from d2lbuild.sitesrc import write_site_source

    root = tmp_path / "corpus"
    shutil.copytree(Path(__file__).parent / "corpus", root)
    site = write_site_source(load(root))
    nb = nbformat.read(site.pages["chapter_basics/prose"].path, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "{footcite:p}`Smith.Jones.2019`" in text and "{footcite:t}`Lee.Park.Kim.ea.2021`" in text
    assert nb.cells[-1].source == "```{footbibliography}\n```"
    cells = nbformat.read(site.pages["chapter_basics/cells"].path, as_version=4).cells
    assert "footbibliography" not in cells[-1].source  # no citations there
