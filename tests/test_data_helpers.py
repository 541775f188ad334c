"""The library's data helpers: cache, checksums, the mirror, and safe extraction."""

import hashlib
import importlib
import io
import os
import tarfile
import zipfile

import pytest

from conftest import REPO
from d2lbuild.fixtures import build_mirror


@pytest.fixture
def d2l(monkeypatch, tmp_path):
    """The repository's torch library, with a private data folder and no mirror."""
    monkeypatch.syspath_prepend(str(REPO))
    module = importlib.import_module("d2l.torch")
    monkeypatch.setattr(module, "DATA_HUB", {})
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("D2L_DATA_MIRROR", raising=False)
    return module


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_download_from_a_local_source_is_cached_and_verified(d2l, tmp_path, capsys):
    source = tmp_path / "remote" / "numbers.csv"
    source.parent.mkdir()
    source.write_bytes(b"a,b\n1,2\n")
    d2l.DATA_HUB["numbers"] = (str(source), sha1(source.read_bytes()))
    path = d2l.download("numbers")
    assert open(path, "rb").read() == b"a,b\n1,2\n"
    assert "Downloading" in capsys.readouterr().out
    assert d2l.download("numbers") == path              # second call: from the cache
    assert "Downloading" not in capsys.readouterr().out


def test_md5_checksums_work_too(d2l, tmp_path):
    source = tmp_path / "images.gz"
    source.write_bytes(b"\x1f\x8b fake")
    d2l.DATA_HUB["images"] = (str(source), hashlib.md5(source.read_bytes()).hexdigest())
    assert os.path.exists(d2l.download("images"))


def test_checksum_mismatch_is_a_clear_error_and_keeps_nothing(d2l, tmp_path):
    source = tmp_path / "file.txt"
    source.write_bytes(b"new contents")
    d2l.DATA_HUB["file"] = (str(source), "0" * 40)
    with pytest.raises(ValueError, match=r"has sha1 [0-9a-f]{40}, expected 0{40}; nothing was kept"):
        d2l.download("file")
    assert not any((tmp_path / "data").iterdir())


def test_damaged_cached_file_is_reported_not_silently_replaced(d2l, tmp_path):
    source = tmp_path / "file.txt"
    source.write_bytes(b"contents")
    d2l.DATA_HUB["file"] = (str(source), sha1(b"contents"))
    path = d2l.download("file")
    with open(path, "wb") as f:
        f.write(b"damaged")
    with pytest.raises(ValueError, match="damaged or is another version; delete it"):
        d2l.download("file")


def test_mirror_serves_fixtures_under_their_real_names(d2l, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    build_mirror(mirror)
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    d2l.DATA_HUB["kaggle_house_train"] = (
        d2l.DATA_URL + "kaggle_house_pred_train.csv", "585e9cc93e70b39160e7921475f9bcd7d31219ce")
    path = d2l.download("kaggle_house_train")
    assert os.path.basename(path) == "kaggle_house_pred_train.csv"
    assert "mirror-" in path  # fixtures never land where real data would
    assert open(path, "rb").read() == (mirror / "kaggle_house_pred_train.csv").read_bytes()
    d2l.DATA_HUB["missing"] = (d2l.DATA_URL + "not_there.zip", "1" * 40)
    with pytest.raises(FileNotFoundError, match="not in the data mirror"):
        d2l.download("missing")


def test_mirror_archives_extract(d2l, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    build_mirror(mirror)
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    d2l.DATA_HUB["fra-eng"] = (d2l.DATA_URL + "fra-eng.zip", "94646ad1522d915e7b0f9296181140edcf86a4f5")
    folder = d2l.download_extract("fra-eng")
    assert os.path.isfile(os.path.join(folder, "fra.txt"))


def archive(kind: str, members: dict, links: dict | None = None) -> bytes:
    links = links or {}
    out = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(out, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
    else:
        with tarfile.open(fileobj=out, mode="w:gz") as t:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            for name, target in links.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, target
                t.addfile(info)
    return out.getvalue()


@pytest.mark.parametrize("kind, members, links", [
    ("zip", {"../escape.txt": b"x"}, {}),
    ("zip", {"/etc/owned.txt": b"x"}, {}),
    ("tar.gz", {"ok/../../escape.txt": b"x"}, {}),
    ("tar.gz", {"/abs.txt": b"x"}, {}),
    ("tar.gz", {"ok/a.txt": b"x"}, {"ok/link": "../../outside"}),
    ("tar.gz", {"ok/a.txt": b"x"}, {"ok/link": "/etc/passwd"}),
])
def test_unsafe_archives_are_refused(d2l, tmp_path, kind, members, links):
    data = archive(kind, members, links)
    source = tmp_path / f"bad.{kind}"
    source.write_bytes(data)
    d2l.DATA_HUB["bad"] = (str(source), sha1(data))
    with pytest.raises(ValueError, match="unsafe archive member"):
        d2l.download_extract("bad")
    assert not (tmp_path / "escape.txt").exists()
    extracted = [p for p in (tmp_path / "data").rglob("*") if p.name != f"bad.{kind}"]
    assert extracted == []  # nothing was written


def test_safe_archive_extracts_into_its_folder(d2l, tmp_path):
    data = archive("tar.gz", {"pack/a.txt": b"alpha", "pack/sub/b.txt": b"beta"}, {"pack/l": "a.txt"})
    source = tmp_path / "pack.tar.gz"
    source.write_bytes(data)
    d2l.DATA_HUB["pack"] = (str(source), sha1(data))
    folder = d2l.download_extract("pack")
    assert folder.endswith("pack")
    assert open(os.path.join(folder, "sub", "b.txt")).read() == "beta"


def test_both_libraries_define_the_same_helpers():
    torch_text = (REPO / "d2l/torch.py").read_text()
    mxnet_text = (REPO / "d2l/mxnet.py").read_text()
    for name in ("DATA_HUB", "DATA_URL", "def download(", "def download_extract(", "def download_all("):
        assert name in torch_text and name in mxnet_text
