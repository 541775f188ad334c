"""``serve``: the live preview starts, serves on loopback, rebuilds on a save, stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from conftest import REPO
from evalbook import cell, make_book, section

from d2lbuild.config import load_config
from d2lbuild.serve import ServeOptions, changes, ignored_paths, pipeline, snapshot, watched_paths

SECTION = section("Serving", cell("x = 40 + 2\nx"), cell("y = 6 * 7\ny", "pytorch"),
                  prose="The first version of the prose.")


class Server:
    """``d2lbuild serve --port 0`` in a child process, its output collected."""

    def __init__(self, root: Path, *args: str):
        env = {**os.environ, "PYTHONPATH": str(REPO / "build_tools")}
        env.pop("D2L_QUICK", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "d2lbuild", "--root", str(root), "serve", "--port", "0",
             "--interval", "0.2", "--data", "fixtures", "--jobs", "2", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.url = self._wait_for_url(timeout=20)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.match(r"serve: (http://\S+/) ", line)
                if found:
                    return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"serve did not start:\n{self.log}")

    def get(self, path: str = "") -> str:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            assert response.status == 200
            return response.read().decode()

    def state(self) -> dict:
        return json.loads(self.get("__d2lbuild/state"))

    def wait_for_build(self, number: int, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state["build"] >= number and not state["building"]:
                return state
            time.sleep(0.1)
        pytest.fail(f"build {number} did not finish in {timeout} s:\n{self.log}")

    def family(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, sig: int, timeout: float = 30) -> int:
        family = self.family()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"serve did not stop within {timeout} s:\n{self.log}")
        self.reader.join(5)
        gone, alive = psutil.wait_procs(family, timeout=5)
        assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
        return code

    def kill(self) -> None:
        for p in self.family() + [psutil.Process(self.process.pid)]:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


@pytest.fixture
def book(tmp_path) -> Path:
    return make_book(tmp_path / "book", {"serving": SECTION})


def test_serves_rebuilds_on_save_and_stops_on_sigterm(book):
    started = time.monotonic()
    server = Server(book)
    assert server.url.startswith("http://127.0.0.1:")
    first = server.get()  # at once: the waiting page, or the site if it is already built
    assert "__d2lbuild/reload.js" in first and time.monotonic() - started < 20
    assert "location.reload()" in server.get("__d2lbuild/reload.js")
    state = server.wait_for_build(1)
    assert state["ok"], server.log
    page = server.get("serving.html")
    assert "The first version of the prose." in page and "window.__d2lbuildBuild = 1;" in page
    assert "42" in page  # executed by the build's eval stage
    summary = json.loads((book / "_build" / "eval" / "summary.json").read_text())
    assert summary["counts"]["ran"] == 2

    source = book / "serving.md"
    source.write_text(source.read_text().replace("The first version", "The second version"))
    state = server.wait_for_build(2)
    assert state["ok"], server.log
    page = server.get("serving.html")
    assert "The second version of the prose." in page and "window.__d2lbuildBuild = 2;" in page
    summary = json.loads((book / "_build" / "eval" / "summary.json").read_text())
    assert summary["counts"]["ran"] == 0 and summary["counts"]["cached"] == 2  # prose only
    assert "serving.md changed" in server.log

    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    assert server.stop(signal.SIGTERM) == 0
    assert "serve: stopped" in server.log
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_sigint_during_a_build_stops_it_and_its_kernels(tmp_path):
    slow = section("Slow", cell("import time\ntime.sleep(60)"), prose="Slow prose.")
    root = make_book(tmp_path / "slow", {"slow": slow}, tabs="mxnet")
    server = Server(root)
    deadline = time.monotonic() + 60
    while not any("ipykernel" in " ".join(p.cmdline()) for p in server.family()):
        assert time.monotonic() < deadline, f"no kernel started:\n{server.log}"
        time.sleep(0.1)
    assert server.state()["building"]
    assert "Building the book" in server.get()
    started = time.monotonic()
    assert server.stop(signal.SIGINT) == 0
    assert time.monotonic() - started < 30
    assert "serve: stopped" in server.log


def test_pipeline_and_what_is_watched(book):
    config = load_config(book)
    commands = pipeline(config, ServeOptions(tab="pytorch", quick=True, data="fixtures"))
    assert [c[c.index("--root") + 2] for c in commands] == ["eval", "html"]
    assert commands[0][-5:] == ["--tab", "pytorch", "--data", "fixtures", "--quick"]
    assert [c[c.index("--root") + 2] for c in pipeline(config, ServeOptions(no_eval=True))] == ["html"]

    paths, ignored = watched_paths(config), ignored_paths(config)
    before = snapshot(paths, ignored)
    assert str(book / "serving.md") in before and str(book / "config.ini") in before
    (book / "_build" / "eval").mkdir(parents=True)
    (book / "_build" / "eval" / "x.ipynb").write_text("{}")
    (book / "d2l").mkdir()
    (book / "d2l" / "torch.py").write_text("# generated\n")
    (book / ".serving.md.swp").write_text("editor")
    assert changes(before, snapshot(paths, ignored)) == []
    (book / "new.md").write_text("# New\n")
    assert changes(before, snapshot(paths, ignored)) == [str(book / "new.md")]
