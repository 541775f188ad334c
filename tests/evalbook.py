"""Small books for the ``eval`` tests: written from strings into a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat

from d2lbuild.cli import main

CONFIG = """\
[project]
name = t
release = 0.1.0

[build]
tabs = {tabs}

[execute]
cell_timeout = {cell_timeout}
notebook_timeout = {notebook_timeout}

[library]
version_file = d2l/__init__.py
{libraries}
"""

LIBRARY_FILES = {"mxnet": "d2l/mxnet.py", "pytorch": "d2l/torch.py"}


def cell(code: str, tab: str | None = None) -> str:
    """One ``{.python .input}`` cell (for ``tab``, if given, else the default tab)."""
    head = f"#@tab {tab}\n" if tab else ""
    return "```{.python .input}\n" + head + textwrap.dedent(code).strip("\n") + "\n```\n"


def section(title: str, *cells: str, front: str = "", prose: str = "Some text.") -> str:
    text = f"---\n{textwrap.dedent(front).strip()}\n---\n" if front else ""
    text += f"# {title}\n\n{prose}\n\n"
    return text + "\n".join(c + "\n" for c in cells)


def make_book(root: Path, sections: dict[str, str], tabs: str = "mxnet, pytorch",
              cell_timeout: float = 60, notebook_timeout: float = 300) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    libraries = "".join(f"\n[library-{t.strip()}]\nlib_file = {LIBRARY_FILES[t.strip()]}\n"
                        for t in tabs.split(",") if t.strip() in LIBRARY_FILES)
    (root / "config.ini").write_text(CONFIG.format(
        tabs=tabs, cell_timeout=cell_timeout, notebook_timeout=notebook_timeout,
        libraries=libraries))
    toc = "\n".join(sections)
    (root / "index.md").write_text(f"# A test book\n\n```toc\n:maxdepth: 1\n\n{toc}\n```\n")
    for name, text in sections.items():
        write_section(root, name, text)
    return root


def write_section(root: Path, name: str, text: str) -> None:
    path = root / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def summary(root: Path) -> dict:
    return json.loads((root / "_build" / "eval" / "summary.json").read_text())


def statuses(root: Path) -> dict[tuple[str, str], str]:
    """(docname, tab) -> ran/cached/failed/empty, from the last summary."""
    return {(r["docname"], r["tab"]): r["status"] for r in summary(root)["notebooks"]}


def ran(root: Path) -> set[tuple[str, str]]:
    return {k for k, v in statuses(root).items() if v == "ran"}


def run_eval(root: Path, *args: str) -> int:
    """``d2lbuild eval`` in this process."""
    return main(["--root", str(root), "eval", *args])


def eval_command(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "d2lbuild", "--root", str(root), "eval", *args]


def spawn_eval(root: Path, *args: str, **kwargs) -> subprocess.Popen:
    """``d2lbuild eval`` in a child process (its output in ``root/eval-<pid>.log``)."""
    env = dict(os.environ, **kwargs.pop("env", {}))
    log = open(root / f"eval-{os.urandom(4).hex()}.log", "w")
    return subprocess.Popen(eval_command(root, *args), stdout=log, stderr=subprocess.STDOUT,
                            env=env, **kwargs)


def executed(root: Path, tab: str, docname: str):
    """An executed notebook (multi-line strings joined, as nbformat reads them)."""
    return nbformat.read(root / "_build" / "eval" / tab / f"{docname}.ipynb", as_version=4)


def outputs_text(nb: dict) -> str:
    """Everything the code cells printed or returned, as text."""
    parts = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            if o["output_type"] == "stream":
                parts.append(o["text"])
            elif "data" in o:
                parts.append(o["data"].get("text/plain", ""))
    return "".join(parts)
