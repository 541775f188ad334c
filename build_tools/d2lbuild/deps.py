"""Which parts of a tab's library a notebook can reach, worked out from the code (``ast``).

A notebook reaches the names it uses as ``d2l.NAME`` (or imports with ``from d2l.torch
import NAME``), then whatever the saved blocks defining those names use in turn: a bare name
or ``d2l.x`` that is a top-level name saved in the same library. A saved block that defines
no name but changes one (``@d2l.add_to_class(Trainer)``, ``d2l.DATA_HUB['x'] = ...``) comes
with the name it changes; one that touches no saved name runs on every import and so is
always reached, like the import header. Where a use cannot be resolved (``getattr(d2l,
...)``, ``from d2l.torch import *``, the module passed around as a value) the notebook
depends on the whole library.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

MAGIC_LINE = re.compile(r"^\s*[%!]")
LIBRARY_PACKAGE = "d2l"


@dataclass
class LibraryIndex:
    """The saved blocks of one tab and the edges between them."""

    codes: list[str]                           # each block's code, in reading order
    headers: set[int]                          # import header: always reached
    always: set[int]                           # blocks that run for everyone (see above)
    defined: dict[str, int]                    # top-level name -> block that defines it
    refs: list[set[str]]                       # saved names each block uses
    attached: dict[str, set[int]] = field(default_factory=dict)  # name -> blocks changing it
    opaque: set[int] = field(default_factory=set)  # blocks using the library unresolvably
    modules: frozenset[str] = frozenset()      # library module names ("torch", "mxnet")
    extra: tuple[str, ...] = ()                # code every notebook reaches (the aliases)

    @property
    def names(self) -> set[str]:
        return set(self.defined)


def build_index(blocks, modules=(), extra: tuple[str, ...] = ()) -> LibraryIndex:
    """Index ``library.LibraryBlock`` objects (anything with code, names and is_header)."""
    index = LibraryIndex([b.code for b in blocks], set(), set(), {}, [],
                         modules=frozenset(modules), extra=tuple(extra))
    for i, block in enumerate(blocks):
        for name in block.names:
            index.defined.setdefault(name, i)
    names = index.names
    for i, block in enumerate(blocks):
        if block.is_header:
            index.headers.add(i)
            index.refs.append(set())
            continue
        try:
            tree = ast.parse(block.code)
        except SyntaxError:
            index.opaque.add(i)
            index.refs.append(set())
            continue
        used = _uses(tree, {LIBRARY_PACKAGE}, names, index.modules)
        if used is None:
            index.opaque.add(i)
            used = set()
        index.refs.append(used & names)
        if not block.names:
            targets = _changed_names(tree, names) or (used & names)
            if targets:
                for name in targets:
                    index.attached.setdefault(name, set()).add(i)
            else:
                index.always.add(i)
    return index


def _changed_names(tree: ast.Module, names: set[str]) -> set[str]:
    """For ``@add_to_class(A)`` definitions: the classes named in the decorator."""
    found = set()
    for node in tree.body:
        for deco in getattr(node, "decorator_list", []):
            if not isinstance(deco, ast.Call):
                continue
            func = deco.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname != "add_to_class":
                continue
            for arg in deco.args:
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Name) and sub.id in names:
                        found.add(sub.id)
                    elif isinstance(sub, ast.Attribute) and sub.attr in names:
                        found.add(sub.attr)
    return found


def _mask_magics(code: str) -> tuple[str, list[str]]:
    """IPython magic and shell lines become comments so ``ast`` can parse the rest; they are
    returned apart so their text can still be searched."""
    kept, magics = [], []
    for line in code.split("\n"):
        if MAGIC_LINE.match(line):
            magics.append(line)
            indent = line[:len(line) - len(line.lstrip())]
            kept.append(f"{indent}pass" if indent else "")
        else:
            kept.append(line)
    return "\n".join(kept), magics


def _aliases(tree: ast.AST, modules: frozenset[str]) -> tuple[set[str], set[str], bool]:
    """Names bound to the library module, names imported from it, and whether a star
    import hides what it brings in."""
    aliases, imported, star = set(), set(), False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                head = alias.name.split(".")[0]
                if head != LIBRARY_PACKAGE:
                    continue
                if alias.asname:
                    aliases.add(alias.asname)
                else:
                    aliases.add(LIBRARY_PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != LIBRARY_PACKAGE:
                continue
            for alias in node.names:
                if alias.name == "*":
                    star = True
                elif len(parts) == 1:  # from d2l import torch as d2l
                    if not modules or alias.name in modules:
                        aliases.add(alias.asname or alias.name)
                else:  # from d2l.torch import Timer
                    imported.add(alias.name)
    return aliases, imported, star


def _uses(tree: ast.AST, aliases: set[str], names: set[str], modules: frozenset[str]) -> set[str] | None:
    """The attribute names used on the library aliases, or None if a use is unresolvable."""
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id in names:
                used.add(node.id)
            if node.id not in aliases or not isinstance(node.ctx, ast.Load):
                continue
            parent = parents.get(node)
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                return None  # the module itself is used as a value
            if parent.attr in modules:  # d2l.torch.Timer after "import d2l"
                grand = parents.get(parent)
                if not (isinstance(grand, ast.Attribute) and grand.value is parent):
                    return None
                used.add(grand.attr)
            else:
                used.add(parent.attr)
    return used


def notebook_uses(code_cells: list[str], modules=frozenset()) -> set[str] | None:
    """The library names a notebook's code uses directly, or None where that cannot be told.
    Names the library does not save (aliases, typos) are kept; they match no block."""
    modules = frozenset(modules)
    magic_lines, trees = [], []
    for code in code_cells:
        text, magics = _mask_magics(code)
        magic_lines += magics
        try:  # top-level await is fine in a notebook
            trees.append(compile(text, "<cell>", "exec",
                                 ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True))
        except (SyntaxError, ValueError):
            return None
    aliases = {LIBRARY_PACKAGE}
    used: set[str] = set()
    for tree in trees:
        found_aliases, imported, star = _aliases(tree, modules)
        if star:
            return None
        aliases |= found_aliases
        used |= imported
    for tree in trees:
        found = _uses(tree, aliases, set(), modules)
        if found is None:
            return None
        used |= found
    for line in magic_lines:  # %timeit d2l.sgd(...): search the text
        for alias in aliases:
            for m in re.finditer(rf"(?<![\w.]){re.escape(alias)}\b(\.\w+)?", line):
                if not m.group(1):
                    return None
                used.add(m.group(1)[1:])
    return used


def reachable(index: LibraryIndex, roots: set[str] | None) -> list[int]:
    """The blocks (in reading order) reached from the names ``roots``; None means all."""
    everything = list(range(len(index.codes)))
    if roots is None:
        return everything
    chosen = set(index.headers)
    blocks, names, seen = list(index.always), list(roots), set()
    while blocks or names:
        if blocks:
            block = blocks.pop()
            if block in chosen:
                continue
            if block in index.opaque:
                return everything
            chosen.add(block)
            names.extend(index.refs[block])
            continue
        name = names.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in index.defined:
            blocks.append(index.defined[name])
        blocks.extend(index.attached.get(name, ()))
    return sorted(chosen)


def library_code(index: LibraryIndex, code_cells: list[str]) -> list[str]:
    """The library code a notebook can reach: what goes into its cache key."""
    roots = notebook_uses(code_cells, index.modules)
    return [index.codes[i] for i in reachable(index, roots)] + list(index.extra)
