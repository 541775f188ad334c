"""What ``eval`` shows: a live display while it runs (rich, when stderr is a terminal; plain
lines otherwise), a summary table at the end, and the same summary as JSON for CI.

Events come from the engine's thread, the display refreshes from rich's; one lock guards the
state both read.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .fsutil import atomic_write

STATUS_STYLE = {"ran": "green", "cached": "cyan", "failed": "bold red", "empty": "dim",
                "skipped": "yellow"}


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class _Running:
    label: str
    estimate: float | None
    devices: list[str]
    since: float = field(default_factory=time.monotonic)


class Progress:
    """``begin`` once, then ``started``/``finished`` per notebook, then ``end``."""

    def __init__(self, console: Console | None = None, live: bool | None = None):
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.live_enabled = self.console.is_terminal if live is None else live
        self.lock = threading.Lock()
        self.total = 0
        self.workers = 1
        self.counts = {"ran": 0, "cached": 0, "failed": 0, "empty": 0}
        self.running: dict[object, _Running] = {}
        self.queued: dict[object, float | None] = {}  # not yet started: their estimates
        self._live: Live | None = None

    # -- events ---------------------------------------------------------------------
    def begin(self, total: int, queued: dict[object, float | None], workers: int, message: str,
              done: list[str] = ()) -> None:
        with self.lock:
            self.total, self.workers = total, max(1, workers)
            for status in done:
                self.counts[status] = self.counts.get(status, 0) + 1
            self.queued = dict(queued)
        if self.live_enabled:
            self.console.print(message)
            self._live = Live(get_renderable=self.render, console=self.console,
                              refresh_per_second=4, transient=True)
            self._live.start()
        else:
            self.console.print(message)

    def started(self, job: object, label: str, estimate: float | None, devices: list[str]) -> None:
        with self.lock:
            self.queued.pop(job, None)
            self.running[job] = _Running(label, estimate, devices)

    def finished(self, job: object, label: str, status: str, seconds: float, note: str = "") -> None:
        with self.lock:
            self.queued.pop(job, None)
            self.running.pop(job, None)
            self.counts[status] = self.counts.get(status, 0) + 1
            done = sum(self.counts.values())
        if status == "failed":
            self.console.print(Text.assemble(("FAILED ", "bold red"), f"{label} after {seconds:.1f} s: {note}"))
        elif not self.live_enabled and status in ("ran", "cached"):
            how = "ran" if status == "ran" else "cached (run by another build)"
            self.console.print(f"eval: [{done}/{self.total}] {how} {label} in {seconds:.1f} s")

    def end(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.end()

    # -- display --------------------------------------------------------------------
    def eta(self) -> float | None:
        """Seconds left: the expected work still to do, spread over the workers."""
        now = time.monotonic()
        known = [e for e in list(self.queued.values()) + [r.estimate for r in self.running.values()]
                 if e is not None]
        if not known and (self.queued or self.running):
            return None
        default = sum(known) / len(known) if known else 0.0
        left = sum(e if e is not None else default for e in self.queued.values())
        left += sum(max((r.estimate if r.estimate is not None else default) - (now - r.since), 0.0)
                    for r in self.running.values())
        return left / self.workers

    def render(self):
        with self.lock:
            done = sum(self.counts.values())
            line = Table.grid(padding=(0, 1))
            line.add_row(
                Text("eval", style="bold"),
                ProgressBar(total=max(self.total, 1), completed=done, width=30),
                Text(f"{done}/{self.total}"),
                Text.assemble(("ran ", ""), (str(self.counts["ran"]), "green"), " · cached ",
                              (str(self.counts["cached"]), "cyan"), " · failed ",
                              (str(self.counts["failed"]), "red" if self.counts["failed"] else ""),
                              f" · running {len(self.running)} · ETA {format_seconds(self.eta())}"))
            rows = Table.grid(padding=(0, 2))
            now = time.monotonic()
            for run in sorted(self.running.values(), key=lambda r: r.since)[:12]:
                devices = f"GPU {','.join(run.devices)}" if run.devices else ""
                rows.add_row("  " + escape(run.label), f"{now - run.since:5.1f} s", devices)
            return Group(line, rows)


def summary_table(rows: list[dict]) -> Table:
    table = Table(title="eval summary", show_lines=False)
    table.add_column("section")
    table.add_column("tab")
    table.add_column("seconds", justify="right")
    table.add_column("result")
    for row in rows:
        seconds = row["seconds"] if row["status"] != "cached" else row.get("recorded_seconds")
        shown = "" if seconds is None else f"{seconds:.1f}"
        table.add_row(escape(row["source"]), row["tab"], shown,
                      Text(row["status"], style=STATUS_STYLE.get(row["status"], "")))
    return table


def write_summary(path, summary: dict) -> None:
    atomic_write(path, json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
