"""#@save: which code a mark saves, on edge cases, and misuse reported at its line."""

import textwrap

import pytest

from d2lbuild.savemarks import SaveMarkError, find_saved_blocks


def saved(code: str):
    return [b.code for b in find_saved_blocks(textwrap.dedent(code).strip("\n"))]


def test_trailing_mark_on_def_saves_the_whole_body():
    code = """
        def f(x):  #@save
            y = x + 1

            return y

        f(1)
        """
    assert saved(code) == ["def f(x):\n    y = x + 1\n\n    return y"]


def test_trailing_mark_on_class_and_assignment():
    code = """
        class A:  #@save
            def m(self):
                return 1
        X = 3  #@save
        Y = 4
        """
    assert saved(code) == ["class A:\n    def m(self):\n        return 1", "X = 3"]


def test_multiline_signature_with_mark_on_any_header_line():
    first = "def g(a,  #@save\n      b):\n    return a + b\n"
    last = "def g(a,\n      b):  #@save\n    return a + b\n"
    assert saved(first) == ["def g(a,\n      b):\n    return a + b"]
    assert saved(last) == ["def g(a,\n      b):\n    return a + b"]


def test_multiline_assignment():
    code = 'HUB = {  #@save\n    "a": 1,\n    "b": 2,\n}\nother = 1\n'
    assert saved(code) == ['HUB = {\n    "a": 1,\n    "b": 2,\n}']


def test_mark_on_decorator_line_saves_decorated_definition():
    code = "@dataclass  #@save\nclass P:\n    x: int = 0\n"
    assert saved(code) == ["@dataclass\nclass P:\n    x: int = 0"]


def test_own_line_mark_above_decorator_saves_whole_definition():
    code = """
        #@save
        @functools.lru_cache()
        def h(n):
            return n

        h(2)
        """
    assert saved(code) == ["@functools.lru_cache()\ndef h(n):\n    return n"]


def test_own_line_mark_above_imports_saves_the_run_until_a_blank_line():
    code = """
        #@save
        import os
        import sys
        # a comment inside the run
        from collections import defaultdict

        import json
        """
    assert saved(code) == [
        "import os\nimport sys\n# a comment inside the run\nfrom collections import defaultdict"]
    assert find_saved_blocks(textwrap.dedent(code).strip())[0].is_import_header


def test_own_line_run_ends_after_first_multiline_statement():
    code = """
        #@save
        A = 1
        def f():
            return A
        B = 2
        """
    assert saved(code) == ["A = 1\ndef f():\n    return A"]


def test_several_marks_in_one_cell_and_names():
    code = """
        #@save
        import math
        def a():  #@save
            return 1

        def not_saved():
            pass

        class C:  #@save
            pass
        """
    blocks = find_saved_blocks(textwrap.dedent(code).strip())
    assert [b.code.split("\n")[0] for b in blocks] == ["import math", "def a():", "class C:"]
    assert [b.names for b in blocks] == [(), ("a",), ("C",)]
    assert [b.first_line for b in blocks] == [2, 3, 9]


def test_mark_text_inside_a_string_is_not_a_mark():
    assert saved('s = "#@save"\nprint(s)\n') == []
    assert saved('def f():  #@save\n    return "#@save"\n') == ['def f():\n    return "#@save"']


def test_comment_after_the_mark_is_kept():
    assert saved("x = 1  #@save  the answer\n") == ["x = 1  # the answer"]


def test_magics_elsewhere_in_the_cell_are_fine():
    code = "%matplotlib inline\n!ls\ndef f():  #@save\n    return 1\n"
    assert saved(code) == ["def f():\n    return 1"]


def test_add_to_class_methods_define_no_library_name():
    code = "@d2l.add_to_class(Model)  #@save\ndef forward(self, X):\n    return X\n"
    assert find_saved_blocks(code)[0].names == ()


@pytest.mark.parametrize("code, line, message", [
    ("class A:\n    def m(self):  #@save\n        pass\n", 2, "'#@save' must mark a top-level statement"),
    ("def f():\n    #@save\n    x = 1\n", 2, "an indented '#@save' line saves nothing"),
    ("#@save\n\ndef f():\n    pass\n", 1, "must be directly above the code it saves"),
    ("#@save\n", 1, "must be directly above the code it saves"),
    ("def f(:  #@save\n    pass\n", 1, "cannot parse the cell that holds #@save"),
    ("def f():  #@save\n    !ls\n    return 1\n", 2, "saved code holds an IPython magic or shell line"),
])
def test_misuse_is_reported_with_its_line(code, line, message):
    with pytest.raises(SaveMarkError) as info:
        find_saved_blocks(code)
    assert info.value.line == line
    assert message in info.value.message
