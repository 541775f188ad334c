"""Choosing the data source of a build: real addresses, a given mirror, or fixtures."""

import pytest

from conftest import load
from d2lbuild import datasource


@pytest.fixture
def book(book_dir):
    return load(book_dir({"index.md": "# Home\n"}))


def test_a_given_mirror_is_respected(book, tmp_path):
    env = {"D2L_DATA_MIRROR": str(tmp_path)}
    assert "from D2L_DATA_MIRROR" in datasource.choose_data_source(book, "auto", env)
    assert env["D2L_DATA_MIRROR"] == str(tmp_path)


def test_unreachable_origin_falls_back_to_fixtures(book, monkeypatch, capsys):
    monkeypatch.setattr(datasource, "origin_reachable", lambda timeout=3.0: False)
    env = {}
    assert "generated fixtures" in datasource.choose_data_source(book, "auto", env)
    mirror = book.config.build_dir / "data-mirror"
    assert env["D2L_DATA_MIRROR"] == str(mirror) and (mirror / "manifest.json").is_file()
    assert "cannot be reached" in capsys.readouterr().err


def test_reachable_origin_is_used(book, monkeypatch):
    monkeypatch.setattr(datasource, "origin_reachable", lambda timeout=3.0: True)
    env = {}
    assert "real addresses" in datasource.choose_data_source(book, "auto", env)
    assert "D2L_DATA_MIRROR" not in env


def test_explicit_modes(book):
    env = {"D2L_DATA_MIRROR": "/somewhere"}
    datasource.choose_data_source(book, "origin", env)
    assert "D2L_DATA_MIRROR" not in env
    datasource.choose_data_source(book, "fixtures", env)
    assert env["D2L_DATA_MIRROR"].endswith("data-mirror")
    with pytest.raises(ValueError):
        datasource.choose_data_source(book, "cloud", env)
