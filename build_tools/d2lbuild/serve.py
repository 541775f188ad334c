"""Live preview (``serve``): the website on a local port, rebuilt when a source is saved.

A watcher polls the book's sources (the source folder, the resources, ``config.ini`` and the
files ``[html]`` names) and, when something changed and then stayed still for a moment, runs
the book's own pipeline in child processes: ``eval`` (which writes the library and the
notebooks first, and takes every notebook whose code and library code did not change from
the cache, so a prose edit executes nothing) and then ``html``. The server, bound to
127.0.0.1, serves ``_build/html`` with a small script added to every page that polls the
build counter and reloads the page when a build finishes (and shows a box while building
or when the build failed). Until the first build is done, ``/`` shows a page that says so.

SIGINT (Ctrl-C) and SIGTERM stop it: the running build is interrupted (``eval`` then shuts
its kernels down itself), killed if it does not stop in time, and the server closes.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import webbrowser
from collections import deque
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

from .config import CONFIG_NAME, BookConfig, split_words
from .diagnostics import BuildError

ENDPOINT = "/__d2lbuild/"
STOP_GRACE = 15.0  # seconds a build gets to stop after SIGINT before it is killed
IGNORED_SUFFIXES = (".pyc", ".swp", ".swx", ".tmp", "~")

RELOAD_JS = """\
(function () {
  var seen = window.__d2lbuildBuild, box = null;
  function show(state) {
    var text = state.building ? "Rebuilding\\u2026" : (state.ok ? "" : state.message);
    if (!text) { if (box) { box.remove(); box = null; } return; }
    if (!box) {
      box = document.createElement("div");
      box.id = "d2lbuild-serve";
      box.style.cssText = "position:fixed;bottom:1em;right:1em;z-index:10000;max-width:44em;" +
        "padding:.6em 1em;border-radius:4px;font:13px/1.4 monospace;white-space:pre-wrap;" +
        "color:#fff;opacity:.93;box-shadow:0 2px 8px rgba(0,0,0,.3)";
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.style.background = state.building ? "#335" : "#a11";
  }
  function poll() {
    fetch("__ENDPOINT__state", {cache: "no-store"}).then(function (r) { return r.json(); })
      .then(function (state) {
        if (state.build !== seen && !state.building) { location.reload(); return; }
        show(state);
        setTimeout(poll, 600);
      }).catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
""".replace("__ENDPOINT__", ENDPOINT)

WAITING_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Building the book…</title></head>
<body style="font-family:sans-serif;margin:3em">
<h1>Building the book…</h1>
<p>The first build is running (see the terminal); this page turns into the book when it is
done.</p>
</body></html>
"""


# -- what a build runs ---------------------------------------------------------------------
@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    tab: str = "all"             # tabs eval runs
    quick: bool = False
    data: str = "auto"
    jobs: int | None = None
    no_eval: bool = False        # prose-only preview: html alone
    interval: float = 0.5        # seconds between polls of the sources
    open_browser: bool = False
    verbose: bool = False


def pipeline(config: BookConfig, options: ServeOptions) -> list[list[str]]:
    """The commands of one build: the book's stages, each a ``d2lbuild`` process."""
    base = [sys.executable, "-m", "d2lbuild", "--root", str(config.root)]
    commands = []
    if not options.no_eval:
        command = base + ["eval", "--tab", options.tab, "--data", options.data]
        if options.quick:
            command.append("--quick")
        if options.jobs:
            command += ["--jobs", str(options.jobs)]
        commands.append(command)
    commands.append(base + ["html"])
    return commands


def child_environment() -> dict[str, str]:
    """Our environment, with this very d2lbuild importable by the children."""
    package_parent = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([package_parent] + paths)}


# -- watching ------------------------------------------------------------------------------
def watched_paths(config: BookConfig) -> list[Path]:
    root = config.root
    paths = [config.path, root / config.source_dir]
    paths += [root / r.rstrip("/") for r in config.resources]
    for key in ("include_css", "include_js", "favicon", "html_logo"):
        paths += [root / p for p in split_words(config.get("html", key))]
    return paths


def ignored_paths(config: BookConfig) -> set[Path]:
    """Files and folders the build itself writes, which must not trigger a build."""
    root = config.root
    ignored = {config.build_dir.resolve()}
    ignored |= {(root / lib.lib_file).resolve() for lib in config.libraries.values()}
    if config.version_file:
        ignored.add((root / config.version_file).resolve())
    data_dir = config.get("execute", "data_dir").strip()
    if data_dir:
        ignored.add((root / data_dir).resolve())
    return ignored


def snapshot(paths: list[Path], ignored: set[Path]) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every watched file."""
    found: dict[str, tuple[int, int]] = {}

    def add(path: Path) -> None:
        try:
            stat = path.stat()
        except OSError:
            return
        found[str(path)] = (stat.st_mtime_ns, stat.st_size)

    for top in paths:
        if top.is_file():
            add(top)
            continue
        for folder, dirs, files in os.walk(top):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_"))
                             and (here / d).resolve() not in ignored)
            for name in files:
                if name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
                    continue
                path = here / name
                if path.resolve() not in ignored:
                    add(path)
    return found


def changes(before: dict, after: dict) -> list[str]:
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


# -- the build loop ------------------------------------------------------------------------
@dataclass
class State:
    build: int = 0          # builds finished
    building: bool = False
    ok: bool = True
    message: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_json(self) -> bytes:
        with self.lock:
            return json.dumps({"build": self.build, "building": self.building, "ok": self.ok,
                               "message": self.message}).encode()


class Builder(threading.Thread):
    """Runs a build at start and after every settled change of the sources."""

    def __init__(self, config: BookConfig, options: ServeOptions, state: State, say):
        super().__init__(name="d2lbuild-serve-builder", daemon=True)
        self.config, self.options, self.state, self.say = config, options, state, say
        self.commands = pipeline(config, options)
        self.paths, self.ignored = watched_paths(config), ignored_paths(config)
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self.process_lock = threading.Lock()

    def run(self) -> None:
        seen = snapshot(self.paths, self.ignored)
        self.build("first build")
        while not self.stopping.wait(self.options.interval):
            now = snapshot(self.paths, self.ignored)
            if now == seen:
                continue
            while not self.stopping.wait(min(self.options.interval, 0.3)):  # let saving settle
                settled = snapshot(self.paths, self.ignored)
                if settled == now:
                    break
                now = settled
            if self.stopping.is_set():
                break
            edited = changes(seen, now)
            seen = now
            shown = ", ".join(self.config.rel(Path(p)) for p in edited[:3])
            self.build(f"{shown}{' and more' if len(edited) > 3 else ''} changed")

    def build(self, why: str) -> None:
        with self.state.lock:
            self.state.building = True
        self.say(f"serve: building ({why})")
        started = time.monotonic()
        failed = ""
        for command in self.commands:
            if self.stopping.is_set():
                return
            stage = command[command.index("--root") + 2]
            code, tail = self.run_command(command)
            if self.stopping.is_set():
                return
            if code != 0:
                failed += f"{stage} failed (exit {code})" + (f":\n{tail}" if tail else "") + "\n"
        with self.state.lock:
            self.state.build += 1
            self.state.building = False
            self.state.ok = not failed
            self.state.message = failed.strip()
            number = self.state.build
        took = time.monotonic() - started
        self.say(f"serve: build {number} {'failed' if failed else 'done'} in {took:.1f} s; "
                 f"watching for changes")

    def run_command(self, command: list[str]) -> tuple[int, str]:
        """Run one stage in its own process group, echoing its output; (exit status, its
        last lines)."""
        tail: deque[str] = deque(maxlen=12)
        with self.process_lock:
            if self.stopping.is_set():
                return 0, ""
            process = subprocess.Popen(
                command, cwd=self.config.root, env=child_environment(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                bufsize=1, start_new_session=True)
            self.process = process
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.strip():
                tail.append(line.rstrip("\n"))
        code = process.wait()
        with self.process_lock:
            self.process = None
        return code, "\n".join(tail)

    def stop(self, timeout: float = STOP_GRACE) -> None:
        """Stop watching and end the running build: SIGINT to its process group (``eval``
        shuts its kernels down), then SIGKILL to whatever is left of it."""
        self.stopping.set()
        with self.process_lock:
            process = self.process
        if process is not None and process.poll() is None:
            stop_process_tree(process, timeout)
        self.join(timeout)


def stop_process_tree(process: subprocess.Popen, timeout: float) -> None:
    try:
        import psutil
        family = psutil.Process(process.pid).children(recursive=True)
    except Exception:  # psutil missing, or the process just ended
        family = []
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    for child in family:  # kernels run in sessions of their own
        try:
            if child.is_running():
                child.kill()
        except Exception:
            pass


# -- serving -------------------------------------------------------------------------------
class Handler(SimpleHTTPRequestHandler):
    """Files of ``_build/html``; HTML pages get the reload script."""

    state: State
    verbose = False

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.verbose:
            sys.stderr.write("serve: " + format % args + "\n")

    def do_GET(self):  # noqa: N802 - the base class's name
        path = unquote(urlparse(self.path).path)
        if path == ENDPOINT + "state":
            return self._send(self.state.as_json(), "application/json")
        if path == ENDPOINT + "reload.js":
            return self._send(RELOAD_JS.encode(), "text/javascript")
        local = Path(self.translate_path(self.path))
        if local.is_dir() and path.endswith("/"):
            local = local / "index.html"
        if local.suffix == ".html" and local.is_file():
            return self._send(self._inject(local.read_bytes()), "text/html; charset=utf-8")
        if path in ("/", "/index.html") and not local.exists():
            return self._send(self._inject(WAITING_PAGE.encode()), "text/html; charset=utf-8")
        return super().do_GET()

    def _inject(self, page: bytes) -> bytes:
        with self.state.lock:
            build = self.state.build
        script = (f'<script>window.__d2lbuildBuild = {build};</script>'
                  f'<script src="{ENDPOINT}reload.js"></script>').encode()
        ends = list(re.finditer(rb"</body\s*>", page, re.I))
        match = ends[-1] if ends else None
        if match is None:
            return page + script
        return page[:match.start()] + script + page[match.start():]

    def _send(self, data: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def end_headers(self):
        if not any(h.startswith(b"Cache-Control") for h in getattr(self, "_headers_buffer", [])):
            self.send_header("Cache-Control", "no-store")
        super().end_headers()


def make_server(host: str, port: int, folder: Path, state: State, verbose: bool = False
                ) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state, "verbose": verbose})
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    try:
        return ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(folder)))
    except OSError as e:
        raise BuildError(f"serve: cannot listen on {host}:{port} ({e.strerror}); pick another "
                         "port with --port (0: any free one)") from None


def serve(config: BookConfig, options: ServeOptions) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status."""
    if not (config.root / CONFIG_NAME).is_file() and not config.path.is_file():
        raise BuildError(f"{config.root}: no {CONFIG_NAME}")
    html = config.build_dir / "html"
    html.mkdir(parents=True, exist_ok=True)
    state = State()

    def say(text: str) -> None:
        print(text, flush=True)

    server = make_server(options.host, options.port, html, state, options.verbose)
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/"
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    builder = Builder(config, options, state, say)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="d2lbuild-serve-http", daemon=True)
    try:
        thread.start()
        say(f"serve: {url} (the site in {config.rel(html)}; Ctrl-C stops)")
        builder.start()
        if options.open_browser:
            webbrowser.open(url)
        while not stop.wait(0.2):
            pass
        say("serve: stopping")
    finally:
        builder.stop()
        server.shutdown()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("serve: stopped")
    return 0
