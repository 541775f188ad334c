"""The book's configuration: ``config.ini`` read once, validated, and handed down as one object.

The keys are those of d2lbook, so a book written for it builds unchanged, plus a few of ours
(``[execute]``). Unknown keys are warned about with their line; malformed values are errors
that name the key.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import BuildError, Diagnostic

CONFIG_NAME = "config.ini"

# Every key we know, with its default. Sections named ``library-<tab>`` share one schema.
SCHEMA: dict[str, dict[str, str]] = {
    "project": {"name": "book", "title": "", "author": "", "copyright": "", "release": "0.0.1",
                "lang": "en"},
    "translation": {"origin_repo": "", "origin_lang": "", "translator": "", "terminology": ""},
    "build": {"index": "index", "source_dir": ".", "output_dir": "_build",
              "notebooks": "**/*.md", "rsts": "", "non-notebooks": "", "exclusions": "",
              "dependencies": "", "resources": "", "eval_notebook": "True", "tabs": "",
              "warning_is_error": "False", "sphinx_extensions": "", "sphinx_configs": "",
              "origin_repo": ""},
    "execute": {"cell_timeout": "600", "notebook_timeout": "3600", "data_dir": ""},
    "library": {"version_file": "", "release": "", "save_filename": "", "save_mark": "",
                "save_patterns": "", "version": "", "root_dir": ""},
    "library-*": {"lib_file": "", "lib_name": "", "simple_alias": "", "fluent_alias": "",
                  "alias": "", "reverse_alias": ""},
    "html": {"header_links": "", "favicon": "", "html_logo": "", "include_css": "",
             "include_js": "", "discussion_url": ""},
    "pdf": {"main_font": "", "sans_font": "", "mono_font": "", "cjk_font": "", "post_latex": "",
            "latex_logo": "", "bibfile": ""},
    "deploy": {"google_analytics_tracking_id": "", "github_repo": "", "s3_bucket": "",
               "other_file_s3urls": "", "base_url": ""},
    "colab": {"github_repo": "", "exclusions": "", "libs": "", "libs_header": "",
              "gpu_pattern": "gpu", "replace_svg_url": "", "url_pattern": "", "reverse_alias": ""},
    "sagemaker": {"github_repo": "", "kernel": "", "libs": "", "libs_header": ""},
}

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def split_words(value: str) -> list[str]:
    """Split a list value written with commas and/or whitespace (``a, b`` or ``a b``)."""
    return [w for w in re.split(r"[,\s]+", value.strip()) if w]


def split_lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


@dataclass(frozen=True)
class LibraryConfig:
    """Where one tab's library goes and which aliases it defines (``[library-<tab>]``)."""

    tab: str
    lib_file: str
    lib_name: str
    simple_alias: tuple[tuple[str, str], ...] = ()
    fluent_alias: tuple[tuple[str, str], ...] = ()
    alias: tuple[str, ...] = ()
    reverse_alias: tuple[tuple[str, str], ...] = ()


@dataclass
class BookConfig:
    root: Path
    path: Path
    name: str
    title: str
    author: str
    release: str
    source_dir: Path
    output_dir: Path
    index: str
    notebooks: list[str]
    exclusions: list[str]
    non_notebooks: list[str]
    resources: list[str]
    tabs: list[str]
    eval_notebook: bool
    cell_timeout: float
    notebook_timeout: float
    version_file: str
    libraries: dict[str, LibraryConfig]
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def default_tab(self) -> str:
        return self.tabs[0]

    def get(self, section: str, key: str) -> str:
        """A raw value, falling back to the schema's default."""
        if section in self.sections and key in self.sections[section]:
            return self.sections[section][key]
        schema = SCHEMA.get(section) or SCHEMA.get(section.split("-")[0] + "-*", {})
        return schema.get(key, "")

    @property
    def build_dir(self) -> Path:
        return self.root / self.output_dir

    def rel(self, path: Path) -> str:
        """A path as shown in messages: relative to the project root where possible."""
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)


def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """Map (section, key) to the 1-based line where it is set, for messages."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), 1):
        head = re.match(r"\s*\[([^\]]+)\]", line)
        if head:
            section = head.group(1).strip()
            lines.setdefault((section, ""), number)
            continue
        key = re.match(r"([^\s=:#;][^=:]*?)\s*[=:]", line)
        if key and not line[:1].isspace():
            lines[(section, key.group(1).strip().lower())] = number
    return lines


def _parse_pairs(value: str, one_per_line: bool) -> list[tuple[str, str]]:
    """Parse ``a -> b`` items (comma-separated, or one per line for regular expressions,
    which may hold commas). A bare ``a`` means ``a -> a`` unless items are one per line."""
    items = split_lines(value) if one_per_line else [
        i.strip() for i in re.split(r"[,\n]", value) if i.strip()]
    pairs = []
    for item in items:
        left, arrow, right = (part.strip() for part in item.partition("->"))
        if not arrow and not one_per_line:
            right = left
        if not left or not right:
            expected = "'pattern -> replacement'" if one_per_line else "'name' or 'name -> target'"
            raise ValueError(f"cannot read {item!r} (expected {expected})")
        pairs.append((left, right))
    return pairs


def load_config(root: Path | str = ".", path: Path | str | None = None) -> BookConfig:
    """Read and validate ``config.ini`` in ``root`` (or at ``path``)."""
    root = Path(root).resolve()
    path = Path(path).resolve() if path else root / CONFIG_NAME
    if path.exists():
        root = path.parent
    rel = path.name if path.parent == root else str(path)
    if not path.exists():
        raise BuildError(f"{path}: no {CONFIG_NAME} here; run the command in the book's folder "
                         "or pass --root")
    text = path.read_text(encoding="utf-8")
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        parser.read_string(text, source=rel)
    except configparser.DuplicateOptionError as e:
        raise BuildError(f"{rel}:{e.lineno}: key '{e.option}' is set twice in [{e.section}]") from None
    except configparser.DuplicateSectionError as e:
        raise BuildError(f"{rel}:{e.lineno}: section [{e.section}] appears twice") from None
    except configparser.MissingSectionHeaderError as e:
        raise BuildError(f"{rel}:{e.lineno}: a key comes before any [section] header: {e.line.strip()!r}") from None
    except configparser.ParsingError as e:
        lineno, line = e.errors[0]
        raise BuildError(f"{rel}:{lineno}: cannot read this line of the configuration: {line.strip()!r}") from None
    except configparser.Error as e:
        raise BuildError(f"{rel}: cannot read the configuration: {e}") from None

    where = _key_lines(text)
    warnings: list[Diagnostic] = []
    sections: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        schema = SCHEMA.get(section)
        if schema is None and section.startswith("library-"):
            schema = SCHEMA["library-*"]
        if schema is None:
            warnings.append(Diagnostic(rel, where.get((section, ""), 0),
                                       f"unknown section [{section}] is ignored", severity="warning"))
            sections[section] = dict(parser[section])
            continue
        for key in parser[section]:
            if key not in schema:
                warnings.append(Diagnostic(
                    rel, where.get((section, key), 0),
                    f"unknown key '{key}' in [{section}] is ignored",
                    hint="known keys: " + ", ".join(sorted(schema)), severity="warning"))
        sections[section] = dict(parser[section])

    def get(section: str, key: str) -> str:
        if section in sections and key in sections[section]:
            return sections[section][key].strip()
        return SCHEMA.get(section, {}).get(key, "")

    def fail(section: str, key: str, message: str):
        line = where.get((section, key), 0)
        loc = f"{rel}:{line}" if line else rel
        raise BuildError(f"{loc}: [{section}] {key}: {message}")

    def get_bool(section: str, key: str) -> bool:
        value = get(section, key).lower()
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        fail(section, key, f"expected True or False, got {get(section, key)!r}")

    def get_seconds(section: str, key: str) -> float:
        value = get(section, key)
        try:
            seconds = float(value)
        except ValueError:
            fail(section, key, f"expected a number of seconds, got {value!r}")
        if seconds <= 0:
            fail(section, key, f"must be positive, got {value!r}")
        return seconds

    tabs = split_words(get("build", "tabs"))
    if not tabs:
        tabs = ["default"]
    for tab in tabs:
        if not re.fullmatch(r"[A-Za-z][\w-]*", tab):
            fail("build", "tabs", f"tab name {tab!r} must be a word (letters, digits, '_' or '-')")
    if len(set(tabs)) != len(tabs):
        fail("build", "tabs", "a tab is listed twice")
    if "all" in tabs:
        fail("build", "tabs", "'all' is reserved (it means every tab in '#@tab all')")

    libraries: dict[str, LibraryConfig] = {}
    for section in sections:
        if not section.startswith("library-"):
            continue
        tab = section[len("library-"):]
        if tab not in tabs:
            fail(section, "", f"there is no tab '{tab}' in [build] tabs = {', '.join(tabs)}")
        lib_file = get(section, "lib_file")
        lib_name = get(section, "lib_name")
        if not lib_file:
            fail(section, "lib_file", "missing: the file the tab's library is written to")
        pairs = {}
        for key in ("simple_alias", "fluent_alias", "reverse_alias"):
            try:
                pairs[key] = _parse_pairs(get(section, key), one_per_line=key == "reverse_alias")
            except ValueError as e:
                fail(section, key, str(e))
        simple, fluent, reverse = pairs["simple_alias"], pairs["fluent_alias"], pairs["reverse_alias"]
        for pattern, _ in reverse:
            try:
                re.compile(pattern)
            except re.error as e:
                fail(section, "reverse_alias", f"bad regular expression {pattern!r}: {e}")
        alias_lines = split_lines(get(section, "alias"))
        for line in alias_lines:
            if not re.match(r"[A-Za-z_]\w*\s*=", line):
                fail(section, "alias", f"expected 'name = expression', got {line!r}")
        if (simple or fluent) and not lib_name:
            fail(section, "lib_name", "needed by simple_alias/fluent_alias (e.g. 'torch' or 'np')")
        libraries[tab] = LibraryConfig(tab, lib_file, lib_name, tuple(simple), tuple(fluent),
                                       tuple(alias_lines), tuple(reverse))
    # Books from before tabs existed name one library file in [library].
    if not libraries and get("library", "save_filename"):
        libraries[tabs[0]] = LibraryConfig(tabs[0], get("library", "save_filename"), "")

    source_dir = Path(get("build", "source_dir") or ".")
    if not (root / source_dir).is_dir():
        fail("build", "source_dir", f"folder '{source_dir}' does not exist")
    release = get("project", "release") or get("library", "release") or get("library", "version")
    if not re.fullmatch(r"\d+(\.\d+)*([.-]?(a|b|rc|dev|post)\d*)?", release or ""):
        fail("project", "release", f"expected a version such as 1.0.0, got {release!r}")
    name = get("project", "name")
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        fail("project", "name", f"must be usable as a file name, got {name!r}")

    return BookConfig(
        root=root,
        path=path,
        name=name,
        title=get("project", "title"),
        author=get("project", "author"),
        release=release,
        source_dir=source_dir,
        output_dir=Path(get("build", "output_dir") or "_build"),
        index=get("build", "index") or "index",
        notebooks=split_words(get("build", "notebooks")),
        exclusions=split_words(get("build", "exclusions")),
        non_notebooks=split_words(get("build", "non-notebooks")),
        resources=split_words(get("build", "resources")),
        tabs=tabs,
        eval_notebook=get_bool("build", "eval_notebook"),
        cell_timeout=get_seconds("execute", "cell_timeout"),
        notebook_timeout=get_seconds("execute", "notebook_timeout"),
        version_file=get("library", "version_file"),
        libraries=libraries,
        sections=sections,
        warnings=warnings,
    )
