"""Run one notebook in a fresh kernel with nbclient, and start kernels ahead of need.

Every notebook gets its own new ``ipykernel`` process, running this very Python (not
whatever a ``python3`` kernelspec on the machine points at, so the versions in the cache key
are the kernel's). To hide start-up, ``KernelPool`` starts kernels before they are needed,
in a neutral folder; when a notebook takes one, a silent first request moves it into the
notebook's folder and sets its devices and environment (``CUDA_VISIBLE_DEVICES`` is only
read when the framework first touches CUDA, later). No code of any section has run in it
before, so no state leaks between sections.

``run_notebook`` turns every way a run can end into an ``Execution``: success, an exception
in a cell, a cell or the whole notebook running out of time, or the kernel dying.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from collections.abc import Callable

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
CELL_FRAME = re.compile(r"Cell In\s*\[(\d+)\],\s*line (\d+)")
KERNEL_NOISE = ("Kernel is running over TCP without encryption", "frozen modules",
                "PYDEVD_DISABLE_FILE_VALIDATION", "-Xfrozen_modules", "Debugger warning",
                "to python to disable frozen modules", "Note: Debugging will proceed")
STARTUP_TIMEOUT = 60

# nbclient and jupyter_client log every failure they see; the engine reports failures itself.
QUIET = logging.getLogger("d2lbuild.kernels")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False
IOPUB_TIMEOUT = 4


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


class _ThisPython(KernelSpecManager):
    """Every kernel name means ipykernel on the Python running the build."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          name="python3", display_name="Python 3 (ipykernel)", language="python",
                          interrupt_mode="signal", resource_dir="", env={}, metadata={})


class Kernel:
    """A started, ready kernel and its client."""

    def __init__(self, km: AsyncKernelManager, kc, log_path: Path, launch_dir: str):
        self.km, self.kc, self.log_path, self.launch_dir = km, kc, log_path, launch_dir

    @property
    def pid(self) -> int | None:
        return getattr(self.km.provisioner, "pid", None)

    async def is_alive(self) -> bool:
        try:
            return bool(await self.km.is_alive())
        except Exception:
            return False

    def exit_status(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None)
        return process.poll() if process is not None else None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        kept = [l for l in strip_ansi(text).splitlines()
                if l.strip() and not any(n in l for n in KERNEL_NOISE)]
        return "\n".join(kept[-lines:])

    async def prepare(self, cwd: Path, env: dict[str, str], timeout: float = 30) -> None:
        """Move the kernel into the notebook's folder and environment, silently (no output,
        no history, no execution count)."""
        cwd = str(cwd)
        code = (
            "import os as _d2l_os, sys as _d2l_sys\n"
            f"_d2l_os.chdir({cwd!r})\n"
            f"_d2l_os.environ.update({dict(env, PWD=cwd)!r})\n"
            f"_d2l_sys.path[:] = [{cwd!r} if _p == {self.launch_dir!r} else _p for _p in _d2l_sys.path]\n"
            "del _d2l_os, _d2l_sys\n")
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("the kernel did not answer its set-up request")
            try:
                reply = await self.kc.get_shell_msg(timeout=min(remaining, 1.0))
            except Empty:
                if not await self.is_alive():
                    raise DeadKernelError("Kernel died") from None
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        if reply["content"].get("status") != "ok":
            raise RuntimeError("the kernel's set-up request failed: "
                               + strip_ansi("\n".join(reply["content"].get("traceback", []))))

    async def shutdown(self, now: bool = False) -> None:
        """Stop the kernel (and, when ``now``, its process group at once); never raises."""
        try:
            self.kc.stop_channels()
        except Exception:
            pass
        try:
            if await self.is_alive():
                await self.km.shutdown_kernel(now=now)
            else:
                await self.km.cleanup_resources()
        except Exception:
            try:
                await self.km.shutdown_kernel(now=True)
            except Exception:
                pass
        try:
            self.log_path.unlink()
        except OSError:
            pass


class KernelLauncher:
    """Starts ready kernels with one environment in a neutral folder."""

    def __init__(self, env: dict[str, str], workdir: Path, startup_timeout: float = STARTUP_TIMEOUT):
        self.env = dict(env)
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self.spec_manager = _ThisPython()

    async def start(self) -> Kernel:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        fd, log = tempfile.mkstemp(prefix="kernel-", suffix=".log", dir=self.workdir)
        km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=self.spec_manager, log=QUIET)
        km.shutdown_wait_time = 3.0
        kc = None
        try:
            with os.fdopen(fd, "wb") as out:  # the kernel keeps its own copy of the descriptor
                await km.start_kernel(cwd=str(home), env=self.env, stdout=out, stderr=out,
                                      extra_arguments=["--HistoryManager.hist_file=:memory:"])
            kc = km.client()
            kc.allow_stdin = False
            kc.start_channels()
            await kc.wait_for_ready(timeout=self.startup_timeout)
        except BaseException:
            kernel = Kernel(km, kc or km.client(), Path(log), str(home))
            await asyncio.shield(kernel.shutdown(now=True))
            raise
        return Kernel(km, kc, Path(log), str(home))


class KernelPool:
    """Keeps up to ``spare`` started kernels waiting, but never more than the work left
    (``demand()``: notebooks not yet handed out) needs."""

    def __init__(self, launcher: KernelLauncher, spare: int, demand: Callable[[], int]):
        self.launcher = launcher
        self.spare = max(0, spare)
        self.demand = demand
        self.ready: list[Kernel] = []
        self.starting: set[asyncio.Task] = set()
        self.errors: list[BaseException] = []
        self.waiters = 0
        self.closed = False
        self._changed = asyncio.Event()
        self._reaping: set[asyncio.Task] = set()

    def fill(self) -> None:
        if self.closed:
            return
        want = self.waiters + min(self.spare, max(self.demand(), 0))
        while len(self.ready) + len(self.starting) < want:
            task = asyncio.ensure_future(self.launcher.start())
            self.starting.add(task)
            task.add_done_callback(self._started)
        while self.ready and len(self.ready) + len(self.starting) > want:
            self.reap(self.ready.pop(), now=True)  # no work left for it

    def _started(self, task: asyncio.Task) -> None:
        self.starting.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            self.errors.append(task.exception())
        elif self.closed:
            self.reap(task.result(), now=True)
        else:
            self.ready.append(task.result())
        self._changed.set()

    async def get(self) -> Kernel:
        self.waiters += 1
        try:
            while True:
                while self.ready:
                    kernel = self.ready.pop(0)
                    if await kernel.is_alive():
                        return kernel
                    self.reap(kernel, now=True)
                if self.errors:
                    raise self.errors.pop(0)
                self.fill()
                self._changed.clear()
                await self._changed.wait()
        finally:
            self.waiters -= 1
            self.fill()

    def reap(self, kernel: Kernel, now: bool) -> None:
        """Shut a kernel down in the background."""
        task = asyncio.ensure_future(kernel.shutdown(now=now))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def close(self) -> None:
        self.closed = True
        for task in list(self.starting):
            task.cancel()
        if self.starting:
            await asyncio.gather(*self.starting, return_exceptions=True)
        while self.ready:
            self.reap(self.ready.pop(), now=True)
        if self._reaping:
            await asyncio.gather(*list(self._reaping), return_exceptions=True)


@dataclass
class Failure:
    kind: str        # "error", "timeout", "notebook-timeout", "crash" or "internal"
    message: str     # one line
    details: str     # the traceback, or what the cell printed last (plain text)
    cell: int | None  # index of the failing cell in the notebook
    cell_line: int | None = None  # line within that cell, from the traceback


@dataclass
class Execution:
    nb: object
    seconds: float
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class _NotebookTimeout(Exception):
    pass


def _stream_tail(cell, lines: int = 10) -> str:
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return "\n".join(strip_ansi(text).splitlines()[-lines:])


def _error_failure(nb, index: int | None, error: CellExecutionError) -> Failure:
    cell = nb.cells[index] if index is not None else None
    outputs = [o for o in (cell.get("outputs", []) if cell is not None else []) if o.get("output_type") == "error"]
    if outputs:
        out = outputs[-1]
        ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
        details = strip_ansi("\n".join(out.get("traceback", [])))
    else:
        ename, evalue = getattr(error, "ename", "Error"), getattr(error, "evalue", "")
        details = strip_ansi(getattr(error, "traceback", "") or str(error))
    frames = [(int(n), int(l)) for n, l in CELL_FRAME.findall(details)]
    cell_line = None
    if frames:
        last = max(n for n, _ in frames)
        cell_line = next(l for n, l in frames if n == last)
    message = f"{ename}: {evalue}" if evalue else ename
    return Failure("error", message, details.rstrip(), index, cell_line)


async def run_notebook(nb, kernel: Kernel, *, cwd: Path, env: dict[str, str], cell_timeout: float,
                       notebook_timeout: float) -> Execution:
    """Execute ``nb`` (modified in place) in ``kernel``; the caller shuts the kernel down."""
    start = time.monotonic()
    deadline = start + notebook_timeout
    state = {"index": None, "limit": "cell"}

    def timeout_func(cell) -> float:
        remaining = deadline - time.monotonic()
        if remaining < cell_timeout:
            state["limit"] = "notebook"
            return max(remaining, 0.01)
        state["limit"] = "cell"
        return cell_timeout

    def on_cell_execute(cell, cell_index) -> None:
        state["index"] = cell_index
        if time.monotonic() >= deadline:
            raise _NotebookTimeout()

    def elapsed() -> float:
        return time.monotonic() - start

    def where() -> int | None:
        return state["index"]

    try:
        await kernel.prepare(cwd, env)
        client = NotebookClient(nb, km=kernel.km, kernel_name="python3", timeout=int(cell_timeout) or 1,
                                timeout_func=timeout_func, allow_errors=False,
                                iopub_timeout=IOPUB_TIMEOUT, startup_timeout=STARTUP_TIMEOUT,
                                on_cell_execute=on_cell_execute, record_timing=True, log=QUIET)
        client.kc = kernel.kc  # already started and ready: nbclient uses it as it is
        await asyncio.wait_for(client.async_execute(), notebook_timeout + 2 * IOPUB_TIMEOUT + 10)
    except CellExecutionError as e:
        return Execution(nb, elapsed(), _error_failure(nb, where(), e))
    except CellTimeoutError:
        cell = nb.cells[where()] if where() is not None else {}
        if state["limit"] == "notebook":
            failure = Failure("notebook-timeout", f"the notebook ran out of time: notebook_timeout is "
                              f"{notebook_timeout:g} s", _stream_tail(cell), where())
        else:
            failure = Failure("timeout", f"the cell ran longer than cell_timeout ({cell_timeout:g} s)",
                              _stream_tail(cell), where())
        return Execution(nb, elapsed(), failure)
    except (_NotebookTimeout, asyncio.TimeoutError):
        cell = nb.cells[where()] if where() is not None else {}
        return Execution(nb, elapsed(), Failure(
            "notebook-timeout", f"the notebook ran out of time: notebook_timeout is {notebook_timeout:g} s",
            _stream_tail(cell), where()))
    except DeadKernelError:
        await asyncio.sleep(0.2)
        status = kernel.exit_status()
        how = ("" if status is None else f" (killed by signal {-status})" if status < 0
               else f" (exit status {status})")
        cell = nb.cells[where()] if where() is not None else {}
        details = "\n".join(t for t in (_stream_tail(cell), kernel.log_tail()) if t)
        return Execution(nb, elapsed(), Failure("crash", f"the kernel died{how}", details, where()))
    except Exception as e:  # the machinery failed, not the code; still one notebook's failure
        return Execution(nb, elapsed(), Failure("internal", f"could not run the notebook: "
                                                f"{type(e).__name__}: {e}", kernel.log_tail(), where()))
    return Execution(nb, elapsed())
