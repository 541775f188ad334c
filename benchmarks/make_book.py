"""Generate a book of small two-framework sections for the execution benchmarks.

Each section has prose, one MXNet cell and one PyTorch cell doing a little tensor work (so
kernel start-up and framework import dominate, as in most real sections). Section 1 saves a
function per framework; sections USERS call the MXNet one through ``d2l``, which lets the
benchmark measure what editing a library function re-executes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

USERS = (10, 20, 30)

CONFIG = """\
[project]
name = bench
title = Benchmark Book
release = 0.0.1

[build]
tabs = mxnet, pytorch

[library-mxnet]
lib_file = d2l/mxnet.py
lib_name = np

[library-pytorch]
lib_file = d2l/torch.py
lib_name = torch
"""


def _cell(tab_line: str, imports: list[str], k: int, uses: bool, saves: bool) -> list[str]:
    lines = ["```{.python .input}"] + ([tab_line] if tab_line else []) + imports
    lines.append("x = " + ("np" if not tab_line else "torch") + ".arange(12).reshape(3, 4)")
    if saves:
        lines += ["def scale(x, a):  #@save", '    """Multiply by a."""', "    return x * a"]
    if uses:
        lines.append("print(d2l.scale(x, 2).sum())")
    lines += [f"(x * {k}).sum()", "```", ""]
    return lines


def section(k: int) -> str:
    uses = k in USERS
    mx_imports = ["from mxnet import np, npx", "npx.set_np()"]
    pt_imports = ["import torch"]
    if uses:
        mx_imports.append("from d2l import mxnet as d2l")
        pt_imports.append("from d2l import torch as d2l")
    lines = [f"# Section {k}", f":label:`sec_{k}`", "",
             f"This is section {k}. It computes a small sum in each framework.", ""]
    lines += _cell("", mx_imports, k, uses, k == 1)
    lines += _cell("#@tab pytorch", pt_imports, k, uses, k == 1)
    return "\n".join(lines)


def make_book(root: Path, sections: int = 40, per_chapter: int = 10) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.ini").write_text(CONFIG)
    chapters = []
    for c in range(0, sections, per_chapter):
        name = f"chapter_{c // per_chapter + 1}"
        chapters.append(f"{name}/index")
        folder = root / name
        folder.mkdir(exist_ok=True)
        members = [f"section_{k}" for k in range(c + 1, min(c + per_chapter, sections) + 1)]
        toc = "\n".join(members)
        (folder / "index.md").write_text(f"# Chapter {c // per_chapter + 1}\n\n```toc\n:maxdepth: 2\n\n{toc}\n```\n")
        for k in range(c + 1, min(c + per_chapter, sections) + 1):
            (folder / f"section_{k}.md").write_text(section(k))
    toc = "\n".join(chapters)
    (root / "index.md").write_text(f"Benchmark Book\n==============\n\n```toc\n:numbered:\n:maxdepth: 2\n\n{toc}\n```\n")
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--sections", type=int, default=40)
    args = parser.parse_args()
    print(make_book(args.root, args.sections))
