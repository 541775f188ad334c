"""The website's Sphinx source tree, ``_build/site_src/``: one merged notebook per section,
a generated ``conf.py``, the book's static files and its resources.

For each section and tab the notebook to render is put together from the source (so a
prose edit shows without running anything) and the stored notebook of that tab: the
executed one in ``_build/eval/<tab>/`` when there is one, else the notebooks stage's in
``_build/notebooks/<tab>/``. Code cells take their outputs from it when their code is
unchanged; Markdown cells are translated to MyST (``myst.py``). The tabs' notebooks are then
merged (``merge.py``) and prose that belongs to one tab is wrapped in a ``{d2l-tab}``
directive for the Sphinx extension (``sphinx_ext``) to group.

Every file is written only when its content changes, so Sphinx re-reads only the sections
that changed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .book import Book
from .config import split_words
from .diagnostics import BuildError
from .fsutil import write_if_changed
from .merge import merge_notebooks
from .myst import _fence_for, translate_cell
from .notebooks import KERNELSPEC, _copy_file, _sync_assets, apply_reverse_alias, notebook_dir

FRONTPAGE_LINKS_MARK = "<!-- d2l:header-links -->"
RAW_FILE = re.compile(r"^\s*:file:\s*(\S+)\s*$", re.M)


@dataclass
class SitePage:
    """One section of the site: where its notebook is and how its lines map to the .md."""

    docname: str
    source: str                 # the .md, as shown in messages
    path: Path                  # the merged notebook in the site source
    lines: list[list[int]]      # per cell of the notebook: the .md line of each of its lines
    quick: bool = False
    executed: list[str] = field(default_factory=list)   # tabs with executed outputs
    stale: list[tuple[str, int]] = field(default_factory=list)  # (tab, line) outputs dropped

    def md_line(self, line: int) -> int:
        """The .md line of a line in a message about this page. MyST-NB numbers the lines of
        cell ``i`` from ``(i + 1) * 10000 + 1``, and reports a node one past its first line
        (base 1), so a node on line ``k`` (base 0) of cell ``i`` is reported as
        ``(i + 1) * 10000 + 2 + k``."""
        cell, offset = divmod(line, 10000)
        cell -= 1
        if 0 <= cell < len(self.lines) and self.lines[cell]:
            cell_lines = self.lines[cell]
            return cell_lines[min(max(offset - 2, 0), len(cell_lines) - 1)]
        return 0


@dataclass
class SiteSource:
    root: Path
    pages: dict[str, SitePage]
    written: list[Path]
    removed: list[Path]


def site_src_dir(book: Book) -> Path:
    return book.config.build_dir / "site_src"


def eval_dir(book: Book, tab: str) -> Path:
    return book.config.build_dir / "eval" / tab


def stored_notebook(book: Book, docname: str, tab: str) -> tuple[NotebookNode | None, str]:
    """The stored notebook of a section and tab, and where it came from: ``eval`` (executed),
    ``notebooks`` (not executed) or ``""`` (none yet)."""
    for where, folder in (("eval", eval_dir(book, tab)), ("notebooks", notebook_dir(book, tab))):
        path = folder / f"{docname}.ipynb"
        if path.is_file():
            try:
                return nbformat.read(path, as_version=4), where
            except (OSError, ValueError) as e:
                raise BuildError(f"{book.rel(path)}: cannot read this notebook: {e}") from None
    return None, ""


def tab_notebook(book: Book, docname: str, tab: str, translations: dict) -> tuple[NotebookNode, dict]:
    """The notebook of one tab as the site shows it (MyST prose, stored outputs), with
    ``metadata.d2l.lines`` on each cell; and facts about it (quick, executed, stale)."""
    doc = book.documents[docname]
    stored, where = stored_notebook(book, docname, tab)
    stored_cells = {c.get("id"): c for c in stored.cells} if stored is not None else {}
    stored_meta = stored.metadata.get("d2l", {}) if stored is not None and where == "eval" else {}
    facts = {"quick": bool(stored_meta.get("quick")),
             # outputs computed on generated fixture data instead of the real data sets
             "fixtures": str(stored_meta.get("data", "origin")).startswith("mirror"),
             "executed": where == "eval", "stale": []}
    cells = []
    for index, cell in enumerate(doc.cells):
        meta = {"index": index}
        if cell.kind == "markdown":
            if cell.tabs is not None and tab not in cell.tabs:
                continue
            if index not in translations:
                translations[index] = translate_cell(cell.text, footcite=not has_bibliography(book))
            text, origin = translations[index]
            if not text.strip():
                continue
            nb_cell = new_markdown_cell(text)
            meta["tabs"] = list(cell.tabs) if cell.tabs is not None else "all"
            meta["lines"] = [cell.line + o for o in origin]
        else:
            if tab not in cell.tabs:
                continue
            source = apply_reverse_alias(book, tab, cell.source)
            nb_cell = new_code_cell(source)
            old = stored_cells.get(f"cell-{index}")
            if old is not None and old.get("cell_type") == "code":
                if old.source == source:
                    nb_cell.outputs = old.get("outputs", [])
                    nb_cell.execution_count = old.get("execution_count")
                elif where == "eval":
                    facts["stale"].append(cell.line)
            meta["tabs"] = list(cell.tabs)
            meta["lines"] = [cell.code_line + k for k in range(max(1, source.count("\n") + 1))]
        nb_cell["id"] = f"cell-{index}"
        nb_cell.metadata["d2l"] = meta
        cells.append(nb_cell)
    nb = new_notebook(cells=cells)
    nb.metadata["d2l"] = {"quick": facts["quick"], "fixtures": facts["fixtures"]}
    return nb, facts


def site_notebook(book: Book, docname: str, root: Path,
                  tabs: list[str] | None = None) -> tuple[NotebookNode, SitePage]:
    """The merged notebook of one section, ready for MyST-NB: of all the book's tabs (the
    website), or of the given ones (the PDF of one framework: a single tab merges to its own
    notebook, with no tab sets)."""
    doc = book.documents[docname]
    tabs = list(tabs or book.config.tabs)
    translations: dict = {}
    per_tab, facts = {}, {}
    for tab in tabs:
        per_tab[tab], facts[tab] = tab_notebook(book, docname, tab, translations)
    merged = merge_notebooks(per_tab, tabs)
    lines: list[list[int]] = []
    for cell in merged.cells:
        d2l = cell.metadata["d2l"]
        cell_lines = d2l.pop("lines", [])
        if cell.cell_type == "markdown" and "tab" in d2l:
            fence = _fence_for(cell.source)
            cell.source = (f"{fence}{{d2l-tab}} {d2l['tab']}\n:group: {d2l['group']}\n\n"
                           f"{cell.source}\n{fence}")
            first = cell_lines[0] if cell_lines else 0
            cell_lines = [first, first, first] + cell_lines + [cell_lines[-1] if cell_lines else 0]
        lines.append(cell_lines)
    if not has_bibliography(book) and any(r.name in ("cite", "citep", "citet") for r in doc.roles):
        # no references page in the book: this page lists what it cites
        end = new_markdown_cell("```{footbibliography}\n```")
        end["id"] = "references"
        end.metadata["d2l"] = {"index": len(doc.cells), "tabs": "all"}
        merged.cells.append(end)
        lines.append([len(doc.lines)] * 2)
    quick = any(f["quick"] for f in facts.values())
    fixtures = any(f["fixtures"] for f in facts.values())
    merged.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        "d2l": {"source": doc.rel, "docname": docname, "title": doc.title,
                "number": book.section_number(docname), "tabs": tabs, "quick": quick,
                "fixtures": fixtures},
    }
    page = SitePage(docname, doc.rel, root / f"{docname}.ipynb", lines, quick,
                    [t for t, f in facts.items() if f["executed"]],
                    [(t, line) for t, f in facts.items() for line in f["stale"]])
    return merged, page


def has_bibliography(book: Book) -> bool:
    """Whether some section lists the references (``:bibliography:``)."""
    return any(r.name == "bibliography" for d in book.order for r in book.documents[d].roles)


def header_links(book: Book) -> list[tuple[str, str, str]]:
    """``[html] header_links`` as d2lbook writes it: ``text, url, icon`` triples."""
    raw = book.config.get("html", "header_links")
    items = [i.strip() for i in re.split(r",\s*", raw.replace("\n", " ")) if i.strip()]
    if len(items) % 3:
        raise BuildError("config.ini: [html] header_links: expected 'text, url, icon' triples "
                         f"separated by commas, got {len(items)} items")
    return [tuple(items[i:i + 3]) for i in range(0, len(items), 3)]


def header_links_html(links: list[tuple[str, str, str]]) -> str:
    items = []
    for text, url, icon in links:
        icon_html = f'<i class="{icon}" aria-hidden="true"></i> ' if icon else ""
        items.append(f'  <li><a href="{url}">{icon_html}{text}</a></li>')
    return '<ul class="d2l-frontpage-links">\n' + "\n".join(items) + "\n</ul>"


def write_site_source(book: Book) -> SiteSource:
    """Write (where changed) the whole Sphinx source tree of the website."""
    return write_sphinx_source(book, site_src_dir(book), book.config.tabs, conf_py)


def write_sphinx_source(book: Book, root: Path, tabs: list[str], make_conf) -> SiteSource:
    """Write (where changed) a Sphinx source tree of the book's sections, merged over
    ``tabs``, into ``root``: the notebooks, resources, raw files, static files, the
    bibliography and ``conf.py``, which ``make_conf(book, links, static, bibfile)`` returns
    (the website's ``conf_py``; the PDF's in ``pdf.py``)."""
    (root / "_static").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(path: Path, text: str) -> None:
        if write_if_changed(path, text):
            written.append(path)

    pages: dict[str, SitePage] = {}
    for docname in book.order:
        nb, page = site_notebook(book, docname, root, tabs)
        nbformat.validate(nb)
        put(page.path, nbformat.writes(nb) + "\n")
        pages[docname] = page
    removed = []
    keep = {p.path for p in pages.values()}
    for path in root.rglob("*.ipynb"):
        if path not in keep and not path.name.startswith("."):
            path.unlink()
            removed.append(path)

    _sync_assets(book, root)
    links = header_links(book)
    _copy_raw_files(book, root, links, put)
    static = _copy_static(book, root)
    bib = book.bibliography.path if book.bibliography else None
    if bib is not None and bib.is_file():
        target = root / bib.name
        before = _stat(target)
        _copy_file(bib, target)
        if _stat(target) != before:
            # sphinxcontrib-bibtex makes the entries of a references page when it reads the
            # page, and Sphinx re-reads only changed pages: read those pages again
            for page in pages.values():
                if any(r.name == "bibliography" for r in book.documents[page.docname].roles):
                    os.utime(page.path)
    put(root / "conf.py", make_conf(book, links, static, bib.name if bib else ""))
    return SiteSource(root, pages, written, removed)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _copy_raw_files(book: Book, root: Path, links, put) -> None:
    """Files that ``.. raw:: html`` blocks include (``:file: frontpage.html``): found beside
    the section, or else in ``static/`` (as d2lbook books keep them), and copied beside the
    section; the front page's ``<!-- d2l:header-links -->`` becomes the header links."""
    for docname in book.order:
        doc = book.documents[docname]
        if "eval_rst" not in doc.text:
            continue
        for match in RAW_FILE.finditer(doc.text):
            name = match.group(1)
            source = book.resolve_asset(docname, name)
            if source is None or not source.is_file():
                source = book.config.root / "static" / name
            if not source.is_file():
                continue  # Sphinx reports the missing file with its line
            target = root / Path(docname).parent / name
            text = source.read_text(encoding="utf-8")
            if FRONTPAGE_LINKS_MARK in text:
                text = text.replace(FRONTPAGE_LINKS_MARK, header_links_html(links))
            put(target, text)


def _copy_static(book: Book, root: Path) -> dict[str, list[str]]:
    """``[html] include_css``, ``include_js`` and ``favicon`` into ``_static``."""
    names: dict[str, list[str]] = {"css": [], "js": [], "favicon": []}
    for key, kind in (("include_css", "css"), ("include_js", "js"), ("favicon", "favicon")):
        for item in split_words(book.config.get("html", key)):
            source = book.config.root / item
            if not source.is_file():
                raise BuildError(f"config.ini: [html] {key}: no file {item}")
            _copy_file(source, root / "_static" / source.name)
            names[kind].append(source.name)
    return names


def common_sphinx_values(book: Book, extensions: list[str], bibfile: str) -> dict:
    """The settings the website and the PDFs share: the project, reading notebooks with
    MyST-NB (no execution), numbering, math and the bibliography. ``extensions``: the
    builder's own, added after the shared ones and before ``[build] sphinx_extensions``."""
    config = book.config
    extra_extensions = split_words(config.get("build", "sphinx_extensions"))
    return {
        "project": config.title or config.name,
        "author": config.author,
        "copyright": config.get("project", "copyright") or config.author,
        "release": config.release,
        "version": config.release,
        "language": config.get("project", "lang") or "en",
        "root_doc": config.index,
        "extensions": ["myst_nb", "sphinxcontrib.bibtex", *extensions,
                       "d2lbuild.sphinx_ext"] + [e for e in extra_extensions if e],
        "source_suffix": {".ipynb": "myst-nb"},
        "exclude_patterns": ["_static", "_templates", "**.ipynb_checkpoints"],
        "nb_execution_mode": "off",
        "nb_merge_streams": True,
        "nb_ipywidgets_js": {},
        "myst_enable_extensions": ["dollarmath", "amsmath", "colon_fence", "html_image"],
        "myst_dmath_double_inline": True,
        "myst_dmath_allow_digits": False,
        "myst_heading_anchors": 3,
        "numfig": True,
        "numfig_secnum_depth": 2,
        "numfig_format": {"figure": "Fig. %s", "table": "Table %s",
                          "code-block": "Listing %s", "section": "Section %s"},
        "math_numfig": True,
        "math_eqref_format": "({number})",
        "bibtex_bibfiles": [bibfile] if bibfile else [],
        "bibtex_reference_style": "d2l_author_year",
        "bibtex_default_style": "plain",
        "d2l_tabs": list(config.tabs),
        "d2l_project_name": config.name,
    }


def render_conf(book: Book, values: dict, stage: str) -> str:
    """``conf.py`` text: the values, then ``[build] sphinx_configs`` verbatim."""
    lines = [f"# The {stage}'s Sphinx configuration, generated by `d2lbuild` from config.ini.",
             "# Do not edit: every build rewrites it.", ""]
    for key, value in values.items():
        lines.append(f"{key} = {value!r}")
    extra = book.config.get("build", "sphinx_configs").strip()
    if extra:
        lines += ["", "# [build] sphinx_configs", extra]
    return "\n".join(lines) + "\n"


def conf_py(book: Book, links, static: dict[str, list[str]], bibfile: str) -> str:
    """The Sphinx configuration of the site, generated from config.ini."""
    config = book.config
    theme_options = {
        "logo": {"text": config.title or config.name},
        "navbar_start": ["navbar-logo"],
        "navbar_center": ["d2l-header-links"],
        "navbar_end": ["theme-switcher"],
        "navbar_persistent": ["search-button"],
        "navbar_align": "left",
        "article_header_start": ["breadcrumbs"],
        "article_header_end": ["d2l-page-actions"],
        "secondary_sidebar_items": ["page-toc"],
        "show_toc_level": 2,
        "show_prev_next": True,
        "footer_start": ["copyright"],
        "footer_center": [],
        "footer_end": [],
        "search_bar_text": "Search the book...",
        "back_to_top_button": True,
    }
    values = common_sphinx_values(book, ["sphinx_copybutton"], bibfile)
    values.update({
        "mathjax_path": "mathjax/tex-chtml.js",
        "mathjax3_config": {"tex": {"inlineMath": [["\\(", "\\)"]],
                                    "displayMath": [["\\[", "\\]"]]}},
        "html_theme": "pydata_sphinx_theme",
        "html_theme_options": theme_options,
        "html_title": config.title or config.name,
        "html_sidebars": {"**": ["d2l-sidebar-toc"]},
        "html_static_path": ["_static"],
        "html_css_files": static["css"],
        "html_js_files": static["js"],
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_context": {"default_mode": "auto"},
        "copybutton_selector": 'div[class*="highlight-"]:not(.output) > div.highlight > pre',
        "copybutton_exclude": ".linenos, .gp, .go",
        "copybutton_prompt_text": r">>> |\.\.\. |\$ |In \[\d*\]: ",
        "copybutton_prompt_is_regexp": True,
        "d2l_header_links": [list(link) for link in links],
        "d2l_colab_url": config.get("colab", "url_pattern"),
        "d2l_discussion_url": config.get("html", "discussion_url"),
        "d2l_notebook_dir": "notebooks",
        "d2l_nb_output_folder": "../site_cache/jupyter_execute",
    })
    if static["favicon"]:
        values["html_favicon"] = f"_static/{static['favicon'][0]}"
    return render_conf(book, values, "website")

