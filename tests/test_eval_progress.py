"""The progress display and the summary, without kernels."""

from __future__ import annotations

import io

from rich.console import Console

from d2lbuild.progress import Progress, format_seconds, summary_table


def test_eta_spreads_the_expected_work_over_the_workers():
    progress = Progress(Console(file=io.StringIO()), live=False)
    progress.begin(5, {"a": 10.0, "b": 20.0, "c": None}, workers=2, message="start", done=["cached"])
    assert progress.eta() == (10 + 20 + 15) / 2  # the untimed one counts as the average
    progress.started("a", "pytorch a", 10.0, ["0"])
    progress.running["a"].since -= 4  # a has run for 4 of its 10 seconds
    assert abs(progress.eta() - (6 + 20 + 15) / 2) < 0.1
    progress.finished("a", "pytorch a", "ran", 9.0)
    progress.finished("b", "pytorch b", "failed", 1.0, "KeyError: 'x' (b.md:3)")
    assert progress.counts == {"ran": 1, "cached": 1, "failed": 1, "empty": 0}
    text = progress.console.file.getvalue()
    assert "eval: [2/5] ran pytorch a in 9.0 s" in text
    assert "FAILED pytorch b after 1.0 s: KeyError: 'x' (b.md:3)" in text
    untimed = Progress(Console(file=io.StringIO()), live=False)
    untimed.begin(1, {"x": None}, 1, "start")
    assert untimed.eta() is None and format_seconds(None) == "?"


def test_live_display_renders_the_running_notebooks():
    console = Console(file=io.StringIO(), width=120, force_terminal=True)
    progress = Progress(console, live=True)
    progress.begin(3, {"a": 5.0, "b": None}, workers=2, message="eval: 3 notebooks")
    progress.started("a", "pytorch chapter/a", 5.0, ["1"])
    capture = Console(file=io.StringIO(), width=120)
    capture.print(progress.render())
    shown = capture.file.getvalue()
    assert "0/3" in shown and "running 1" in shown and "ETA 0:05" in shown
    assert "pytorch chapter/a" in shown and "GPU 1" in shown
    progress.end()
    assert format_seconds(3725) == "1:02:05" and format_seconds(65) == "1:05"


def test_summary_table():
    rows = [{"source": "a.md", "tab": "pytorch", "status": "ran", "seconds": 1.25},
            {"source": "b.md", "tab": "mxnet", "status": "cached", "seconds": 0.0,
             "recorded_seconds": 7.5}]
    console = Console(file=io.StringIO(), width=100)
    console.print(summary_table(rows))
    text = console.file.getvalue()
    assert "a.md" in text and "1.2" in text and "ran" in text
    assert "7.5" in text and "cached" in text
