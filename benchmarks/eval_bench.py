"""Execution benchmark: our `eval` against plain nbclient and against d2lbook 1.0.3.

Run by hand (it takes about 15 minutes on 2 cores):

    .venv/bin/python benchmarks/eval_bench.py [--sections 40] [--skip-d2lbook]

It generates a book (benchmarks/make_book.py) under _build/bench/ and reports, in one run:
1. cold `eval --jobs 1` / the sum of running the same notebooks one by one with nbclient;
2. cold `eval --jobs 1` / cold `eval --jobs 2`;
3. after a prose-only edit: notebooks re-executed and seconds;
4. after editing one saved function used by 3 sections: notebooks re-executed;
5. d2lbook 1.0.3 in its own virtual environment: cold time, and rebuild after a prose edit.
Results go to stdout and _build/bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from make_book import USERS, make_book

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "_build" / "bench"
D2LBUILD = [sys.executable, "-m", "d2lbuild"]
D2LBOOK_VENV = WORK / "d2lbook-venv"


def run(cmd, cwd=None, env=None, check=True) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if check and result.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def our_env(book: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "build_tools")}


def eval_ours(book: Path, jobs: int) -> tuple[float, dict]:
    seconds = run(D2LBUILD + ["--root", str(book), "eval", "--tab", "all", "--jobs", str(jobs)],
                  env=our_env(book))
    summary = json.loads((book / "_build/eval/summary.json").read_text())
    return seconds, summary


def executed(summary) -> list[str]:
    rows = summary["notebooks"] if isinstance(summary, dict) else summary
    return sorted(f"{r['tab']}:{r['docname']}" for r in rows if r["status"] == "ran")


def plain_nbclient(book: Path) -> float:
    """Run every generated notebook that has code one by one in a fresh kernel, as a script
    would (notebooks of prose only are skipped, as our eval skips them)."""
    run(D2LBUILD + ["--root", str(book), "notebooks"], env=our_env(book))
    paths = [p for p in sorted((book / "_build/notebooks").rglob("*.ipynb"))
             if any(c.cell_type == "code" for c in nbformat.read(p, 4).cells)]
    os.environ["PYTHONPATH"] = str(book)
    start = time.perf_counter()
    for path in paths:
        nb = nbformat.read(path, 4)
        NotebookClient(nb, timeout=600, kernel_name="python3", startup_timeout=120,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def prose_edit(book: Path) -> None:
    path = book / "chapter_1/section_5.md"
    path.write_text(path.read_text().replace("It computes", "It quickly computes"))


def library_edit(book: Path) -> None:
    path = book / "chapter_1/section_1.md"
    text = path.read_text()
    mx_start = text.index('"""Multiply by a."""')
    path.write_text(text[:mx_start] + '"""Multiply by a (edited)."""' + text[mx_start + 20:])


def ensure_d2lbook() -> Path:
    bin_dir = D2LBOOK_VENV / "bin"
    if not (bin_dir / "d2lbook").exists():
        subprocess.run([sys.executable, "-m", "venv", str(D2LBOOK_VENV)], check=True)
        pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q"]
        # torch 2.13 wants setuptools>=77 at install time; d2lbook 1.0.3 needs pkg_resources
        # (setuptools<70) at run time, so the old setuptools goes in last.
        subprocess.run(pip + ["numpy==1.23.5", "mxnet==1.9.1", "torch==2.13.0", "ipykernel"], check=True)
        subprocess.run(pip + ["d2lbook==1.0.3", "pybtex<0.25"], check=True)
        subprocess.run(pip + ["--no-deps", "setuptools<70"], check=True)
    return bin_dir / "d2lbook"


def d2lbook_eval(d2lbook: Path, book: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(book)}
    return sum(run([str(d2lbook), "build", "eval", "--tab", tab], cwd=book, env=env)
               for tab in ("mxnet", "pytorch"))


def d2lbook_outputs(book: Path) -> dict[str, int]:
    return {str(p.relative_to(book)): p.stat().st_mtime_ns
            for p in (book / "_build").glob("eval*/**/*.ipynb")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", type=int, default=40)
    parser.add_argument("--skip-d2lbook", action="store_true")
    args = parser.parse_args()
    shutil.rmtree(WORK / "book", ignore_errors=True)
    book = make_book(WORK / "book", args.sections)
    run(D2LBUILD + ["--root", str(book), "lib"], env=our_env(book))
    results: dict = {"sections": args.sections, "cores": os.cpu_count()}

    results["plain_nbclient_s"] = plain_nbclient(book)
    print(f"plain nbclient, one by one: {results['plain_nbclient_s']:.1f} s", flush=True)

    for jobs in (1, 2):
        shutil.rmtree(book / "_build/cache", ignore_errors=True)
        seconds, summary = eval_ours(book, jobs)
        results[f"ours_cold_jobs{jobs}_s"] = seconds
        results[f"ours_cold_jobs{jobs}_ran"] = len(executed(summary))
        print(f"ours cold --jobs {jobs}: {seconds:.1f} s ({len(executed(summary))} notebooks)", flush=True)

    prose_edit(book)
    seconds, summary = eval_ours(book, 2)
    results["ours_prose_edit_s"], results["ours_prose_edit_ran"] = seconds, executed(summary)
    print(f"ours after a prose edit: {seconds:.1f} s, re-executed {executed(summary)}", flush=True)

    library_edit(book)
    run(D2LBUILD + ["--root", str(book), "lib"], env=our_env(book))
    seconds, summary = eval_ours(book, 2)
    results["ours_lib_edit_s"], results["ours_lib_edit_ran"] = seconds, executed(summary)
    expected = sorted(f"mxnet:chapter_{(k - 1) // 10 + 1}/section_{k}" for k in (1, *USERS))
    results["ours_lib_edit_expected"] = expected
    print(f"ours after editing a saved function: {seconds:.1f} s, re-executed {executed(summary)}"
          f" (expected the defining section and its {len(USERS)} users: {expected})", flush=True)

    if not args.skip_d2lbook:
        d2lbook = ensure_d2lbook()
        dbook = make_book(WORK / "d2lbook-book", args.sections)
        shutil.rmtree(dbook / "_build", ignore_errors=True)
        (dbook / "d2l").mkdir(exist_ok=True)
        run([str(d2lbook), "build", "lib"], cwd=dbook)
        results["d2lbook_cold_s"] = d2lbook_eval(d2lbook, dbook)
        print(f"d2lbook 1.0.3 cold (both tabs): {results['d2lbook_cold_s']:.1f} s", flush=True)
        before = d2lbook_outputs(dbook)
        prose_edit(dbook)
        results["d2lbook_prose_edit_s"] = d2lbook_eval(d2lbook, dbook)
        after = d2lbook_outputs(dbook)
        results["d2lbook_prose_edit_rewritten"] = sorted(k for k in after if after[k] != before.get(k))
        print(f"d2lbook after a prose edit: {results['d2lbook_prose_edit_s']:.1f} s, rewrote "
              f"{results['d2lbook_prose_edit_rewritten']}", flush=True)

    r = results
    ratios = {
        "cold_jobs1_over_plain": r["ours_cold_jobs1_s"] / r["plain_nbclient_s"],
        "cold_jobs2_over_plain": r["ours_cold_jobs2_s"] / r["plain_nbclient_s"],
        "speedup_jobs2_vs_jobs1": r["ours_cold_jobs1_s"] / r["ours_cold_jobs2_s"],
    }
    if "d2lbook_cold_s" in r:
        ratios["cold_ours_jobs2_over_d2lbook"] = r["ours_cold_jobs2_s"] / r["d2lbook_cold_s"]
        ratios["prose_rebuild_d2lbook_over_ours"] = r["d2lbook_prose_edit_s"] / r["ours_prose_edit_s"]
    results["ratios"] = ratios
    print(json.dumps(ratios, indent=2))
    (WORK / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
