"""A fixture mirror of the book's data sets: small files in each data set's real format.

The machines that build the book in CI cannot reach the internet, so the library's download
helpers can read from a mirror (``D2L_DATA_MIRROR``): a folder holding files under the names
they have at their real addresses, and ``manifest.json`` listing each file's SHA-1 and MD5.
The files here are generated, deterministic (same bytes every run) and learnable where the
book trains on them (Fashion-MNIST classes differ by a pattern each, house prices depend on
the features), so training sections show loss falling even offline.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import struct
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from .fsutil import atomic_write

MANIFEST = "manifest.json"
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _gzip(data: bytes) -> bytes:
    """gzip with a fixed timestamp and no file name, so the bytes never change."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as f:
        f.write(data)
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return out.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    return _gzip(raw.getvalue())


# -- Fashion-MNIST: gzip IDX files ------------------------------------------------------------

def idx_images(images: np.ndarray) -> bytes:
    """IDX3 unsigned-byte format: magic 0x00000803, count, rows, columns, then pixels."""
    count, rows, cols = images.shape
    return struct.pack(">IIII", 0x0803, count, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    """IDX1 unsigned-byte format: magic 0x00000801, count, then labels."""
    return struct.pack(">II", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes()


def class_templates() -> np.ndarray:
    """Ten 28x28 shapes, one per class, each unlike the others."""
    yy, xx = np.mgrid[0:28, 0:28]
    t = np.zeros((10, 28, 28))
    t[0] = (abs(xx - 14) < 9) & (yy > 5) & (yy < 24) | (yy < 10) & (abs(xx - 14) < 13)  # shirt
    t[1] = (abs(xx - 10) < 3) | (abs(xx - 18) < 3)                                      # trouser
    t[2] = (abs(xx - 14) < 11) & (yy > 4) & (yy < 22)                                   # pullover
    t[3] = (abs(xx - 14) < 3 + yy / 3) & (yy > 2)                                       # dress
    t[4] = ((abs(xx - 14) < 12) & (yy > 3)) & ~((abs(xx - 14) < 1) & (yy > 8))          # coat
    t[5] = (yy > 18) & (yy < 23) | (abs(xx - yy) < 2) & (yy > 8)                        # sandal
    t[6] = (abs(xx - 14) < 10) & (yy > 3) & ((xx + yy) % 6 < 3)                         # shirt (striped)
    t[7] = (yy > 14) & (yy < 22) & (xx > 3) & (xx < 25 - (22 - yy))                     # sneaker
    t[8] = ((abs(xx - 14) < 10) & (yy > 10) & (yy < 25)) | ((abs(yy - 8) < 2) & (abs(xx - 14) < 5))  # bag
    t[9] = ((yy > 16) & (yy < 24) & (xx > 2) & (xx < 26)) | ((xx > 14) & (xx < 22) & (yy > 4))       # boot
    return t.astype(float)


def fashion_mnist(n_train: int = 3000, n_test: int = 600, seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    templates = class_templates()
    files = {}
    for split, count in (("train", n_train), ("test", n_test)):
        labels = np.arange(count) % 10
        rng.shuffle(labels)
        shift = rng.integers(-3, 4, size=(count, 2))
        others = rng.integers(0, 10, count)
        images = np.empty((count, 28, 28))
        for i, (label, other, (dy, dx)) in enumerate(zip(labels, others, shift)):
            # Mixing in another class's shape makes some images ambiguous, as real ones are.
            mixed = 0.6 * templates[label] + 0.4 * templates[other]
            images[i] = np.roll(mixed, (dy, dx), axis=(0, 1))
        images = images * rng.uniform(120, 255, size=(count, 1, 1)) + rng.normal(0, 90, images.shape)
        image_name, label_name = FASHION_FILES[split]
        files[image_name] = _gzip(idx_images(np.clip(images, 0, 255)))
        files[label_name] = _gzip(idx_labels(labels))
    return files


# -- Kaggle house prices: the competition's CSV columns --------------------------------------

HOUSE_COLUMNS = (
    "Id MSSubClass MSZoning LotFrontage LotArea Street Alley LotShape LandContour Utilities "
    "LotConfig LandSlope Neighborhood Condition1 Condition2 BldgType HouseStyle OverallQual "
    "OverallCond YearBuilt YearRemodAdd RoofStyle RoofMatl Exterior1st Exterior2nd MasVnrType "
    "MasVnrArea ExterQual ExterCond Foundation BsmtQual BsmtCond BsmtExposure BsmtFinType1 "
    "BsmtFinSF1 BsmtFinType2 BsmtFinSF2 BsmtUnfSF TotalBsmtSF Heating HeatingQC CentralAir "
    "Electrical 1stFlrSF 2ndFlrSF LowQualFinSF GrLivArea BsmtFullBath BsmtHalfBath FullBath "
    "HalfBath BedroomAbvGr KitchenAbvGr KitchenQual TotRmsAbvGrd Functional Fireplaces "
    "FireplaceQu GarageType GarageYrBlt GarageFinish GarageCars GarageArea GarageQual "
    "GarageCond PavedDrive WoodDeckSF OpenPorchSF EnclosedPorch 3SsnPorch ScreenPorch PoolArea "
    "PoolQC Fence MiscFeature MiscVal MoSold YrSold SaleType SaleCondition SalePrice").split()
CATEGORIES = {
    "MSZoning": ["RL", "RM", "FV", "RH", "C (all)"], "Street": ["Pave", "Grvl"],
    "Alley": ["NA", "Grvl", "Pave"], "LotShape": ["Reg", "IR1", "IR2", "IR3"],
    "LandContour": ["Lvl", "Bnk", "HLS", "Low"], "Utilities": ["AllPub", "NoSeWa"],
    "LotConfig": ["Inside", "Corner", "CulDSac", "FR2", "FR3"], "LandSlope": ["Gtl", "Mod", "Sev"],
    "Neighborhood": ["CollgCr", "Veenker", "Crawfor", "NoRidge", "Mitchel", "Somerst", "OldTown",
                     "Edwards", "Gilbert", "NAmes"],
    "Condition1": ["Norm", "Feedr", "PosN", "Artery", "RRAe"], "Condition2": ["Norm", "Artery"],
    "BldgType": ["1Fam", "2fmCon", "Duplex", "TwnhsE", "Twnhs"],
    "HouseStyle": ["2Story", "1Story", "1.5Fin", "SLvl", "SFoyer"],
    "RoofStyle": ["Gable", "Hip", "Gambrel", "Flat"], "RoofMatl": ["CompShg", "WdShngl", "Metal"],
    "Exterior1st": ["VinylSd", "MetalSd", "Wd Sdng", "HdBoard", "BrkFace"],
    "Exterior2nd": ["VinylSd", "MetalSd", "Wd Shng", "HdBoard", "Plywood"],
    "MasVnrType": ["BrkFace", "None", "Stone", "NA"], "ExterQual": ["Gd", "TA", "Ex", "Fa"],
    "ExterCond": ["TA", "Gd", "Fa"], "Foundation": ["PConc", "CBlock", "BrkTil", "Wood"],
    "BsmtQual": ["Gd", "TA", "Ex", "NA"], "BsmtCond": ["TA", "Gd", "NA"],
    "BsmtExposure": ["No", "Gd", "Mn", "Av", "NA"], "BsmtFinType1": ["GLQ", "ALQ", "Unf", "NA"],
    "BsmtFinType2": ["Unf", "BLQ", "NA"], "Heating": ["GasA", "GasW", "Grav"],
    "HeatingQC": ["Ex", "Gd", "TA", "Fa"], "CentralAir": ["Y", "N"],
    "Electrical": ["SBrkr", "FuseF", "FuseA", "NA"], "KitchenQual": ["Gd", "TA", "Ex", "Fa"],
    "Functional": ["Typ", "Min1", "Maj1"], "FireplaceQu": ["NA", "TA", "Gd", "Fa"],
    "GarageType": ["Attchd", "Detchd", "BuiltIn", "NA"], "GarageFinish": ["RFn", "Unf", "Fin", "NA"],
    "GarageQual": ["TA", "Fa", "NA"], "GarageCond": ["TA", "Fa", "NA"],
    "PavedDrive": ["Y", "N", "P"], "PoolQC": ["NA", "Ex"], "Fence": ["NA", "MnPrv", "GdWo"],
    "MiscFeature": ["NA", "Shed"], "SaleType": ["WD", "New", "COD"],
    "SaleCondition": ["Normal", "Abnorml", "Partial", "Family"],
}


def house_prices(n_train: int = 400, n_test: int = 200, seed: int = 1) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)

    def table(first_id: int, count: int, with_price: bool) -> bytes:
        qual = rng.integers(1, 11, count)
        area = rng.normal(1500, 450, count).clip(400, 5000).round()
        year = rng.integers(1880, 2010, count)
        price = (40000 + 55 * area + 18000 * qual + 300 * (year - 1880)) * rng.lognormal(0, 0.12, count)
        columns: dict[str, list] = {}
        for name in HOUSE_COLUMNS:
            if name in CATEGORIES:
                columns[name] = list(rng.choice(CATEGORIES[name], count))
            else:
                columns[name] = list(rng.integers(0, 800, count))
        columns["Id"] = list(range(first_id, first_id + count))
        columns["MSSubClass"] = list(rng.choice([20, 30, 50, 60, 70, 120, 160], count))
        columns["OverallQual"] = list(qual)
        columns["OverallCond"] = list(rng.integers(1, 10, count))
        columns["GrLivArea"] = list(area.astype(int))
        columns["YearBuilt"] = list(year)
        columns["YearRemodAdd"] = list(np.maximum(year, rng.integers(1950, 2010, count)))
        columns["GarageYrBlt"] = [str(y) if rng.random() > 0.05 else "NA" for y in year]
        columns["LotFrontage"] = [str(v) if rng.random() > 0.18 else "NA"
                                  for v in rng.integers(21, 200, count)]
        columns["LotArea"] = list(rng.integers(1300, 40000, count))
        columns["MasVnrArea"] = [str(v) if rng.random() > 0.01 else "NA" for v in rng.integers(0, 900, count)]
        columns["MoSold"] = list(rng.integers(1, 13, count))
        columns["YrSold"] = list(rng.integers(2006, 2011, count))
        names = list(HOUSE_COLUMNS) if with_price else list(HOUSE_COLUMNS[:-1])
        if with_price:
            columns["SalePrice"] = list(price.round().astype(int))
        lines = [",".join(names)]
        for i in range(count):
            lines.append(",".join(str(columns[n][i]) for n in names))
        return ("\n".join(lines) + "\n").encode()

    return {"kaggle_house_pred_train.csv": table(1, n_train, True),
            "kaggle_house_pred_test.csv": table(n_train + 1, n_test, False)}


# -- Text: The Time Machine, PTB, English-French pairs ---------------------------------------

WORDS = ("the time traveller said to us that he had seen a machine of brass and ivory which "
         "could move through the ages and in the future he found a garden where people lived "
         "without work while below the ground others kept the old engines running through the "
         "long night until the sun grew red and the sea was still").split()


def _sentences(rng, count: int, low: int = 5, high: int = 14) -> list[str]:
    """Sentences from a first-order chain over a small vocabulary: text with real structure."""
    follows: dict[str, list[str]] = {}
    for a, b in zip(WORDS, WORDS[1:]):
        follows.setdefault(a, []).append(b)
    out = []
    for _ in range(count):
        word = rng.choice(WORDS)
        sentence = [word]
        for _ in range(rng.integers(low, high)):
            word = rng.choice(follows.get(word, WORDS))
            sentence.append(word)
        out.append(" ".join(sentence))
    return out


def time_machine(seed: int = 2) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    lines = ["The Time Machine, a fixture for offline builds", ""]
    for _ in range(60):
        lines += [s.capitalize() + "." for s in _sentences(rng, 6)] + [""]
    return {"timemachine.txt": "\n".join(lines).encode()}


PAIRS = [("go .", "va !"), ("hi .", "salut !"), ("run !", "cours !"), ("who ?", "qui ?"),
         ("wow !", "ça alors !"), ("i see .", "je comprends ."), ("i try .", "j'essaye ."),
         ("i won !", "j'ai gagné !"), ("help !", "à l'aide !"), ("stop !", "arrête !"),
         ("wait !", "attends !"), ("i am cold .", "j'ai froid ."), ("he is tall .", "il est grand ."),
         ("she is here .", "elle est ici ."), ("we are late .", "nous sommes en retard ."),
         ("they are happy .", "ils sont heureux ."), ("i like tea .", "j'aime le thé ."),
         ("it is raining .", "il pleut ."), ("come in .", "entrez ."), ("be quiet .", "sois calme .")]


def fra_eng() -> dict[str, bytes]:
    lines = []
    for english, french in PAIRS * 5:
        lines.append(f"{english.capitalize()}\t{french.capitalize()}\tCC-BY fixture")
    return {"fra-eng.zip": _zip({"fra-eng/fra.txt": ("\n".join(lines) + "\n").encode()})}


def ptb(seed: int = 3) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    members = {}
    for split, count in (("train", 400), ("valid", 60), ("test", 60)):
        members[f"ptb/ptb.{split}.txt"] = ("\n".join(" " + s + " " for s in _sentences(rng, count)) + "\n").encode()
    return {"ptb.zip": _zip(members)}


def airfoil(seed: int = 4, count: int = 1503) -> dict[str, bytes]:
    """Tab-separated: frequency, angle, chord length, velocity, thickness, sound pressure."""
    rng = np.random.default_rng(seed)
    freq = rng.choice([200, 500, 800, 1000, 1600, 2500, 4000, 6300], count)
    angle = rng.uniform(0, 22, count).round(1)
    chord = rng.choice([0.0254, 0.0508, 0.1016, 0.1524, 0.2286, 0.3048], count)
    velocity = rng.choice([31.7, 39.6, 55.5, 71.3], count)
    thickness = (0.001 + 0.002 * angle * chord).round(6)
    sound = (132 - 4 * np.log(freq) - 0.3 * angle + 0.05 * velocity + rng.normal(0, 1.5, count)).round(3)
    rows = zip(freq, angle, chord, velocity, thickness, sound)
    return {"airfoil_self_noise.dat": "".join("\t".join(map(str, r)) + "\n" for r in rows).encode()}


def aclimdb(seed: int = 5) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    good, bad = "a wonderful moving film".split(), "a dull tedious mess".split()
    members = {}
    for split in ("train", "test"):
        for label, words in (("pos", good), ("neg", bad)):
            for i in range(25):
                text = " ".join(rng.choice(words + WORDS[:20], 30)) + "."
                members[f"aclImdb/{split}/{label}/{i}_{7 if label == 'pos' else 2}.txt"] = text.encode()
    return {"aclImdb_v1.tar.gz": _tar_gz(members)}


DATASETS = {
    "fashion_mnist": fashion_mnist,
    "kaggle_house": house_prices,
    "time_machine": time_machine,
    "fra_eng": fra_eng,
    "ptb": ptb,
    "airfoil": airfoil,
    "aclImdb": aclimdb,
}


def generator_version() -> str:
    """Identifies this generator's code: a mirror made by the same code holds the same bytes."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def existing_mirror(out: Path) -> dict | None:
    """The manifest of a complete mirror this very generator made in ``out``, else None."""
    try:
        manifest = json.loads((Path(out) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("generator") != generator_version():
        return None
    files = manifest.get("files", {})
    if not all((Path(out) / name).stat().st_size == entry["size"] if (Path(out) / name).exists()
               else False for name, entry in files.items()):
        return None
    return manifest


def build_mirror(out: Path, reuse: bool = False) -> dict:
    """Write every fixture and ``manifest.json`` into ``out``; return the manifest. With
    ``reuse``, a complete mirror made by the same generator is kept as it is."""
    out = Path(out)
    if reuse and (manifest := existing_mirror(out)) is not None:
        return manifest
    files: dict[str, dict] = {}
    for dataset, make in DATASETS.items():
        for name, data in make().items():
            atomic_write(out / name, data)
            files[name] = {"dataset": dataset, "size": len(data),
                           "sha1": hashlib.sha1(data).hexdigest(),
                           "md5": hashlib.md5(data).hexdigest()}
    manifest = {"format": 1, "note": "generated fixtures, not the real data",
                "generator": generator_version(), "files": files}
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2lbuild.fixtures", description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=Path("_build/data-mirror"))
    args = parser.parse_args(argv)
    manifest = build_mirror(args.out)
    print(f"fixtures: {len(manifest['files'])} files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
