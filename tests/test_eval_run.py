"""``d2lbuild eval`` on small books: caching both ways, failures, GPUs, quick mode."""

from __future__ import annotations

import json
import re

import pytest
from evalbook import (cell, executed, make_book, outputs_text, ran, run_eval, section, statuses,
                      summary, write_section)

from d2lbuild.cache import Cache

IMPORT = cell("from d2l import mxnet as d2l") + "\n" + cell("from d2l import torch as d2l", "pytorch")

LIBRARY = section("Library", cell('''
    #@save
    import math
    import sys
    d2l = sys.modules[__name__]
    ''', "all"), cell('''
    def f(x):  #@save
        return x + 1

    def g(x):  #@save
        return f(x) * 2

    def k(x):  #@save
        return d2l.g(x) + 1

    def h(x):  #@save
        return -x
    ''', "all"))

BOTH = {("lib", "mxnet"), ("lib", "pytorch")}


def users(*names):
    return {(n, t) for n in names for t in ("mxnet", "pytorch")}


@pytest.fixture
def book(tmp_path):
    sections = {
        "lib": LIBRARY,
        "uses_f": section("Uses f", IMPORT, cell("print('f', d2l.f(1), d2l.__file__)", "all")),
        "uses_k": section("Uses k", IMPORT, cell("print('k', d2l.k(1))", "all")),
        "uses_h": section("Uses h", IMPORT, cell("print('h', d2l.h(1))", "all")),
        "chap/plain": section("Plain", cell('''
            import os
            print('leak' in globals(), os.getpid(), os.getcwd(), os.environ['CUDA_VISIBLE_DEVICES'] == '')
            leak = 1
            '''), cell("import os\nprint('leak' in globals(), os.getpid(), os.getcwd())", "pytorch")),
    }
    return make_book(tmp_path / "book", sections), sections


def test_cache_reruns_exactly_what_changed(book, capsys):
    root, sections = book
    assert run_eval(root, "--jobs", "2") == 0
    everything = users("lib", "uses_f", "uses_k", "uses_h", "chap/plain")
    assert ran(root) == everything
    assert statuses(root)[("index", "mxnet")] == "empty"
    assert "f 2 " + str(root / "d2l" / "torch.py") in outputs_text(executed(root, "pytorch", "uses_f"))
    assert "k 5" in outputs_text(executed(root, "mxnet", "uses_k"))
    # Fresh kernel per notebook, started in the section's folder of the build tree.
    pids = set()
    for tab in ("mxnet", "pytorch"):
        text = outputs_text(executed(root, tab, "chap/plain"))
        assert text.startswith("False ") and "True" not in text.split("\n")[0].split()[0]
        assert str(root / "_build" / "notebooks" / tab / "chap") in text
        pids.add(text.split()[1])
    assert len(pids) == 2
    nb = executed(root, "pytorch", "uses_f")
    assert nb["metadata"]["d2l"]["quick"] is False and nb["metadata"]["d2l"]["eval"]["key"]
    data = nb["metadata"]["d2l"]["data"]  # where the data sets came from: origin or a mirror
    assert data == "origin" or data.startswith("mirror:")

    # Nothing changed: nothing runs.
    assert run_eval(root, "--jobs", "2") == 0
    assert ran(root) == set() and summary(root)["counts"]["cached"] == len(everything)
    # Outputs taken from the cache say where their data came from, as fresh ones do.
    assert executed(root, "pytorch", "uses_f")["metadata"]["d2l"]["data"] == data

    # Prose only: nothing runs, yet the output shows the new prose.
    write_section(root, "uses_f", sections["uses_f"].replace("Some text.", "Brand new words."))
    assert run_eval(root, "--jobs", "2") == 0
    assert ran(root) == set()
    nb = executed(root, "mxnet", "uses_f")
    assert any("Brand new words." in c["source"] for c in nb["cells"] if c["cell_type"] == "markdown")
    assert outputs_text(nb).startswith("f 2")

    # One section's code in one tab: that notebook only.
    write_section(root, "chap/plain", sections["chap/plain"].replace(
        "os.getpid(), os.getcwd())", "os.getpid(), os.getcwd(), 'again')"))
    assert run_eval(root, "--jobs", "2") == 0
    assert ran(root) == {("chap/plain", "pytorch")}

    # A saved function: the sections that use it, directly (uses_f) or through other library
    # functions (uses_k: k -> g -> f), and the section defining it; not uses_h.
    write_section(root, "lib", sections["lib"].replace("return x + 1", "return x + 10"))
    assert run_eval(root, "--jobs", "2") == 0
    assert ran(root) == users("lib", "uses_f", "uses_k")
    assert "k 23" in outputs_text(executed(root, "pytorch", "uses_k"))

    # --force --only re-runs one section even though it is cached; a .md path works too.
    assert run_eval(root, "--force", "--only", str(root / "uses_h.md"), "--tab", "pytorch") == 0
    assert ran(root) == {("uses_h", "pytorch")} and len(summary(root)["notebooks"]) == 1

    # A section that leaves the book leaves the outputs too.
    (root / "uses_h.md").unlink()
    index = root / "index.md"
    index.write_text(index.read_text().replace("uses_h\n", ""))
    assert run_eval(root, "--jobs", "2") == 0
    assert ran(root) == set() and ("uses_h", "pytorch") not in statuses(root)
    assert not list((root / "_build" / "eval").rglob("uses_h.ipynb"))
    assert (root / "_build" / "eval" / "mxnet" / "uses_f.ipynb").exists()
    capsys.readouterr()


FAILING = {
    "ok": section("Fine", cell("print('fine')")),
    "error": section("Raises", cell("x = 1"), cell('''
        def broken():
            return {}['missing']
        '''), cell('''
        y = 2
        broken()
        ''')),
    "exits": section("Exits", cell("import os\nos._exit(1)")),
    "killed": section("Killed", cell("print('about to die', flush=True)\nimport os, signal, time\ntime.sleep(0.5)\n"
                                     "os.kill(os.getpid(), signal.SIGKILL)")),
    "hangs": section("Hangs", cell("print('working', flush=True)\nimport time\ntime.sleep(120)")),
    "slow_cell": section("Per-section cell timeout", cell("import time\ntime.sleep(120)"),
                         front="timeout: 1"),
    "slow_notebook": section("Per-section notebook timeout",
                             *[cell("import time\ntime.sleep(0.6)") for _ in range(6)],
                             front="notebook_timeout: 1.5"),
}


def test_failures_are_reported_and_the_rest_runs(tmp_path, capsys):
    root = make_book(tmp_path / "book", FAILING, tabs="pytorch", cell_timeout=3)
    assert run_eval(root, "--jobs", "2") == 1
    err = capsys.readouterr().err
    result = statuses(root)
    assert result.pop(("ok", "pytorch")) == "ran"
    assert result.pop(("index", "pytorch")) == "empty"
    assert set(result.values()) == {"failed"}
    rows = {r["docname"]: r for r in summary(root)["notebooks"]}
    kinds = {name: rows[name]["failure"]["kind"] for name in result and {n for n, _ in result}}
    assert kinds == {"error": "error", "exits": "crash", "killed": "crash", "hangs": "timeout",
                     "slow_cell": "timeout", "slow_notebook": "notebook-timeout"}

    # The exception: the .md file and line of the raising statement, its cell, the tab and
    # the traceback, without terminal colours.
    text = (tmp_path / "book" / "error.md").read_text().splitlines()
    fence = next(i for i, l in enumerate(text, 1) if l.startswith("```") and "y = 2" in text[i])
    call = text.index("broken()") + 1
    failure = rows["error"]["failure"]
    assert (failure["path"], failure["line"], failure["cell_line"]) == ("error.md", call, fence)
    assert f"error.md:{call}: error: [pytorch] KeyError: 'missing'" in err
    assert f"cell at line {fence}" in err
    assert "----> 2 broken()" in failure["details"] and "\x1b[" not in failure["details"] + err
    assert "killed by signal 9" in rows["killed"]["failure"]["message"]
    assert "about to die" in rows["killed"]["failure"]["details"]
    assert "working" in rows["hangs"]["failure"]["details"]
    assert "(3 s)" in rows["hangs"]["failure"]["message"]
    assert "(1 s)" in rows["slow_cell"]["failure"]["message"]
    assert rows["slow_notebook"]["seconds"] < 5
    lines = {name: rows[name]["failure"]["line"] for name in ("exits", "hangs", "slow_notebook")}
    assert lines["exits"] == 5 and lines["hangs"] == 5 and lines["slow_notebook"] > 5

    # Failures are not cached and leave no output behind; they run again next time.
    cache = Cache(root / "_build" / "cache")
    assert cache.lookup("pytorch", "error", rows["error"]["key"]) is None
    assert not (root / "_build" / "eval" / "pytorch" / "error.ipynb").exists()
    failed_nb = json.loads((root / "_build" / "eval" / "_failed" / "pytorch" / "error.ipynb").read_text())
    assert failed_nb["metadata"]["d2l"]["eval"]["status"] == "failed"
    assert run_eval(root, "--only", "error", "ok") == 1
    assert statuses(root) == {("ok", "pytorch"): "cached", ("error", "pytorch"): "failed"}
    assert summary(root)["notebooks"][1]["seconds"] > 0  # it really ran again


def test_gpus_are_given_out_from_the_declarations(tmp_path, monkeypatch, capsys):
    show = "import os, time\nprint(repr(os.environ['CUDA_VISIBLE_DEVICES']))\ntime.sleep(0.3)"
    root = make_book(tmp_path / "book", {
        "one_a": section("A", cell(show), front="gpus: 1"),
        "one_b": section("B", cell(show), front="gpus: 1"),
        "none": section("None", cell(show)),
        "zero": section("Zero", cell(show), front="gpus: 0"),
        "many": section("Many", cell(show), front="gpus: 3"),
    }, tabs="pytorch")

    def seen(name):
        return eval(outputs_text(executed(root, "pytorch", name)).strip())

    monkeypatch.setenv("D2L_GPUS", "0,1")
    assert run_eval(root, "--jobs", "2", "--only", "one_a", "one_b") == 0
    assert sorted([seen("one_a"), seen("one_b")]) == ["0", "1"]  # ran together, one each
    assert run_eval(root, "--jobs", "2") == 0
    err = capsys.readouterr().err
    assert "many.md: warning: asks for 3 GPUs but this machine has 2 GPUs; running with 2" in err
    assert seen("many") == "0,1" and seen("none") == "" and seen("zero") == ""
    rows = {r["docname"]: r for r in summary(root)["notebooks"]}
    assert rows["many"]["gpus"] == ["0", "1"] and rows["none"]["gpus"] == []

    # A CPU-only machine still runs everything; sections that wanted GPUs run again (their
    # key has the number of devices they got), the others are cached.
    monkeypatch.setenv("D2L_GPUS", "")
    assert run_eval(root, "--jobs", "2") == 0
    assert "asks for 1 GPUs but this machine has no GPU; running with 0" in capsys.readouterr().err
    assert ran(root) == {("one_a", "pytorch"), ("one_b", "pytorch"), ("many", "pytorch")}
    assert seen("many") == "" and seen("one_a") == ""


def test_bad_front_matter_is_reported_before_running(tmp_path, capsys):
    root = make_book(tmp_path / "book", {"a": section("A", cell("print(1)"), front="gpus: lots")},
                     tabs="pytorch")
    assert run_eval(root) == 1
    assert "a.md:1: error: front matter: 'gpus' must be a whole number" in capsys.readouterr().err
    assert not (root / "_build" / "eval" / "summary.json").exists()


def test_quick_mode_is_marked_and_cached_apart(tmp_path, monkeypatch):
    root = make_book(tmp_path / "book", {
        "a": section("A", cell("import os\nprint(os.environ.get('D2L_QUICK'))"))}, tabs="pytorch")
    monkeypatch.delenv("D2L_QUICK", raising=False)
    assert run_eval(root, "--quick", "--no-warm-kernels") == 0
    nb = executed(root, "pytorch", "a")
    assert nb["metadata"]["d2l"]["quick"] is True and outputs_text(nb).strip() == "1"
    assert summary(root)["quick"] is True
    assert run_eval(root, "--no-warm-kernels") == 0  # a full build never takes a quick result
    nb = executed(root, "pytorch", "a")
    assert ran(root) == {("a", "pytorch")}
    assert nb["metadata"]["d2l"]["quick"] is False and outputs_text(nb).strip() == "None"
    monkeypatch.setenv("D2L_QUICK", "1")  # the variable means --quick
    assert run_eval(root, "--no-warm-kernels") == 0
    assert statuses(root)[("a", "pytorch")] == "cached"
    assert executed(root, "pytorch", "a")["metadata"]["d2l"]["quick"] is True
    keys = {p.stem for p in (root / "_build" / "cache" / "pytorch" / "a").glob("*.json")}
    assert len(keys) == 2


def test_usage_errors(tmp_path, capsys):
    root = make_book(tmp_path / "book", {"a": section("A", cell("print(1)"))}, tabs="pytorch")
    for args in (["--shard", "3/2"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as e:
            run_eval(root, *args)
        assert e.value.code == 2
    assert run_eval(root, "--only", "nowhere") == 1
    assert "--only: no section 'nowhere'" in capsys.readouterr().err
    assert run_eval(root, "--tab", "mxnet") == 1
    assert re.search(r"unknown tab mxnet", capsys.readouterr().err)


def test_section_settings_from_front_matter(tmp_path):
    from d2lbuild.book import Book
    from d2lbuild.config import load_config
    from d2lbuild.engine import section_settings

    root = make_book(tmp_path / "book", {
        "plain": section("P", cell("1")),
        "long_cells": section("L", cell("1"), front="gpus: 2\ntimeout: 5000"),
        "both": section("B", cell("1"), front="timeout: 20\nnotebook_timeout: 30"),
        "bad": section("X", cell("1"), front="timeout: soon\nnotebook_timeout: -1"),
    }, tabs="pytorch", cell_timeout=60, notebook_timeout=300)
    book = Book.load(load_config(root))
    assert section_settings(book, "plain") == (0, 60.0, 300.0, [])
    assert section_settings(book, "long_cells") == (2, 5000.0, 5000.0, [])
    assert section_settings(book, "both") == (0, 20.0, 30.0, [])
    problems = [(p.path, p.line, p.message) for p in section_settings(book, "bad")[3]]
    assert problems == [
        ("bad.md", 1, "front matter: 'timeout' must be a positive number of seconds, got 'soon'"),
        ("bad.md", 1, "front matter: 'notebook_timeout' must be a positive number of seconds, got -1")]
