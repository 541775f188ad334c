"""Cache keys and library reachability, without running any kernel."""

from __future__ import annotations

import json

import pytest
from evalbook import cell, make_book, section, write_section

from d2lbuild.book import Book
from d2lbuild.cache import Cache, cache_key, environment_facts
from d2lbuild.config import load_config
from d2lbuild.deps import build_index, library_code, notebook_uses, reachable
from d2lbuild.engine import EvalOptions, plan
from d2lbuild.library import collect_blocks
from d2lbuild.notebooks import build_notebooks

ENV = {"python": "3.11.7", "numpy": "1.23.5", "framework": "torch==2.13.0", "quick": False, "gpus": 0}

LIBRARY = section("Library", cell('''
    #@save
    import math
    ''', "all"), cell('''
    def f(x):  #@save
        return x + 1

    def g(x):  #@save
        return f(x) * 2

    def h(x):  #@save
        return -x

    class Trainer:  #@save
        def __init__(self):
            self.n = 0

    @d2l.add_to_class(Trainer)  #@save
    def fit(self):
        return d2l.h(self.n)

    def k(x):  #@save
        return d2l.g(x) + 1

    REGISTRY = {}  #@save
    ''', "all"), cell('''
    #@save
    REGISTRY['data'] = ('url', 'sha1')
    ''', "all"))


def test_cache_key_is_a_pure_function_of_its_inputs():
    key = cache_key("pytorch", ["x = 1", "print(x)"], ["def f(): pass"], ENV)
    assert key == cache_key("pytorch", ["x = 1", "print(x)"], ["def f(): pass"], dict(ENV))
    assert len(key) == 64 and int(key, 16) >= 0
    changed = [
        cache_key("mxnet", ["x = 1", "print(x)"], ["def f(): pass"], ENV),
        cache_key("pytorch", ["x = 2", "print(x)"], ["def f(): pass"], ENV),
        cache_key("pytorch", ["x = 1\nprint(x)"], ["def f(): pass"], ENV),  # cells are not joined
        cache_key("pytorch", ["x = 1", "print(x)"], ["def f(): return 1"], ENV),
        cache_key("pytorch", ["x = 1", "print(x)"], ["def f(): pass"], dict(ENV, quick=True)),
        cache_key("pytorch", ["x = 1", "print(x)"], ["def f(): pass"], dict(ENV, numpy="1.26.0")),
        cache_key("pytorch", ["x = 1", "print(x)"], ["def f(): pass"], dict(ENV, framework="torch==2.0")),
        cache_key("pytorch", ["x = 1", "print(x)"], ["def f(): pass"], dict(ENV, gpus=2)),
    ]
    assert len(set(changed + [key])) == len(changed) + 1


def test_environment_facts():
    full, quick = environment_facts("pytorch", quick=False), environment_facts("pytorch", quick=True)
    assert full != quick and quick["quick"] is True
    assert full["numpy"] and full["python"].count(".") == 2
    assert full["framework"].startswith("torch==")
    assert environment_facts("mxnet", quick=False)["framework"].startswith("mxnet==")
    assert environment_facts("numpy", quick=False)["framework"] is None
    # Quick mode keys never equal full-build keys.
    assert cache_key("pytorch", ["1"], [], full) != cache_key("pytorch", ["1"], [], quick)


@pytest.fixture
def book(tmp_path):
    root = make_book(tmp_path / "book", {"lib": LIBRARY}, tabs="pytorch")
    return Book.load(load_config(root))


def _index(book):
    blocks, problems = collect_blocks(book, "pytorch")
    assert not problems
    return build_index(blocks, {"torch", "mxnet"})


def _reached(book, code: str) -> set[str]:
    """The top-level names of the blocks a notebook with this one cell reaches."""
    index = _index(book)
    chosen = reachable(index, notebook_uses([code], index.modules))
    names = set()
    for i in chosen:
        names |= {n for n, j in index.defined.items() if j == i} or {f"<block {i}>"}
    return names


def test_direct_and_transitive_uses(book):
    # Block 0 is the import header (it defines no name): every notebook reaches it.
    assert _reached(book, "from d2l import torch as d2l\nd2l.f(1)") - {"<block 0>"} == {"f"}
    # g calls f (a bare name), k calls d2l.g: both are followed.
    assert _reached(book, "from d2l import torch as d2l\nd2l.k(1)") - {"<block 0>"} == {"k", "g", "f"}
    assert _reached(book, "from d2l.torch import h\nh(1)") - {"<block 0>"} == {"h"}
    assert _reached(book, "import d2l.torch\nd2l.torch.g(2)") - {"<block 0>"} == {"g", "f"}
    assert _reached(book, "from d2l import torch as lib\nlib.f(1)") - {"<block 0>"} == {"f"}
    assert "<block 0>" in _reached(book, "print(1)")


def test_blocks_that_change_a_name_come_with_it(book):
    index = _index(book)
    reached = _reached(book, "from d2l import torch as d2l\nt = d2l.Trainer()\nt.fit()")
    # Trainer, the add_to_class block that adds fit (which calls h), and h.
    assert {"Trainer", "h"} <= reached and len(reached - {"Trainer", "h", "<block 0>"}) == 1
    registry = _reached(book, "from d2l import torch as d2l\nd2l.REGISTRY")
    assert "REGISTRY" in registry and len(registry) == 3  # header, REGISTRY, its registration
    assert "f" not in registry and "Trainer" not in registry
    assert len(index.codes) == 9


@pytest.mark.parametrize("code", [
    "from d2l import torch as d2l\ngetattr(d2l, 'f')(1)",
    "from d2l.torch import *\nf(1)",
    "from d2l import torch as d2l\nimport inspect\ninspect.getsource(d2l)",
    "from d2l import torch as d2l\nhelpers = d2l",
    "from d2l import torch as d2l\n%time d2l",
    "def broken(:\n    d2l.f(1)",
])
def test_unresolvable_uses_depend_on_the_whole_library(book, code):
    index = _index(book)
    assert notebook_uses([code], index.modules) is None
    assert reachable(index, None) == list(range(len(index.codes)))
    assert library_code(index, [code]) == index.codes


def test_magics_and_unrelated_code(book):
    index = _index(book)
    assert notebook_uses(["from d2l import torch as d2l\n%timeit d2l.h(1)"], index.modules) == {"h"}
    assert notebook_uses(["import numpy as np\nprint(np.ones(3))"], index.modules) == set()
    # Only the import header: no block of the library is reached.
    assert library_code(index, ["print(1)"]) == [index.codes[0]]


def _keys(root, quick=False):
    book = Book.load(load_config(root))
    written = build_notebooks(book)
    jobs = plan(book, EvalOptions(quick=quick), written, Cache(root / "_build" / "cache"), [],
                warn=lambda m: None)
    return {(j.docname, j.tab): j.key for j in jobs}


def _changed(before, after):
    return {k for k in before if before[k] != after[k]}


@pytest.fixture
def two_tab_book(tmp_path):
    sections = {
        "lib": LIBRARY,
        "uses_f": section("F", cell("from d2l import torch as d2l\nprint(d2l.f(1))", "all")),
        "uses_k": section("K", cell("from d2l import torch as d2l\nprint(d2l.k(1))", "all")),
        "uses_h": section("H", cell("from d2l import torch as d2l\nprint(d2l.h(1))", "all")),
        "plain": section("Plain", cell("print('mxnet')"), cell("print('torch')", "pytorch")),
    }
    return make_book(tmp_path / "book", sections), sections


def test_prose_edit_changes_no_key(two_tab_book):
    root, sections = two_tab_book
    before = _keys(root)
    write_section(root, "uses_f", sections["uses_f"].replace("Some text.", "Other *prose*.\n\nMore."))
    write_section(root, "lib", "Intro line.\n\n" + sections["lib"] + "\nAn appendix.\n")
    assert _changed(before, _keys(root)) == set()


def test_code_edit_changes_one_section_in_one_tab(two_tab_book):
    root, sections = two_tab_book
    before = _keys(root)
    write_section(root, "plain", sections["plain"].replace("print('torch')", "print('torch!')"))
    assert _changed(before, _keys(root)) == {("plain", "pytorch")}


def test_library_edit_changes_exactly_its_users(two_tab_book):
    root, sections = two_tab_book
    before = _keys(root)
    # f is used by uses_f directly and by uses_k through k -> g -> f; lib defines it.
    write_section(root, "lib", sections["lib"].replace("return x + 1", "return x + 2"))
    expected = {(d, t) for d in ("lib", "uses_f", "uses_k") for t in ("mxnet", "pytorch")}
    assert _changed(before, _keys(root)) == expected
    # A new saved function nobody uses re-keys only the section that holds it.
    before = _keys(root)
    write_section(root, "plain", sections["plain"] + cell("def unused():  #@save\n    return 0", "all"))
    assert _changed(before, _keys(root)) == {("plain", "mxnet"), ("plain", "pytorch")}


def test_quick_mode_keys_differ(two_tab_book):
    root, _ = two_tab_book
    full, quick = _keys(root), _keys(root, quick=True)
    assert set(full) == set(quick) and all(full[k] != quick[k] for k in full)


def test_cache_store_lookup_and_durations(tmp_path):
    cache = Cache(tmp_path / "cache")
    assert cache.lookup("pytorch", "a/b", "k1") is None
    cache.store("pytorch", "a/b", "k1", '{"cells": []}', {"seconds": 2.5, "timestamp": 10, "quick": False})
    cache.store("pytorch", "a/b", "k2", '{"cells": [1]}', {"seconds": 0.5, "timestamp": 20, "quick": True})
    assert cache.lookup("pytorch", "a/b", "k1").text == '{"cells": []}'
    assert cache.lookup("pytorch", "a/b", "k1").seconds == 2.5
    assert cache.last_seconds("pytorch", "a/b") == 0.5
    assert cache.last_seconds("pytorch", "a/b", quick=False) == 2.5
    assert cache.last_seconds("mxnet", "a/b") is None
    # A damaged notebook (truncated, edited) is not a hit.
    (tmp_path / "cache" / "pytorch" / "a" / "b" / "k1.ipynb").write_text('{"cells": [2]}')
    assert cache.lookup("pytorch", "a/b", "k1") is None
    # A record without its notebook, or a failed record, is not a hit.
    (tmp_path / "cache" / "pytorch" / "a" / "b" / "k2.ipynb").unlink()
    assert cache.lookup("pytorch", "a/b", "k2") is None
    record = {"key": "k3", "status": "failed", "sha256": ""}
    (tmp_path / "cache" / "pytorch" / "a" / "b" / "k3.json").write_text(json.dumps(record))
    (tmp_path / "cache" / "pytorch" / "a" / "b" / "k3.ipynb").write_text("")
    assert cache.lookup("pytorch", "a/b", "k3") is None


def test_cache_keeps_a_few_entries_per_section(tmp_path):
    cache = Cache(tmp_path / "cache")
    for i in range(12):
        cache.store("t", "d", f"k{i}", "{}", {"seconds": 1, "timestamp": i})
    kept = sorted(p.stem for p in (tmp_path / "cache" / "t" / "d").glob("*.json"))
    assert len(kept) == 8 and "k11" in kept and "k0" not in kept
    assert cache.lookup("t", "d", "k11") is not None


def test_lock_excludes_a_second_holder(tmp_path):
    cache = Cache(tmp_path / "cache")
    first, second = cache.lock("t", "a/b"), cache.lock("t", "a/b")
    assert first.acquire(blocking=False)
    assert not second.acquire(blocking=False)
    first.release()
    assert second.acquire(blocking=False)
    second.release()


def test_data_mirror_is_part_of_the_environment(tmp_path, monkeypatch):
    from d2lbuild.cache import data_source

    monkeypatch.delenv("D2L_DATA_MIRROR", raising=False)
    origin = environment_facts("pytorch", quick=False)
    assert origin["data"] == "origin"
    (tmp_path / "manifest.json").write_text('{"files": {}}')
    monkeypatch.setenv("D2L_DATA_MIRROR", str(tmp_path))
    mirrored = environment_facts("pytorch", quick=False)
    assert mirrored["data"].startswith("mirror:") and mirrored != origin
    key = lambda env: cache_key("pytorch", ["x = 1"], [], env)
    assert key(origin) != key(mirrored)
    (tmp_path / "manifest.json").write_text('{"files": {"a": {}}}')  # other fixtures
    assert data_source() != mirrored["data"]
