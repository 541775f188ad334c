"""The book's Sphinx extension: framework tab sets, the quick-build banner, page actions.

The merge stage marks every cell that belongs to one tab: code cells in their notebook
metadata (``d2l.tab``, ``d2l.group``), prose in a ``{d2l-tab}`` directive. MyST-NB renders
each cell on its own (it drops code cells nested in directives, so the grouping cannot be
written in the source); the ``GroupTabs`` transform then gathers each run of neighbouring
cells of one group into a tab set, one panel per tab of the book. ``static/d2l-tabs.js``
makes the tab buttons switch every tab set on the page at once and remembers the choice.

Configuration (written by ``d2lbuild html`` into the generated ``conf.py``):

``d2l_tabs``             the book's tabs, the default first
``d2l_header_links``     ``[(text, url, icon), ...]`` shown in the header (``[html] header_links``)
``d2l_colab_url``        URL pattern of "Open in Colab" (``{tab}``, ``{docname}``, ``{name}``)
``d2l_discussion_url``   URL pattern of the discussion link (``{docname}``, ``{title}``)
``d2l_notebook_dir``     site folder holding ``<tab>/<docname>.ipynb`` for download
``d2l_project_name``     used in file names and URL patterns
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.transforms import SphinxTransform
from sphinx.util.docutils import SphinxDirective

HERE = Path(__file__).parent
TAB_BUTTON_TEXT = "{tab}"


class d2l_tabset(nodes.General, nodes.Element):
    """Panels of one tab group; attribute ``tabs``: the book's tabs in order."""


class d2l_tabpanel(nodes.General, nodes.Element):
    """The cells of one tab in a tab set; attributes ``tab``, ``default``."""


class d2l_tab_cell(nodes.General, nodes.Element):
    """Prose (a ``:begin_tab:`` block) for one tab; attributes ``tab``, ``group``."""


class d2l_banner(nodes.General, nodes.Element):
    """The notice on pages whose outputs come from a quick build."""


class TabCellDirective(SphinxDirective):
    """``{d2l-tab} pytorch`` with ``:group: N``: prose shown in one tab's panel."""

    required_arguments = 1
    has_content = True
    option_spec = {"group": directives.nonnegative_int}

    def run(self):
        node = d2l_tab_cell(tab=self.arguments[0], group=self.options.get("group", 0))
        self.set_source_info(node)
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


def _membership(node) -> tuple[int, str] | None:
    """(group, tab) of a cell that belongs to one tab, else None."""
    if isinstance(node, d2l_tab_cell):
        return node["group"], node["tab"]
    if isinstance(node, nodes.container) and node.get("nb_element") == "cell_code":
        meta = (node.get("cell_metadata") or {}).get("d2l") or {}
        if "group" in meta and "tab" in meta:
            return int(meta["group"]), str(meta["tab"])
    return None


class GroupTabs(SphinxTransform):
    """Replace each run of neighbouring cells of one tab group with a tab set."""

    default_priority = 500

    def apply(self, **kwargs) -> None:
        tabs = list(self.config.d2l_tabs)
        parents = {}
        for node in self.document.findall(nodes.Element):
            if _membership(node) is not None and node.parent is not None:
                parents[id(node.parent)] = node.parent
        for parent in parents.values():
            self._group_children(parent, tabs)
        flags = self._page_flags()
        if any(flags.values()):
            self._add_banner(**flags)

    def _group_children(self, parent, tabs: list[str]) -> None:
        children, grouped = list(parent.children), []
        i = 0
        while i < len(children):
            member = _membership(children[i])
            if member is None:
                grouped.append(children[i])
                i += 1
                continue
            run = []
            while i < len(children) and (m := _membership(children[i])) and m[0] == member[0]:
                run.append((m[1], children[i]))
                i += 1
            grouped.append(self._tabset(run, tabs))
        parent.children = []
        parent.extend(grouped)

    def _tabset(self, run, tabs: list[str]):
        names = tabs + [t for t, _ in run if t not in tabs]
        tabset = d2l_tabset(tabs=names)
        tabset.source, tabset.line = run[0][1].source, run[0][1].line
        for tab in names:
            panel = d2l_tabpanel(tab=tab, default=tab == names[0])
            cells = [node for t, node in run if t == tab]
            for cell in cells:
                panel.append(cell)
            if not cells:
                panel.append(nodes.paragraph(
                    "", f"This part has no {tab} code.", classes=["d2l-tab-empty"]))
            tabset.append(panel)
        return tabset

    def _page_flags(self) -> dict:
        """Whether the page's outputs come from a quick build and/or from fixture data."""
        path = Path(self.env.doc2path(self.env.docname))
        flags = {"quick": False, "fixtures": False}
        if path.suffix != ".ipynb":
            return flags
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError):
            return flags
        d2l = meta.get("d2l", {})
        return {key: bool(d2l.get(key)) for key in flags}

    def _add_banner(self, quick: bool, fixtures: bool) -> None:
        section = next(iter(self.document.findall(nodes.section)), None)
        banner = d2l_banner(quick=quick, fixtures=fixtures)
        if section is None:
            self.document.insert(0, banner)
            return
        title = next((i for i, c in enumerate(section.children) if isinstance(c, nodes.title)), -1)
        section.insert(title + 1, banner)


# -- HTML -------------------------------------------------------------------------------

def _esc(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def visit_tabset_html(self, node):
    self.body.append(self.starttag(node, "div", CLASS="d2l-tabset"))
    self.body.append('<div class="d2l-tabbar" role="tablist" aria-label="Framework">')
    for index, tab in enumerate(node["tabs"]):
        selected = "true" if index == 0 else "false"
        self.body.append(
            f'<button type="button" class="d2l-tab-button" role="tab" data-tab="{_esc(tab)}" '
            f'aria-selected="{selected}">{_esc(TAB_BUTTON_TEXT.format(tab=tab))}</button>')
    self.body.append("</div>\n")


def depart_div_html(self, node):
    self.body.append("</div>\n")


def visit_tabpanel_html(self, node):
    classes = "d2l-tabpanel d2l-tab-only" + (" d2l-default" if node["default"] else "")
    self.body.append(self.starttag(node, "div", CLASS=classes, role="tabpanel",
                                   **{"data-tab": node["tab"], "aria-label": node["tab"]}))


def visit_tab_cell_html(self, node):
    self.body.append(self.starttag(node, "div", CLASS="d2l-tab-cell"))


BANNER_TEXT = {
    "quick": ("Quick build.", "The outputs on this page come from a quick build, which shortens "
              "long runs to check that the code works; numbers and plots differ from those of a "
              "full build."),
    "fixtures": ("Fixture data.", "The outputs on this page were computed on small generated "
                 "stand-ins for the data sets (the build could not reach the real ones), so "
                 "images, numbers and accuracies differ from what the real data gives."),
}


def visit_banner_html(self, node):
    for key, (title, text) in BANNER_TEXT.items():
        if node.get(key, key == "quick"):
            css = "d2l-quick-banner" if key == "quick" else "d2l-quick-banner d2l-fixture-banner"
            self.body.append(f'<div class="{css}" role="note"><p><strong>{title}</strong> '
                             f"{text}</p></div>\n")
    raise nodes.SkipNode


def _visit_children(self, node):
    pass


def _depart_nothing(self, node):
    pass


def _skip(self, node):
    raise nodes.SkipNode


# -- page context ---------------------------------------------------------------------

def _format(pattern: str, **values) -> str:
    try:
        return pattern.format(**values)
    except (KeyError, IndexError, ValueError):
        return pattern


def page_context(app, pagename, templatename, context, doctree):
    config = app.config
    tabs = list(config.d2l_tabs)
    context["d2l_tabs"] = tabs
    links = []
    for text, url, icon in config.d2l_header_links:
        external = "://" in url or url.startswith(("mailto:", "#"))
        links.append({"text": text, "icon": icon, "external": external,
                      "href": url if external else context["pathto"](url, 1)})
    context["d2l_header_links"] = links
    context["d2l_page"] = None
    if not context.get("favicon_url"):
        # no favicon configured: say so, or browsers ask for /favicon.ico and log a 404
        context["metatags"] = context.get("metatags", "") + '\n<link rel="icon" href="data:,">'

    try:
        path = Path(app.env.doc2path(pagename))
    except Exception:
        return
    if doctree is None or path.suffix != ".ipynb" or pagename == config.root_doc:
        return
    title = context.get("title", "")
    has_code = any(node.get("nb_element") == "cell_code" for node in doctree.findall(nodes.container))
    page = {"tabs": []}
    for tab in tabs if has_code else []:
        notebook = f"{config.d2l_notebook_dir}/{tab}/{pagename}.ipynb"
        entry = {"tab": tab, "notebook": context["pathto"](notebook, 1), "colab": ""}
        if config.d2l_colab_url:
            entry["colab"] = _format(config.d2l_colab_url, tab=tab, docname=pagename,
                                     name=config.d2l_project_name)
        page["tabs"].append(entry)
    page["discussion"] = _format(config.d2l_discussion_url, docname=pagename,
                                 title=quote(_plain(title))) if config.d2l_discussion_url else ""
    context["d2l_page"] = page


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html or "").strip()


def configure(app, config):
    """Serve our templates and static files, and add the tab script with the book's tabs."""
    config.templates_path.append(str(HERE / "templates"))
    config.html_static_path.append(str(HERE / "static"))


def builder_inited(app):
    if app.config.d2l_nb_output_folder and hasattr(app.env, "mystnb_config"):
        app.env.mystnb_config = app.env.mystnb_config.copy(
            output_folder=str((Path(app.confdir) / app.config.d2l_nb_output_folder).resolve()))
    if app.builder.format != "html":
        return
    tabs = json.dumps(list(app.config.d2l_tabs))
    app.add_js_file(None, body=f"window.D2L_TABS = {tabs};", priority=200)
    app.add_js_file("d2l-tabs.js", priority=201)
    app.add_css_file("d2l-tabs.css", priority=600)


def register_citation_style() -> None:
    """``d2l_author_year``: author-year citations in round brackets, "(Harris et al., 2020)"
    and "Harris et al. (2020)", as the book's notebooks write them."""
    try:
        from dataclasses import dataclass, field

        from sphinxcontrib.bibtex.plugin import register_plugin
        from sphinxcontrib.bibtex.style.referencing import BracketStyle
        from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
    except ImportError:
        return

    def round_brackets():
        return BracketStyle(left="(", right=")", sep="; ")

    @dataclass
    class RoundAuthorYear(AuthorYearReferenceStyle):
        bracket_parenthetical: BracketStyle = field(default_factory=round_brackets)
        bracket_textual: BracketStyle = field(default_factory=round_brackets)

    register_plugin("sphinxcontrib.bibtex.style.referencing", "d2l_author_year",
                    RoundAuthorYear, force=True)


def setup(app):
    register_citation_style()
    app.add_config_value("d2l_tabs", [], "env")
    app.add_config_value("d2l_header_links", [], "html")
    app.add_config_value("d2l_colab_url", "", "html")
    app.add_config_value("d2l_discussion_url", "", "html")
    app.add_config_value("d2l_notebook_dir", "notebooks", "html")
    app.add_config_value("d2l_project_name", "book", "html")
    app.add_config_value("d2l_nb_output_folder", "", "")
    passthrough = (_visit_children, _depart_nothing)
    others = {"latex": passthrough, "text": passthrough, "man": passthrough,
              "texinfo": passthrough}
    app.add_node(d2l_tabset, html=(visit_tabset_html, depart_div_html), **others)
    app.add_node(d2l_tabpanel, html=(visit_tabpanel_html, depart_div_html), **others)
    app.add_node(d2l_tab_cell, html=(visit_tab_cell_html, depart_div_html), **others)
    app.add_node(d2l_banner, html=(visit_banner_html, None),
                 **{k: (_skip, None) for k in others})
    app.add_directive("d2l-tab", TabCellDirective)
    app.add_transform(GroupTabs)
    app.connect("config-inited", configure)
    app.connect("builder-inited", builder_inited, priority=600)
    app.connect("html-page-context", page_context)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
