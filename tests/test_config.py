"""config.ini: d2lbook keys, multi-line values, warnings and errors that name the key."""

import pytest

from d2lbuild.config import load_config
from d2lbuild.diagnostics import BuildError


def test_reads_d2lbook_keys_and_multiline_values(book_dir):
    root = book_dir({"index.md": "# Home\n"}, config="""\
        [project]
        name = mybook
        title = My Book
        release = 2.0.0

        [build]
        tabs = mxnet, pytorch
        notebooks = *.md */*.md
        resources = img/ d2l.bib
        eval_notebook = False

        [library-pytorch]
        lib_file = d2l/torch.py
        lib_name = torch
        simple_alias = ones, zeros,
            concat -> cat
        fluent_alias = numpy -> detach().numpy
        alias = size = lambda a: a.numel()
            transpose = lambda a: a.t()
        reverse_alias = d2l\\.ones\\( -> torch.ones(
            d2l\\.zeros, -> torch.zeros,
        """.replace("        ", ""))
    config = load_config(root)
    assert config.name == "mybook" and config.release == "2.0.0"
    assert config.tabs == ["mxnet", "pytorch"] and config.default_tab == "mxnet"
    assert config.notebooks == ["*.md", "*/*.md"]
    assert config.resources == ["img/", "d2l.bib"]
    assert config.eval_notebook is False
    lib = config.libraries["pytorch"]
    assert lib.simple_alias == (("ones", "ones"), ("zeros", "zeros"), ("concat", "cat"))
    assert lib.fluent_alias == (("numpy", "detach().numpy"),)
    assert lib.alias == ("size = lambda a: a.numel()", "transpose = lambda a: a.t()")
    # One rewrite per line, so a pattern may hold a comma.
    assert lib.reverse_alias == ((r"d2l\.ones\(", "torch.ones("), (r"d2l\.zeros,", "torch.zeros,"))
    assert config.warnings == []


def test_unknown_keys_and_sections_are_warned_with_their_line(book_dir):
    root = book_dir({"index.md": "# Home\n"}, config="[project]\nname = b\ncolour = blue\n\n[extras]\nx = 1\n")
    config = load_config(root)
    messages = [(w.line, w.message) for w in config.warnings]
    assert (3, "unknown key 'colour' in [project] is ignored") in messages
    assert (5, "unknown section [extras] is ignored") in messages
    assert all(w.severity == "warning" for w in config.warnings)


@pytest.mark.parametrize("text, expected", [
    ("[build]\ntabs = a\n  b = \n[[oops\n", "config.ini:4"),
    ("name = x\n", "config.ini:1: a key comes before any [section] header"),
    ("[build]\ntabs = a\ntabs = b\n", "config.ini:3: key 'tabs' is set twice in [build]"),
    ("[build]\neval_notebook = maybe\n", "config.ini:2: [build] eval_notebook: expected True or False"),
    ("[build]\ntabs = mxnet, mxnet\n", "[build] tabs: a tab is listed twice"),
    ("[build]\ntabs = mxnet\n[library-jax]\nlib_file = d2l/jax.py\n",
     "config.ini:3: [library-jax] : there is no tab 'jax'"),
    ("[build]\ntabs = torch\n[library-torch]\nlib_file = d.py\nsimple_alias = a -> \n",
     "config.ini:5: [library-torch] simple_alias: cannot read 'a ->'"),
    ("[build]\ntabs = torch\n[library-torch]\nlib_file = d.py\nreverse_alias = ([ -> x\n",
     "[library-torch] reverse_alias: bad regular expression"),
    ("[execute]\ncell_timeout = soon\n", "config.ini:2: [execute] cell_timeout: expected a number"),
    ("[project]\nrelease = latest\n", "[project] release: expected a version"),
    ("[build]\nsource_dir = nowhere\n", "[build] source_dir: folder 'nowhere' does not exist"),
])
def test_malformed_configuration_is_a_clear_error(book_dir, text, expected):
    root = book_dir({"index.md": "# Home\n"}, config=text)
    with pytest.raises(BuildError) as info:
        load_config(root)
    assert expected in str(info.value)


def test_missing_config_says_where_it_looked(tmp_path):
    with pytest.raises(BuildError, match="no config.ini here"):
        load_config(tmp_path)
