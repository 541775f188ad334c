"""``changed --since REV`` on small git histories made in a temporary folder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from evalbook import cell, make_book, section, write_section

LIBRARY = section("Library", cell('''
    def scale(x):  #@save
        return 2 * x

    def shift(x):  #@save
        return scale(x) + 1

    def unrelated(x):  #@save
        return -x
    ''', "all"))

USES_SCALE = section("Uses scale", cell("from d2l import torch as d2l\nd2l.scale(3)", "pytorch"),
                     cell("from d2l import mxnet as d2l\nd2l.scale(3)"))
USES_SHIFT = section("Uses shift", cell("from d2l import torch as d2l\nd2l.shift(3)", "pytorch"))
USES_OTHER = section("Uses unrelated", cell("from d2l import torch as d2l\nd2l.unrelated(3)", "pytorch"))
NO_LIBRARY = section("Plain", cell("x = 1\nx", "all"), prose="Some plain prose.")

SECTIONS = {"lib": LIBRARY, "scale": USES_SCALE, "shift": USES_SHIFT, "other": USES_OTHER,
            "plain": NO_LIBRARY}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.org",
                           "-c", "commit.gpgsign=false", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path) -> Path:
    root = make_book(tmp_path / "repo", SECTIONS)
    git(root, "init", "-q", "-b", "main")
    commit(root, "the book")
    return root


def changed(root: Path, since: str = "HEAD~1", *extra: str) -> list[str]:
    done = run_cli(root, "changed", "--since", since, *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / f"{name}.md"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_prose_only_change_affects_nothing(repo):
    edit(repo, "plain", "Some plain prose.", "Some plainer prose,\nover two lines.")
    edit(repo, "scale", "# Uses scale", "# Uses the scale function")
    commit(repo, "prose")
    assert changed(repo) == []


def test_a_sections_code_change_affects_that_section(repo):
    edit(repo, "plain", "x = 1", "x = 2")
    commit(repo, "code")
    assert changed(repo) == ["plain\tmxnet,pytorch"]
    assert changed(repo, "HEAD~1", "--names") == ["plain"]
    assert changed(repo, "HEAD~1", "--tab", "mxnet") == ["plain\tmxnet"]


def test_one_tab_code_change_affects_that_tab(repo):
    edit(repo, "scale", "from d2l import torch as d2l\nd2l.scale(3)", "from d2l import torch as d2l\nd2l.scale(4)")
    commit(repo, "pytorch code")
    assert changed(repo) == ["scale\tpytorch"]


def test_library_change_reaches_its_users_and_the_defining_section(repo):
    edit(repo, "lib", "return 2 * x", "return 3 * x")
    commit(repo, "library")
    # scale uses scale directly, shift through shift -> scale; other and plain do not
    assert changed(repo) == ["lib\tmxnet,pytorch", "scale\tmxnet,pytorch", "shift\tpytorch"]
    done = run_cli(repo, "changed", "--since", "HEAD~1", "--json")
    data = json.loads(done.stdout)
    reasons = {s["docname"]: s["reasons"] for s in data["sections"]}
    assert reasons == {"lib": {"mxnet": ["code"], "pytorch": ["code"]},
                       "scale": {"mxnet": ["library"], "pytorch": ["library"]},
                       "shift": {"pytorch": ["library"]}}
    assert data["since"] == "HEAD~1" and data["sections"][0]["source"] == "lib.md"


def test_uncommitted_edits_and_new_sections_count(repo):
    write_section(repo, "fresh", section("Fresh", cell("print('new')", "pytorch")))
    index = repo / "index.md"
    index.write_text(index.read_text().replace("plain\n", "plain\nfresh\n"))
    assert changed(repo, "HEAD") == ["fresh\tpytorch"]


def test_compares_with_the_merge_base(repo):
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, "plain", "x = 1", "x = 5")
    commit(repo, "feature code")
    git(repo, "checkout", "-q", "main")
    edit(repo, "other", "d2l.unrelated(3)", "d2l.unrelated(4)")
    commit(repo, "main moved on")
    git(repo, "checkout", "-q", "feature")
    # main's own change to "other" is not the feature branch's doing
    assert changed(repo, "main") == ["plain\tmxnet,pytorch"]


def test_book_in_a_subfolder_of_the_repository(tmp_path):
    top = tmp_path / "top"
    root = make_book(top / "book", SECTIONS)
    (top / "README.md").write_text("not part of the book\n")
    git(top, "init", "-q")
    commit(top, "one")
    edit(root, "lib", "return -x", "return x")
    (top / "README.md").write_text("changed too\n")
    commit(top, "two")
    assert changed(root) == ["lib\tmxnet,pytorch", "other\tpytorch"]


def test_bad_revision_is_reported(repo):
    done = run_cli(repo, "changed", "--since", "no-such-branch")
    assert done.returncode == 1 and "no such revision" in done.stderr


def test_outside_a_repository(tmp_path):
    root = make_book(tmp_path / "plain", SECTIONS)
    done = run_cli(root, "changed", "--since", "HEAD")
    assert done.returncode == 1 and "not in a git repository" in done.stderr
