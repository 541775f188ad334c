"""check: every kind of problem reported in one run as file:line, non-zero exit, no traceback."""

from pathlib import Path


from conftest import REPO, run_cli

def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def line_of(path: Path, needle: str) -> int:
    return next(i for i, l in enumerate(path.read_text().splitlines(), 1) if needle in l)


def test_clean_corpus_passes(corpus):
    result = run_cli(corpus, "check")
    assert result.returncode == 0, result.stderr
    assert "5 documents, no errors" in result.stdout


def test_every_problem_is_reported_in_one_run(corpus):
    prose = corpus / "chapter_basics/prose.md"
    append(prose, "\n".join([
        "",
        "See :numref:`sec_nowhere` and :eqref:`sec_cells` and :ref:`fig_boxez`.",  # 3 bad refs
        "",
        "![Missing.](../img/missing.svg)",
        "",
        "Cited :cite:`Nobody.2020`.",
        "",
        "# Duplicate",
        ":label:`sec_cells`",
        "",
        "```{.python .input}",
        "#@tab jax",
        "x = 1",
        "```",
        "",
        "```{.json .output n=2}",
        "[]",
        "```",
        "",
        "```{.python .input}",
        "never_closed = True",
        "",
    ]))
    (corpus / "orphan.md").write_text("# Orphan\n")
    result = run_cli(corpus, "check")
    assert result.returncode == 1
    err = result.stderr
    assert "Traceback" not in err
    f = "chapter_basics/prose.md"
    expected = [
        f"{f}:{line_of(prose, 'sec_nowhere')}: error: unresolved :numref: target 'sec_nowhere'",
        f"{f}:{line_of(prose, 'sec_nowhere')}: error: :eqref: target 'sec_cells' is not an equation",
        f"{f}:{line_of(prose, 'fig_boxez')}: error: unresolved :ref: target 'fig_boxez'",
        "hint: did you mean 'fig_boxes'?",
        f"{f}:{line_of(prose, 'missing.svg')}: error: image '../img/missing.svg' does not exist",
        f"{f}:{line_of(prose, 'Nobody')}: error: citation key 'Nobody.2020' is not in d2l.bib",
        f"{f}:{line_of(prose, ':label:`sec_cells`')}: error: duplicate label 'sec_cells'",
        "first defined at chapter_basics/cells.md:2",
        f"{f}:{line_of(prose, '#@tab jax')}: error: unknown tab 'jax'",
        f"{f}:{line_of(prose, '.output')}: error: stored output in the source",
        f"{f}:{line_of(prose, 'never_closed') - 1}: error: code fence '```' is never closed",
        "orphan.md: error: section is not reachable from the table of contents",
    ]
    for message in expected:
        assert message in err, f"missing: {message}\n---\n{err}"
    assert "error(s)" in err


def test_toc_entry_without_file_and_bad_save_mark(corpus):
    append(corpus / "chapter_basics/index.md", "\n```toc\nmissing_section\n```\n")
    append(corpus / "chapter_basics/cells.md", "\n```{.python .input}\n#@tab all\ndef f():\n    #@save\n    pass\n```\n")
    result = run_cli(corpus, "check")
    assert result.returncode == 1
    assert f"chapter_basics/index.md:{line_of(corpus / 'chapter_basics/index.md', 'missing_section')}: error: toc entry 'missing_section' names no file" in result.stderr
    line = line_of(corpus / "chapter_basics/cells.md", "    #@save")
    assert f"chapter_basics/cells.md:{line}: error: an indented '#@save' line saves nothing" in result.stderr
    # The cell belongs to one tab; a problem is counted once however many tabs share it.
    assert "check: 2 error(s)" in result.stderr


def test_bad_config_is_a_message_not_a_traceback(corpus):
    (corpus / "config.ini").write_text("[build]\ntabs = mxnet\neval_notebook = perhaps\n")
    for stage in ("check", "lib", "notebooks"):
        result = run_cli(corpus, stage)
        assert result.returncode == 1
        assert "config.ini:3: [build] eval_notebook: expected True or False" in result.stderr
        assert "Traceback" not in result.stderr


def test_notebooks_refuse_sources_with_errors(corpus):
    append(corpus / "preface.md", "\nSee :numref:`nope`.\n")
    result = run_cli(corpus, "notebooks")
    assert result.returncode == 1
    assert "preface.md:" in result.stderr and "unresolved :numref: target 'nope'" in result.stderr
    assert not (corpus / "_build/notebooks").exists()


def test_unknown_tab_option_is_rejected(corpus):
    result = run_cli(corpus, "notebooks", "--tab", "jax")
    assert result.returncode == 1 and "unknown tab jax" in result.stderr


def test_the_books_own_chapters_are_clean():
    result = run_cli(REPO, "check")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
