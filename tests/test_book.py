"""The book itself: every section runs top to bottom in both frameworks (quick mode, fixture
data, as CI runs it), and the sources are clean."""

import json
import os
import subprocess
import sys

from conftest import REPO


def test_every_section_executes_in_both_frameworks(tmp_path):
    mirror = tmp_path / "mirror"
    env = {**os.environ, "PYTHONPATH": str(REPO / "build_tools"),
           "D2L_DATA_MIRROR": str(mirror), "D2L_DATA_DIR": str(tmp_path / "data")}
    subprocess.run([sys.executable, "-m", "d2lbuild.fixtures", str(mirror)], check=True, env=env,
                   capture_output=True)
    result = subprocess.run([sys.executable, "-m", "d2lbuild", "--root", str(REPO), "eval",
                             "--quick", "--jobs", "2"], capture_output=True, text=True, env=env,
                            timeout=1800)
    assert result.returncode == 0, result.stderr[-6000:]
    summary = json.loads((REPO / "_build/eval/summary.json").read_text())
    rows = summary["notebooks"]
    assert rows and all(r["status"] in ("ran", "cached", "empty") for r in rows)
    assert summary["counts"]["ran"] + summary["counts"]["cached"] > 0
    assert {r["tab"] for r in rows} == {"mxnet", "pytorch"}
