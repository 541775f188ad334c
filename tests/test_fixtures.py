"""The fixture mirror: real formats, checksums in the manifest, same bytes every run."""

import csv
import gzip
import hashlib
import io
import json
import struct
import tarfile
import zipfile

import numpy as np
import pytest

from d2lbuild.fixtures import HOUSE_COLUMNS, build_mirror


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirror")
    build_mirror(out)
    return out


def read_idx(path):
    data = gzip.open(path).read()
    magic = struct.unpack(">I", data[:4])[0]
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return magic, np.frombuffer(data[4 + 4 * dims:], np.uint8).reshape(shape)


def test_manifest_lists_every_file_with_its_checksums(mirror):
    manifest = json.loads((mirror / "manifest.json").read_text())
    names = {p.name for p in mirror.iterdir()} - {"manifest.json"}
    assert manifest["generator"]
    assert set(manifest["files"]) == names
    for name, entry in manifest["files"].items():
        data = (mirror / name).read_bytes()
        assert entry["sha1"] == hashlib.sha1(data).hexdigest()
        assert entry["md5"] == hashlib.md5(data).hexdigest()
        assert entry["size"] == len(data)


def test_same_bytes_every_run(mirror, tmp_path):
    build_mirror(tmp_path)
    for path in mirror.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_fashion_mnist_is_idx_and_learnable(mirror):
    magic, images = read_idx(mirror / "train-images-idx3-ubyte.gz")
    label_magic, labels = read_idx(mirror / "train-labels-idx1-ubyte.gz")
    assert (magic, label_magic) == (0x803, 0x801)
    assert images.shape[1:] == (28, 28) and labels.shape == images.shape[:1]
    assert set(np.unique(labels)) == set(range(10))
    _, test_images = read_idx(mirror / "t10k-images-idx3-ubyte.gz")
    _, test_labels = read_idx(mirror / "t10k-labels-idx1-ubyte.gz")
    # A few steps of softmax regression beat chance by far: the classes differ.
    X = images.reshape(len(images), -1) / 255.0
    W = np.zeros((784, 10))
    for _ in range(60):
        Z = X @ W
        P = np.exp(Z - Z.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        P[np.arange(len(labels)), labels] -= 1
        W -= 0.1 * X.T @ P / len(labels)
    accuracy = ((test_images.reshape(len(test_images), -1) / 255.0 @ W).argmax(1) == test_labels).mean()
    assert 0.4 < accuracy < 1.0


def test_house_prices_have_the_competition_columns(mirror):
    train = list(csv.reader(io.StringIO((mirror / "kaggle_house_pred_train.csv").read_text())))
    test = list(csv.reader(io.StringIO((mirror / "kaggle_house_pred_test.csv").read_text())))
    assert len(HOUSE_COLUMNS) == 81
    assert train[0] == HOUSE_COLUMNS and test[0] == HOUSE_COLUMNS[:-1]
    assert all(len(row) == 81 for row in train[1:]) and all(len(row) == 80 for row in test[1:])
    assert any("NA" in row for row in train[1:])  # missing values, written as Kaggle writes them
    ids = [int(row[0]) for row in train[1:] + test[1:]]
    assert ids == list(range(1, len(ids) + 1))


def test_archives_hold_the_real_layout(mirror):
    with zipfile.ZipFile(mirror / "fra-eng.zip") as z:
        lines = z.read("fra-eng/fra.txt").decode().splitlines()
    assert all(line.count("\t") == 2 for line in lines)
    with zipfile.ZipFile(mirror / "ptb.zip") as z:
        assert sorted(z.namelist()) == ["ptb/ptb.test.txt", "ptb/ptb.train.txt", "ptb/ptb.valid.txt"]
    with tarfile.open(mirror / "aclImdb_v1.tar.gz") as t:
        names = t.getnames()
    assert any(n.startswith("aclImdb/train/pos/") for n in names)
    assert any(n.startswith("aclImdb/test/neg/") for n in names)
    rows = (mirror / "airfoil_self_noise.dat").read_text().splitlines()
    assert len(rows) == 1503 and all(len(r.split("\t")) == 6 for r in rows)


def test_a_complete_mirror_is_reused_and_a_damaged_one_rebuilt(tmp_path):
    first = build_mirror(tmp_path)
    stamp = (tmp_path / "ptb.zip").stat().st_mtime_ns
    assert build_mirror(tmp_path, reuse=True) == first
    assert (tmp_path / "ptb.zip").stat().st_mtime_ns == stamp  # nothing rewritten
    (tmp_path / "ptb.zip").unlink()
    build_mirror(tmp_path, reuse=True)
    assert (tmp_path / "ptb.zip").exists()
