"""Find the code a ``#@save`` mark saves into the library.

Two forms, both resolved on Python's own syntax tree so that multi-line signatures,
decorators and strings that merely contain the text ``#@save`` behave:

* trailing, ``def f(x):  #@save``: saves the top-level statement whose first line (or, for a
  ``def``/``class``, whose header) carries the mark, with its whole body and decorators;
* alone on a line: saves what follows it, the run of one-line statements up to and including
  the first statement that spans several lines (a ``def``, ``class`` or multi-line expression),
  stopping early at a blank line. So ``#@save`` above imports saves them all, and above a
  decorator or ``def`` saves the whole definition.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

SAVE_MARK = re.compile(r"#\s*@save\b")
MAGIC_LINE = re.compile(r"^(\s*)([%!].*)$")


@dataclass(frozen=True)
class SavedBlock:
    code: str                    # the saved source, marks removed
    first_line: int              # 1-based line within the cell where the block starts
    names: tuple[str, ...]       # top-level names it defines (for duplicate detection)
    is_import_header: bool       # starts with an import: goes to the library's header
    node_kinds: tuple[str, ...]  # ast class names of its statements


class SaveMarkError(Exception):
    def __init__(self, line: int, message: str, hint: str = ""):
        super().__init__(message)
        self.line, self.message, self.hint = line, message, hint


def has_save_mark(code: str) -> bool:
    return bool(SAVE_MARK.search(code))


def _mask_magics(code: str) -> str:
    """Turn IPython magics and shell lines into Python (same line count) so ast can parse."""
    out = []
    for line in code.split("\n"):
        m = MAGIC_LINE.match(line)
        if m:
            indent = m.group(1)
            out.append(f"{indent}pass  # {m.group(2)}" if indent else f"# {m.group(2)}")
        else:
            out.append(line)
    return "\n".join(out)


def _mark_comments(code: str) -> list[tuple[int, int]]:
    """(line, column) of every ``#@save`` comment; text inside strings does not count."""
    marks = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT and SAVE_MARK.match(tok.string):
                marks.append(tok.start)
    except (tokenize.TokenError, IndentationError, SyntaxError) as e:
        raise SaveMarkError(getattr(e, "lineno", None) or 1, f"cannot read the cell's code: {e}") from None
    return marks


def _span(node: ast.stmt) -> tuple[int, int]:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return start, node.end_lineno


def _header_end(node: ast.stmt) -> int:
    """Last line of a statement's header (the line before its body) or of a simple statement."""
    body = getattr(node, "body", None)
    if isinstance(body, list) and body:
        first = body[0]
        if isinstance(first, ast.stmt) and first.lineno > node.lineno:
            return first.lineno - 1
        return node.lineno
    return node.end_lineno


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        # add_to_class(...) attaches a method to a class, defining no library-level name.
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name == "add_to_class":
                return []
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def find_saved_blocks(code: str) -> list[SavedBlock]:
    """All blocks one cell saves, in order. Raises SaveMarkError (with the cell line) on misuse."""
    if not has_save_mark(code):
        return []
    masked = _mask_magics(code)
    try:
        tree = ast.parse(masked)
    except SyntaxError as e:
        raise SaveMarkError(e.lineno or 1, f"cannot parse the cell that holds #@save: {e.msg}",
                            "saved code must be valid Python") from None
    marks = _mark_comments(masked)
    if not marks:
        return []
    lines = code.split("\n")
    statements = list(tree.body)
    mark_cols = dict(marks)
    blocks = []
    taken: set[int] = set()
    for row, col in marks:
        alone = not lines[row - 1][:col].strip()
        if alone:
            if col > 0:
                raise SaveMarkError(row, "an indented '#@save' line saves nothing",
                                    "put '#@save' at the start of the line above a top-level statement")
            chosen = _run_after(statements, lines, row, {r for r, _ in marks})
        else:
            chosen = [s for s in statements if _span(s)[0] <= row <= _header_end(s)]
            if not chosen:
                raise SaveMarkError(row, "'#@save' must mark a top-level statement",
                                    "put it on the first line of the def, class or assignment")
        start, end = _span(chosen[0])[0], _span(chosen[-1])[1]
        if start in taken:
            raise SaveMarkError(row, "this code is already saved by another '#@save' mark")
        taken.add(start)
        body = []
        for number in range(start, end + 1):
            text = lines[number - 1]
            if MAGIC_LINE.match(text):
                raise SaveMarkError(number, "saved code holds an IPython magic or shell line",
                                    "keep '%' and '!' lines out of saved blocks")
            body.append(_strip_mark(text, mark_cols.get(number)))
        names = tuple(n for s in chosen for n in _defined_names(s))
        kinds = tuple(type(s).__name__ for s in chosen)
        blocks.append(SavedBlock("\n".join(body).rstrip(), start, names,
                                 kinds[0] in ("Import", "ImportFrom"), kinds))
    blocks.sort(key=lambda b: b.first_line)
    return blocks


def _run_after(statements: list[ast.stmt], lines: list[str], row: int,
               mark_rows: set[int]) -> list[ast.stmt]:
    following = [s for s in statements if _span(s)[0] > row]
    if not following or _span(following[0])[0] != row + 1:
        raise SaveMarkError(row, "'#@save' on its own line must be directly above the code it saves",
                            "remove the blank line after the mark")
    run = [following[0]]
    for node in following[1:]:
        prev_start, prev_end = _span(run[-1])
        if prev_end > prev_start:
            break  # a multi-line statement ends the run
        gap = lines[prev_end:_span(node)[0] - 1]
        if any(not g.strip().startswith("#") or SAVE_MARK.match(g.strip()) for g in gap):
            break  # a blank line, or another mark, ends the run
        if any(_span(node)[0] <= r <= _header_end(node) for r in mark_rows):
            break  # the statement has a mark of its own
        run.append(node)
    return run


def _strip_mark(line: str, col: int | None) -> str:
    """Remove the ``#@save`` comment starting at ``col`` (keeping comment text after it)."""
    if col is None:
        return line
    m = SAVE_MARK.match(line, col)
    before, after = line[:col].rstrip(), line[m.end():].strip()
    if after:
        return f"{before}  # {after}" if before else f"# {after}"
    return before
