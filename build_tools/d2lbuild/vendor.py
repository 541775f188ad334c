"""Third-party files the website serves itself, so that it works offline: MathJax.

MathJax comes from the npm package ``mathjax`` at a pinned version, fetched once with
``npm pack`` (checked against the pinned integrity hash) into a cache folder shared by all
builds: ``$D2LBUILD_CACHE`` or ``~/.cache/d2lbuild``. To use a copy you already have, point
``$D2LBUILD_MATHJAX`` at the package folder (the one holding ``es5/tex-chtml.js``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .diagnostics import BuildError

MATHJAX_VERSION = "3.2.2"
MATHJAX_INTEGRITY = ("sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/"
                     "FEsPsjKPZGJvtRZM1vO+geW0OhGw==")
# What the site needs from es5/: the TeX-to-HTML bundle, the fonts of its output, the TeX
# extensions it loads on demand (\boldsymbol, \cancel, ...), and what the math menu's
# accessibility options load (speech rules included, so none of it comes from a CDN).
MATHJAX_ENTRY = "tex-chtml.js"
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "a11y", "ui",
                 "adaptors", "sre")


def cache_dir() -> Path:
    configured = os.environ.get("D2LBUILD_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "d2lbuild"


def mathjax_dir() -> Path:
    """The unpacked MathJax package, fetched with npm the first time."""
    configured = os.environ.get("D2LBUILD_MATHJAX")
    if configured:
        path = Path(configured)
        if not (path / "es5" / MATHJAX_ENTRY).is_file():
            raise BuildError(f"$D2LBUILD_MATHJAX={configured}: no es5/{MATHJAX_ENTRY} there")
        return path
    target = cache_dir() / f"mathjax-{MATHJAX_VERSION}"
    if (target / "es5" / MATHJAX_ENTRY).is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(
            f"MathJax {MATHJAX_VERSION} is needed to render math offline, and npm is not "
            "installed to fetch it; install npm (apt-get install npm), or set "
            "$D2LBUILD_MATHJAX to an unpacked copy of the npm package 'mathjax'")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        done = subprocess.run([npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"],
                              cwd=tmp, capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("mathjax-*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise BuildError(f"npm pack mathjax@{MATHJAX_VERSION} failed:\n"
                             f"{done.stderr.strip() or done.stdout.strip()}")
        data = tarballs[0].read_bytes()
        digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if digest != MATHJAX_INTEGRITY:
            raise BuildError(f"the downloaded mathjax@{MATHJAX_VERSION} does not match its "
                             f"pinned hash ({digest})")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(unpacked, filter="data")
        staged = Path(tmp) / "staged"
        (unpacked / "package").rename(staged)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target


def sync_tree(source: Path, target: Path) -> int:
    """Copy the files under ``source`` to ``target``, skipping those already there with
    the same size and time; return how many were copied."""
    copied = 0
    files = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
    for path in files:
        dest = target if source.is_file() else target / path.relative_to(source)
        stat = path.stat()
        if dest.exists():
            mine = dest.stat()
            if mine.st_size == stat.st_size and int(mine.st_mtime) == int(stat.st_mtime):
                continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        copied += 1
    return copied


def install_mathjax(static_dir: Path) -> Path:
    """Copy what the site needs of MathJax to ``static_dir/mathjax``; return that folder."""
    es5 = mathjax_dir() / "es5"
    target = static_dir / "mathjax"
    for part in MATHJAX_PARTS:
        if (es5 / part).exists():
            sync_tree(es5 / part, target / part)
    return target
