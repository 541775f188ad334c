"""The LaTeX side of the book's Sphinx extension, for the PDF of one framework.

``d2lbuild pdf`` lists it in the generated ``conf.py`` next to ``d2lbuild.sphinx_ext``. On
the document that Sphinx's LaTeX builder assembles from the whole book it

* marks the book's parts: before the first document of the front matter (the unnumbered
  chapters listed before the numbered ones: preface, installation, notation), the main
  matter and the back matter it puts ``\\dtwolfrontmatter``, ``\\dtwolmainmatter`` and
  ``\\dtwolbackmatter`` (defined in the preamble ``pdf.py`` writes: no numbers in the
  front and back matter, roman page numbers before the first chapter);
* turns a back-matter page that only lists the references (``:bibliography:``) into the
  bibliography itself, under that page's title: Sphinx moves every citation to the end of
  the book, which would otherwise leave an empty chapter in front of a "Bibliography";
* writes a comment ``% d2l-src: <notebook>:<line>`` before every block of every section,
  so that a LaTeX error found at a line of the ``.tex`` file can be traced back to the
  ``.md`` file and line it comes from (``pdf.py`` reads the nearest comment above).

It also converts SVG images (figures, and outputs such as matplotlib's plots) to PDF with
``rsvg-convert``, through sphinxcontrib-svg2pdfconverter's converter, but only when the
SVG changed since its last conversion: Sphinx would convert every image on every run.

Configuration (written by ``d2lbuild pdf``): ``d2l_latex_matter``, a mapping from the
top-level documents to ``front``, ``main``, ``back`` or ``plain`` (a book without numbered
chapters); ``rsvg_converter_bin``, ``rsvg_converter_args`` as in sphinxcontrib-svg2pdfconverter.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

SOURCE_MARK = "% d2l-src: "
MATTER_MACROS = {"front": r"\dtwolfrontmatter", "main": r"\dtwolmainmatter",
                 "back": r"\dtwolbackmatter", "plain": r"\dtwolplainmatter"}
# nodes that carry no text of their own: a page made of these and its title is empty
EMPTY_KINDS = (nodes.title, nodes.target, nodes.comment, nodes.substitution_definition)


def _latex(text: str) -> nodes.raw:
    node = nodes.raw("", text, format="latex")
    node["d2l"] = True  # ours: no source mark for it
    return node


class BookMatter(SphinxPostTransform):
    """Front, main and back matter; the references page as the bibliography."""

    default_priority = 800  # after Sphinx gathers the citations (BibliographyTransform, 750)
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        matter = dict(self.config.d2l_latex_matter or {})
        current = None
        for start in list(self.document.findall(addnodes.start_of_file)):
            part = matter.get(start.get("docname"))
            if part is None or part not in MATTER_MACROS:
                continue
            if part != current:
                start.parent.insert(start.parent.index(start), _latex(MATTER_MACROS[part]))
                current = part
            if part == "back":
                self._references_page(start)

    def _references_page(self, start) -> None:
        bibliography = next((n for n in self.document.children
                             if n.__class__.__name__ == "thebibliography"), None)
        if bibliography is None:
            return
        sections = [c for c in start.children if isinstance(c, nodes.section)]
        if len(sections) != 1 or any(not isinstance(c, EMPTY_KINDS) and c.astext().strip()
                                     for c in sections[0].children):
            return
        title = next((c for c in sections[0].children if isinstance(c, nodes.title)), None)
        parent = bibliography.parent
        if title is not None:
            name = self._encode(title.astext())
            parent.insert(parent.index(bibliography), _latex(rf"\renewcommand{{\bibname}}{{{name}}}"))
        start.parent.remove(start)

    @staticmethod
    def _encode(text: str) -> str:
        special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$",
                   "%": r"\%", "&": r"\&", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
        return "".join(special.get(ch, ch) for ch in text)


class SourceMarkers(SphinxPostTransform):
    """``% d2l-src: <notebook>:<line>`` before each block of each section."""

    default_priority = 810
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        srcdir = Path(self.app.srcdir).resolve()
        for section in list(self.document.findall(nodes.section)):
            previous = None
            for child in list(section.children):
                after_target, previous = isinstance(previous, nodes.target), child
                if isinstance(child, (nodes.title, nodes.section)) or child.get("d2l") or any(
                        isinstance(n, (nodes.section, addnodes.start_of_file))
                        for n in child.findall(nodes.Element)):
                    continue  # a chapter's toctree, which holds whole documents
                if after_target:
                    continue  # Sphinx lets a figure or table carry the label of a target
                    # right before it; the mark goes before the target instead
                where = self._where(child, srcdir)
                if where:
                    section.insert(section.index(child), _latex(SOURCE_MARK + where))

    @staticmethod
    def _where(node, srcdir: Path) -> str:
        for inner in node.findall(nodes.Element):
            if inner.source and inner.line:
                try:
                    source = Path(inner.source).resolve().relative_to(srcdir).as_posix()
                except ValueError:
                    source = str(inner.source)
                return f"{source}:{inner.line}"
        return ""


try:
    from sphinxcontrib.rsvgconverter.rsvgconverter import RSVGConverter
except ImportError:  # pragma: no cover - the PDF stage checks its requirements
    RSVGConverter = None

if RSVGConverter is not None:
    class CachedRSVGConverter(RSVGConverter):
        """rsvg-convert, skipped when the converted file is there and was made from an SVG
        with the same content (its SHA-256 is kept next to it)."""

        def convert(self, _from, _to) -> bool:
            source, target = Path(_from), Path(_to)
            stamp = target.with_name(target.name + ".sha256")
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
            try:
                if target.stat().st_size and stamp.read_text() == digest:
                    return True
            except OSError:
                pass
            done = super().convert(_from, _to)
            if done:
                stamp.write_text(digest)
            return done


def setup(app):
    app.add_config_value("d2l_latex_matter", {}, "")  # used when writing only
    app.add_post_transform(BookMatter)
    app.add_post_transform(SourceMarkers)
    if RSVGConverter is not None:
        app.add_config_value("rsvg_converter_bin", "rsvg-convert", "env")
        app.add_config_value("rsvg_converter_args", [], "env")
        app.add_config_value("rsvg_converter_format", "pdf", "env")
        app.add_post_transform(CachedRSVGConverter)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
