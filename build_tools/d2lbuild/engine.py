"""The ``eval`` stage: execute every section's notebook in every tab, reusing the cache.

``evaluate`` writes the library and the notebooks (the stages before it), plans one job per
notebook (its cache key, GPUs, time limits, expected seconds), answers what the cache holds,
and runs the rest in a pool of fresh kernels. Executed notebooks go to
``_build/eval/<tab>/<docname>.ipynb``; a failed one goes to ``_build/eval/_failed/`` instead
(and its stale output is removed), so later stages never show outputs of old code. The run
ends with a summary table and ``_build/eval/summary.json``.

The engine's event loop runs in its own thread: nbclient then leaves the process's signal
handlers alone, and Ctrl-C in the main thread cancels the run cleanly (kernels killed,
finished notebooks kept in the cache).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import __version__
from .book import Book
from .cache import Cache, cache_key, code_sources, data_source, environment_facts
from .config import TRUE_WORDS
from .deps import build_index, library_code
from .diagnostics import BuildError, Diagnostic
from .executor import Execution, Failure, KernelLauncher, KernelPool, run_notebook
from .fsutil import atomic_write, write_if_changed
from .gpus import DevicePool, clamp, detect_gpus, requested_gpus
from .library import alias_lines, collect_blocks
from .notebooks import build_notebooks
from .progress import Progress, summary_table, write_summary
from .scheduler import Pool, longest_first, shard as take_shard

QUICK_ENV = "D2L_QUICK"


def quick_from_env(environ=None) -> bool:
    environ = os.environ if environ is None else environ
    return environ.get(QUICK_ENV, "").strip().lower() in TRUE_WORDS - {""}


@dataclass
class EvalOptions:
    tabs: list[str] | None = None          # None: every tab
    jobs: int | None = None                # None: the number of cores
    quick: bool = False
    shard: tuple[int, int] | None = None   # (i, n), 1-based
    force: bool = False                    # re-run the chosen notebooks even when cached
    only: list[str] = field(default_factory=list)  # docnames or .md paths
    warm_kernels: bool = True              # start kernels before they are needed
    live: bool | None = None               # live display; None: when stderr is a terminal


@dataclass(eq=False)  # compared and hashed by identity
class Job:
    tab: str
    docname: str
    source: str            # the .md file, as shown in messages
    nb: nbformat.NotebookNode  # the notebook as the notebooks stage wrote it
    key: str
    gpus: int              # devices it gets (after clamping)
    cell_timeout: float
    notebook_timeout: float
    size: int
    estimate: float | None  # seconds the cache recorded, None if never timed
    cwd: Path
    output: Path
    failed_output: Path
    has_code: bool
    uses_data: bool = True
    deferred: bool = False

    @property
    def name(self) -> str:
        return f"{self.docname}:{self.tab}"

    @property
    def label(self) -> str:
        return f"{self.tab} {self.docname}"


@dataclass
class Outcome:
    job: Job
    status: str            # "ran", "cached", "failed" or "empty"
    seconds: float         # spent in this build
    recorded_seconds: float | None = None
    devices: list[str] = field(default_factory=list)
    failure: Failure | None = None
    line: int = 0          # .md line of the failure
    cell_line: int = 0     # .md line of the failing cell's fence


@dataclass
class EvalResult:
    outcomes: list[Outcome]
    interrupted: bool = False
    summary_path: Path | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_status(self) -> int:
        return 130 if self.interrupted else 1 if self.failed else 0


# -- planning ------------------------------------------------------------------------------
def eval_dir(book: Book) -> Path:
    return book.config.build_dir / "eval"


def section_settings(book: Book, docname: str) -> tuple[int, float, float, list[Diagnostic]]:
    """(GPUs asked for, cell timeout, notebook timeout) of a section: front matter ``gpus``,
    ``timeout`` (per cell) and ``notebook_timeout`` over config.ini ``[execute]``."""
    doc = book.documents[docname]
    fm = doc.front_matter or {}
    problems = []
    try:
        gpus = requested_gpus(fm)
    except ValueError as e:
        problems.append(Diagnostic(doc.rel, 1, f"front matter: {e}"))
        gpus = 0
    limits = []
    for key, default in (("timeout", book.config.cell_timeout),
                         ("notebook_timeout", book.config.notebook_timeout)):
        value = fm.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(Diagnostic(doc.rel, 1, f"front matter: '{key}' must be a positive "
                                       f"number of seconds, got {value!r}"))
            value = default
        limits.append(float(value))
    cell, notebook = limits
    if "notebook_timeout" not in fm:  # a section allowed long cells may take that long
        notebook = max(notebook, cell)
    return gpus, cell, notebook, problems


def resolve_only(book: Book, items: list[str]) -> set[str]:
    """Docnames named by ``--only`` entries: a docname, or a path to its .md file (relative
    to here, the book's root or its source folder)."""
    chosen, unknown = set(), []
    source_root = book.source_root.resolve()
    for item in items:
        text = item.strip()
        name = text[:-3] if text.endswith(".md") else text[:-6] if text.endswith(".ipynb") else text
        if name.strip("/") in book.documents:
            chosen.add(name.strip("/"))
            continue
        found = None
        for base in (Path.cwd(), book.config.root, book.source_root):
            path = (base / text).resolve()
            if path.suffix != ".md":
                path = path.with_name(path.name + ".md")
            try:
                docname = path.relative_to(source_root).with_suffix("").as_posix()
            except ValueError:
                continue
            if docname in book.documents:
                found = docname
                break
        if found is None:
            unknown.append(item)
        else:
            chosen.add(found)
    if unknown:
        raise BuildError(f"--only: no section {', '.join(map(repr, unknown))} in the book "
                         "(give a docname such as chapter_x/section or its .md file)")
    return chosen


def library_index(book: Book, tab: str):
    """The saved blocks of a tab's library, indexed for reachability (``deps``): what the
    cache keys (and ``changed``) take a notebook's library code from."""
    config = book.config
    modules = {Path(lib.lib_file).stem for lib in config.libraries.values()}
    blocks, _ = collect_blocks(book, tab) if tab in config.libraries else ([], [])
    aliases = tuple(alias_lines(config.libraries[tab])) if tab in config.libraries else ()
    return build_index(blocks, modules, extra=("# aliases",) + aliases if aliases else ())


def plan(book: Book, options: EvalOptions, notebooks: dict[str, list[Path]], cache: Cache,
         devices: list[str], warn, only: set[str] | None = None) -> list[Job]:
    """One job per notebook (of the sections in ``only``, if given), tab by tab."""
    jobs, problems, settings = [], [], {}
    for docname in book.order:
        settings[docname] = section_settings(book, docname)
        problems += settings[docname][3]
    if problems:
        raise BuildError("the front matter of some sections is not valid", problems)
    clamped_warned = set()
    for tab, paths in notebooks.items():
        index = library_index(book, tab)
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            docname = nb.metadata["d2l"]["docname"]
            if only is not None and docname not in only:
                continue
            requested, cell_timeout, notebook_timeout, _ = settings[docname]
            gpus, warning = clamp(requested, len(devices))
            if warning and docname not in clamped_warned:
                clamped_warned.add(docname)
                warn(f"{book.documents[docname].rel}: warning: {warning}")
            code = code_sources(nb)
            env = environment_facts(tab, quick=options.quick, gpus=gpus)
            reached = library_code(index, code)
            key = cache_key(tab, code, reached, env)
            output = eval_dir(book) / tab / f"{docname}.ipynb"
            jobs.append(Job(
                tab=tab, docname=docname, source=nb.metadata["d2l"]["source"], nb=nb, key=key,
                gpus=gpus, cell_timeout=cell_timeout, notebook_timeout=notebook_timeout,
                size=sum(len(c) for c in code), estimate=cache.last_seconds(tab, docname, options.quick),
                cwd=path.parent, output=output,
                failed_output=eval_dir(book) / "_failed" / tab / f"{docname}.ipynb",
                has_code=any(c.strip() for c in code),
                # downloads data (directly or through library code): its outputs depend on
                # where the data sets came from, which the page then says
                uses_data=any("download(" in c for c in code + reached)))
    return jobs


# -- notebooks in and out ------------------------------------------------------------------
def merge_outputs(fresh: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The current notebook (current prose, current line numbers) with the outputs of an
    executed one whose code cells are the same."""
    nb = copy.deepcopy(fresh)
    mine = [c for c in nb.cells if c.cell_type == "code"]
    done = [c for c in executed.cells if c.cell_type == "code"]
    if [c.source for c in mine] != [c.source for c in done]:
        raise ValueError("the executed notebook's code differs from the notebook's")
    for cell, ran in zip(mine, done):
        cell.outputs = ran.get("outputs", [])
        cell.execution_count = ran.get("execution_count")
        if "execution" in ran.get("metadata", {}):
            cell.metadata["execution"] = ran.metadata["execution"]
    for key in ("language_info", "widgets"):
        if key in executed.metadata:
            nb.metadata[key] = executed.metadata[key]
    for key in ("quick", "data", "eval"):
        if key in executed.metadata.get("d2l", {}):
            nb.metadata["d2l"][key] = executed.metadata["d2l"][key]
    return nb


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# -- the run -------------------------------------------------------------------------------
class Engine:
    def __init__(self, book: Book, options: EvalOptions, cache: Cache, progress: Progress,
                 devices: list[str], workers: int):
        self.book, self.options, self.cache, self.progress = book, options, cache, progress
        self.devices, self.workers = devices, workers
        self.outcomes: list[Outcome] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None
        self.cancelled = False
        self.error: BaseException | None = None
        self.kernels_dir = book.config.build_dir / ".kernels"  # kernels' start folder and logs

    # Called from the main thread.
    def cancel(self) -> None:
        self.cancelled = True
        if self.loop is not None and self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)

    def run_in_thread(self, jobs: list[Job]) -> None:
        try:
            asyncio.run(self._main(jobs))
        except asyncio.CancelledError:
            pass
        except BaseException as e:  # re-raised in the main thread
            self.error = e

    async def _main(self, jobs: list[Job]) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        if self.cancelled:
            return
        self.kernels_dir.mkdir(parents=True, exist_ok=True)
        for log in self.kernels_dir.glob("kernel-*.log"):  # left by builds that were killed
            try:
                if time.time() - log.stat().st_mtime > 24 * 3600:
                    log.unlink()
            except OSError:
                pass
        launcher = KernelLauncher(kernel_environment(self.book, self.options.quick), self.kernels_dir)
        pool = Pool(jobs, self.workers, DevicePool(self.devices), self._run_one)
        spare = self.workers if self.options.warm_kernels else 0
        self.kernels = KernelPool(launcher, spare, lambda: len(pool.pending))
        self.kernels.fill()
        try:
            await pool.run()
        finally:
            await asyncio.shield(self.kernels.close())

    async def _run_one(self, job: Job, devices: list[str]) -> bool:
        lock = self.cache.lock(job.tab, job.docname)
        if not lock.acquire(blocking=False):
            if not job.deferred:  # another build runs it: do something else first
                job.deferred = True
                return True
            while not lock.acquire(blocking=False):
                await asyncio.sleep(0.2)
        try:
            if not self.options.force:
                outcome = self.try_cache(job)
                if outcome is not None:  # another build ran it meanwhile
                    self._finish(outcome)
                    return False
            await self._execute(job, devices)
        finally:
            lock.release()
        return False

    async def _execute(self, job: Job, devices: list[str]) -> None:
        try:
            kernel = await self.kernels.get()
        except Exception as e:
            failure = Failure("internal", f"could not start a kernel: {type(e).__name__}: {e}", "", None)
            self._finish(self.record_failure(job, Execution(copy.deepcopy(job.nb), 0.0, failure), devices))
            return
        self.progress.started(job, job.label, job.estimate, devices)
        env = {"CUDA_VISIBLE_DEVICES": ",".join(devices)}
        started = time.time()
        try:
            execution = await run_notebook(copy.deepcopy(job.nb), kernel, cwd=job.cwd, env=env,
                                           cell_timeout=job.cell_timeout,
                                           notebook_timeout=job.notebook_timeout)
        except BaseException:  # cancelled: no kernel outlives the build
            await asyncio.shield(kernel.shutdown(now=True))
            raise
        self.kernels.reap(kernel, now=not execution.ok)
        if execution.ok:
            outcome = self.record_success(job, execution, devices, started)
        else:
            outcome = self.record_failure(job, execution, devices)
        self._finish(outcome)

    def _finish(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        note = ""
        if outcome.failure is not None:
            note = f"{outcome.failure.message} ({outcome.job.source}:{outcome.line})"
        self.progress.finished(outcome.job, outcome.job.label, outcome.status,
                               outcome.seconds if outcome.status != "cached" else 0.0, note)

    # -- results (also used from the main thread for up-front cache hits) ---------------
    def try_cache(self, job: Job) -> Outcome | None:
        """Use the cache entry of ``job``, if there is a good one."""
        entry = self.cache.lookup(job.tab, job.docname, job.key)
        if entry is None:
            return None
        try:
            nb = merge_outputs(job.nb, nbformat.reads(entry.text, as_version=4))
            if not job.uses_data:  # entries stored before this mark was kept per notebook
                nb.metadata["d2l"]["data"] = "origin"
        except Exception:  # not a notebook of this code after all: run it
            return None
        write_if_changed(job.output, nbformat.writes(nb) + "\n")
        _remove(job.failed_output)
        return Outcome(job, "cached", 0.0, entry.seconds)

    def record_success(self, job: Job, execution: Execution, devices: list[str], started: float) -> Outcome:
        executed = execution.nb
        executed.metadata["d2l"]["quick"] = bool(self.options.quick)
        executed.metadata["d2l"]["data"] = data_source() if job.uses_data else "origin"
        executed.metadata["d2l"]["eval"] = {
            "key": job.key, "seconds": round(execution.seconds, 3), "executed": _iso(started),
            "gpus": job.gpus}
        text = nbformat.writes(executed) + "\n"
        self.cache.store(job.tab, job.docname, job.key, text, {
            "source": job.source, "seconds": round(execution.seconds, 3), "timestamp": started,
            "executed": _iso(started), "quick": bool(self.options.quick), "gpus": job.gpus,
            "devices": devices, "tool": f"d2lbuild {__version__}", "pid": os.getpid()})
        nb = merge_outputs(job.nb, executed)
        write_if_changed(job.output, nbformat.writes(nb) + "\n")
        _remove(job.failed_output)
        return Outcome(job, "ran", execution.seconds, execution.seconds, devices)

    def record_failure(self, job: Job, execution: Execution, devices: list[str]) -> Outcome:
        failure = execution.failure
        fence, line = _failure_lines(self.book, job, failure)
        nb = execution.nb
        nb.metadata["d2l"]["quick"] = bool(self.options.quick)
        nb.metadata["d2l"]["eval"] = {"key": job.key, "status": "failed", "kind": failure.kind,
                                      "message": failure.message, "line": line}
        atomic_write(job.failed_output, nbformat.writes(nb) + "\n")
        _remove(job.output)  # outputs of older code must not pass for this code's
        return Outcome(job, "failed", execution.seconds, None, devices, failure, line, fence)


def _failure_lines(book: Book, job: Job, failure: Failure) -> tuple[int, int]:
    """(line of the failing cell's fence, line of the failing statement) in the .md."""
    if failure.cell is None or failure.cell >= len(job.nb.cells):
        return 0, 0
    origin = job.nb.cells[failure.cell].metadata.get("d2l", {})
    fence = int(origin.get("line", 0))
    line = fence
    doc = book.documents.get(job.docname)
    index = origin.get("index")
    if failure.cell_line and doc is not None and isinstance(index, int) and index < len(doc.cells):
        cell = doc.cells[index]
        if getattr(cell, "kind", "") == "code":
            candidate = cell.code_line + failure.cell_line - 1
            if candidate < cell.end_line:
                line = candidate
    return fence, line


def kernel_environment(book: Book, quick: bool) -> dict[str, str]:
    """The environment kernels start with: ``d2l`` from this repository first, quick mode."""
    env = dict(os.environ)
    root = str(book.config.root)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if quick:
        env[QUICK_ENV] = "1"
    else:
        env.pop(QUICK_ENV, None)
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["D2L_BUILD"] = "1"  # the library draws final figures only (no live animation)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    data_dir = book.config.get("execute", "data_dir").strip()
    if data_dir and "D2L_DATA_DIR" not in env:
        env["D2L_DATA_DIR"] = str(book.config.root / data_dir)
    return env


# -- the stage -----------------------------------------------------------------------------
def evaluate(book: Book, options: EvalOptions, out=None) -> EvalResult:
    """Run the stage; print progress to stderr and the summary to ``out`` (a rich Console)."""
    from rich.console import Console

    from .library import write_library

    config = book.config
    started_wall, started = time.time(), time.monotonic()
    tabs = options.tabs or list(config.tabs)
    progress = Progress(live=options.live)
    out = out or Console(highlight=False)
    say = progress.console.print

    for path in write_library(book) if config.libraries else []:
        say(f"lib: wrote {book.rel(path)}")
    notebooks = build_notebooks(book, tabs)
    devices = detect_gpus()
    cache = Cache(config.build_dir / "cache")
    only = resolve_only(book, options.only) if options.only else None
    jobs = plan(book, options, notebooks, cache, devices, say, only)
    if options.shard:
        jobs = take_shard(jobs, *options.shard)
    workers = max(1, options.jobs or os.cpu_count() or 1)

    outcomes: list[Outcome] = []
    engine = Engine(book, options, cache, progress, devices, workers)
    to_run = []
    for job in jobs:
        if not config.eval_notebook or not job.has_code:
            write_if_changed(job.output, nbformat.writes(job.nb) + "\n")
            _remove(job.failed_output)
            outcomes.append(Outcome(job, "empty", 0.0))
            continue
        hit = None if options.force else engine.try_cache(job)
        if hit is not None:
            outcomes.append(hit)
        else:
            to_run.append(job)
    to_run = longest_first(to_run)

    where = f" (shard {options.shard[0]}/{options.shard[1]})" if options.shard else ""
    cached = sum(o.status == "cached" for o in outcomes)
    message = (f"eval: {len(jobs)} notebooks in {', '.join(tabs)}{where}: {cached} cached, "
               f"{len(to_run)} to run with {min(workers, max(len(to_run), 1))} worker(s)"
               + (f", GPUs {','.join(devices)}" if devices else "")
               + (" [quick mode]" if options.quick else ""))
    interrupted = False
    with progress:
        progress.begin(len(jobs), {j: j.estimate for j in to_run}, workers, message,
                       [o.status for o in outcomes])
        if to_run:
            thread = threading.Thread(target=engine.run_in_thread, args=(to_run,),
                                      name="d2lbuild-eval", daemon=True)
            thread.start()
            try:
                while thread.is_alive():
                    thread.join(0.2)
            except KeyboardInterrupt:
                interrupted = True
                say("eval: interrupted; stopping the kernels (finished notebooks stay cached)")
                engine.cancel()
                while thread.is_alive():
                    thread.join(0.2)
            if engine.error is not None:
                raise engine.error
    outcomes += engine.outcomes
    interrupted = interrupted or engine.cancelled

    if not options.only and not options.shard and not interrupted:
        _prune_outputs(book, tabs, jobs)
    order = {name: i for i, name in enumerate(book.order)}
    tab_order = {t: i for i, t in enumerate(config.tabs)}
    outcomes.sort(key=lambda o: (order.get(o.job.docname, 0), tab_order.get(o.job.tab, 0)))
    rows = [_row(o, book) for o in outcomes]
    summary = {
        "tool": f"d2lbuild {__version__}",
        "started": _iso(started_wall),
        "seconds": round(time.monotonic() - started, 3),
        "tabs": tabs,
        "jobs": workers,
        "quick": bool(options.quick),
        "shard": f"{options.shard[0]}/{options.shard[1]}" if options.shard else None,
        "only": list(options.only),
        "force": bool(options.force),
        "gpus": devices,
        "interrupted": interrupted,
        "counts": {s: sum(r["status"] == s for r in rows) for s in ("ran", "cached", "failed", "empty")}
                  | {"total": len(rows), "not_run": len(jobs) - len(rows)},
        "notebooks": rows,
    }
    summary_path = eval_dir(book) / "summary.json"
    write_summary(summary_path, summary)
    result = EvalResult(outcomes, interrupted, summary_path)
    if rows:
        out.print(summary_table(rows))
    _report(result, progress.console, summary, book)
    return result


def _row(o: Outcome, book: Book) -> dict:
    row = {"docname": o.job.docname, "source": o.job.source, "tab": o.job.tab, "status": o.status,
           "seconds": round(o.seconds, 3),
           "recorded_seconds": None if o.recorded_seconds is None else round(o.recorded_seconds, 3),
           "key": o.job.key, "gpus": o.devices, "output": None}
    if o.status in ("ran", "cached", "empty"):
        row["output"] = book.rel(o.job.output)
    if o.failure is not None:
        row["failure"] = {"kind": o.failure.kind, "message": o.failure.message, "path": o.job.source,
                          "line": o.line, "cell_line": o.cell_line, "details": o.failure.details}
    return row


def format_failure(o: Outcome) -> str:
    f = o.failure
    where = f"{o.job.source}:{o.line}" if o.line else o.job.source
    text = f"{where}: error: [{o.job.tab}] {f.message}"
    if o.cell_line and o.cell_line != o.line:
        text += f" (in the cell at line {o.cell_line})"
    if f.details:
        text += "\n" + "\n".join("    " + line for line in f.details.splitlines())
    return text


def _report(result: EvalResult, console, summary: dict, book: Book) -> None:
    for o in result.failed:
        console.print(format_failure(o), markup=False, highlight=False)
    c = summary["counts"]
    text = (f"eval: {c['total']} notebooks: {c['ran']} ran, {c['cached']} cached, {c['failed']} failed"
            + (f", {c['empty']} without code" if c["empty"] else "")
            + f" in {summary['seconds']:.1f} s; summary in {book.rel(result.summary_path)}")
    if result.interrupted:
        text += f" (interrupted: {c['not_run']} not run)"
    console.print(text, markup=False, highlight=False)


def _prune_outputs(book: Book, tabs: list[str], jobs: list[Job]) -> None:
    """Remove executed notebooks of sections that left the book."""
    keep = {j.output for j in jobs} | {j.failed_output for j in jobs}
    for tab in tabs:
        for folder in (eval_dir(book) / tab, eval_dir(book) / "_failed" / tab):
            if folder.is_dir():
                for path in folder.rglob("*.ipynb"):
                    if path not in keep:
                        path.unlink()
