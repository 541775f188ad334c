"""make pkg: notebook zips per framework, Colab variants, and the d2l wheel in a fresh venv."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, load, run_cli
from d2lbuild.package import build_bundles, colab_notebook

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="module")
def evaluated_corpus(tmp_path_factory):
    """The sample book after a full eval, so bundles carry outputs."""
    root = tmp_path_factory.mktemp("pkg") / "corpus"
    shutil.copytree(CORPUS, root)
    prose = root / "chapter_basics/prose.md"
    prose.write_text("---\ngpus: 1\n---\n" + prose.read_text())
    result = run_cli(root, "eval", "--jobs", "2", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def unpack(path: Path, into: Path) -> Path:
    with zipfile.ZipFile(path) as z:
        z.extractall(into)
    return into


def test_bundles_hold_every_notebook_with_outputs_and_images(evaluated_corpus, tmp_path):
    result = run_cli(evaluated_corpus, "pkg", "--no-library")
    assert result.returncode == 0, result.stderr
    for tab in ("mxnet", "pytorch"):
        zip_path = evaluated_corpus / f"_build/pkg/corpus-{tab}.zip"
        with zipfile.ZipFile(zip_path) as z:
            names = z.namelist()
            notebooks = [n for n in names if n.endswith(".ipynb")]
            assert sorted(notebooks) == sorted(f"corpus-{tab}/{d}.ipynb" for d in
                                               ("index", "preface", "chapter_basics/index",
                                                "chapter_basics/cells", "chapter_basics/prose"))
            for name in notebooks:
                nb = nbformat.reads(z.read(name).decode(), 4)
                nbformat.validate(nb)
                assert nb.metadata["d2l"]["tab"] == tab and "eval" not in nb.metadata["d2l"]
            cells = nbformat.reads(z.read(f"corpus-{tab}/chapter_basics/cells.ipynb").decode(), 4)
            assert all(c.execution_count for c in cells.cells if c.cell_type == "code")  # executed
            # Every image a notebook shows is in the zip, where its relative link points.
            assert f"corpus-{tab}/img/boxes.svg" in names
    # One unpacked notebook runs with plain Jupyter tooling, d2l importable as a package.
    folder = unpack(evaluated_corpus / "_build/pkg/corpus-pytorch.zip", tmp_path) / "corpus-pytorch"
    env = {**os.environ, "PYTHONPATH": str(evaluated_corpus)}
    run = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                          "--output", "executed.ipynb", str(folder / "chapter_basics/cells.ipynb")],
                         capture_output=True, text=True, env=env, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    executed = nbformat.read(folder / "chapter_basics/executed.ipynb", 4)
    assert all(not any(o.output_type == "error" for o in c.get("outputs", []))
               for c in executed.cells if c.cell_type == "code")


def test_quick_build_outputs_are_never_shipped(evaluated_corpus):
    result = run_cli(evaluated_corpus, "eval", "--jobs", "2", "--quick", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    build_bundles(load(evaluated_corpus))
    with zipfile.ZipFile(evaluated_corpus / "_build/pkg/corpus-mxnet.zip") as z:
        nb = nbformat.reads(z.read("corpus-mxnet/chapter_basics/cells.ipynb").decode(), 4)
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")


def test_outputs_of_older_code_are_not_shipped(evaluated_corpus):
    cells = evaluated_corpus / "chapter_basics/cells.md"
    original = cells.read_text()
    try:
        cells.write_text(original.replace("assert add(2, 3) == 5", "assert add(2, 3) == 5\nprint('new')"))
        book = load(evaluated_corpus)
        from d2lbuild.notebooks import build_notebooks
        build_notebooks(book)
        build_bundles(book)
        with zipfile.ZipFile(evaluated_corpus / "_build/pkg/corpus-pytorch.zip") as z:
            nb = nbformat.reads(z.read("corpus-pytorch/chapter_basics/cells.ipynb").decode(), 4)
        assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    finally:
        cells.write_text(original)


def test_colab_notebooks_install_the_library_and_use_absolute_images(evaluated_corpus):
    config = evaluated_corpus / "config.ini"
    config.write_text(config.read_text() + "\n[colab]\nlibs = mxnet, mxnet==1.9.1 numpy<1.24\n"
                      "    pytorch, torch\n    pandas, pandas\nreplace_svg_url = img, https://example.org/book/img\n")
    book = load(evaluated_corpus)
    build_bundles(book)
    with zipfile.ZipFile(evaluated_corpus / "_build/pkg/corpus-mxnet-colab.zip") as z:
        cells = nbformat.reads(z.read("corpus-mxnet-colab/chapter_basics/cells.ipynb").decode(), 4)
        prose = nbformat.reads(z.read("corpus-mxnet-colab/chapter_basics/prose.ipynb").decode(), 4)
        assert not any(n.endswith(".svg") for n in z.namelist())
    first = cells.cells[0]
    assert first.cell_type == "code"
    assert first.source.endswith('!pip install "d2l==0.3.1" "mxnet==1.9.1" "numpy<1.24"')
    text = "\n".join(c.source for c in prose.cells if c.cell_type == "markdown")
    assert "](https://example.org/book/img/boxes.svg)" in text
    assert prose.metadata["accelerator"] == "GPU"       # the section declares gpus: 1
    assert "accelerator" not in cells.metadata
    torch_nb = colab_notebook(book, "chapter_basics/cells", "pytorch",
                              nbformat.read(evaluated_corpus / "_build/notebooks/pytorch/chapter_basics/cells.ipynb", 4))
    assert torch_nb.cells[0].source.endswith('!pip install "d2l==0.3.1" "torch"')


def fresh_venv(path: Path, packages: list[str]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    result = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return python


def test_wheel_installs_and_imports_with_only_its_framework(tmp_path):
    out = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist",
                            "--outdir", str(out), str(REPO)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    release = load(REPO).config.release
    wheel = out / f"d2l-{release}-py3-none-any.whl"
    assert wheel.exists() and (out / f"d2l-{release}.tar.gz").exists()
    with zipfile.ZipFile(wheel) as z:
        assert {"d2l/__init__.py", "d2l/torch.py", "d2l/mxnet.py"} <= set(z.namelist())
        assert not any(n.startswith(("d2lbuild", "tests", "chapters")) for n in z.namelist())
    checks = {
        "torch": "import d2l; from d2l import torch as d2l_t; print(d2l.__version__)",
        "mxnet": "import d2l; from d2l import mxnet as d2l_m; print(d2l.__version__)",
    }
    for framework, extra in (("torch", "torch==2.13.0"), ("mxnet", "mxnet==1.9.1")):
        python = fresh_venv(tmp_path / framework, [str(wheel), extra, "numpy==1.23.5"])
        ok = subprocess.run([str(python), "-c", checks[framework]], capture_output=True, text=True,
                            cwd=tmp_path)
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert ok.stdout.strip() == release
        other = "mxnet" if framework == "torch" else "torch"
        missing = subprocess.run([str(python), "-c", f"import {other}"], capture_output=True, text=True)
        assert missing.returncode != 0  # the other framework really is absent
        assert subprocess.run([str(python), "-c", "import d2lbuild"], capture_output=True).returncode != 0
