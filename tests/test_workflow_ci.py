"""The repository's CI definitions and hooks: GitHub workflows valid against the workflow
schema (offline), safe with forks and secrets; the pre-commit hooks; ruff passes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from d2lbuild.config import load_config

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
NO_NETWORK = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
              "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "NO_PROXY": "", "no_proxy": ""}


def tool(name: str) -> list[str]:
    """A console script of this environment (the venv's bin folder), else ``python -m``."""
    script = Path(sys.executable).parent / name
    if script.is_file():
        return [str(script)]
    if shutil.which(name):
        return [shutil.which(name)]
    return [sys.executable, "-m", name.replace("-", "_")]


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def workflow(name: str) -> dict:
    return load(REPO / ".github" / "workflows" / name)


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           *map(str, paths)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **NO_NETWORK})


def test_the_three_workflows_exist():
    assert [p.name for p in WORKFLOWS] == ["gpu-eval.yml", "pull-request.yml", "release.yml"]


def test_every_workflow_is_valid_against_the_github_schema_offline():
    done = check_jsonschema(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("name: broken\non: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - uses: actions/checkout@v4\n        runs: true\n")
    done = check_jsonschema(broken)
    assert done.returncode == 1, done.stdout + done.stderr


def test_no_workflow_hands_secrets_to_pull_requests():
    for path in WORKFLOWS:
        code = "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("#"))
        assert "pull_request_target" not in code, path.name
        data = load(path)
        assert data["permissions"] == {"contents": "read"}, path.name
        for name, job in data["jobs"].items():
            uses_secrets = "secrets." in yaml.safe_dump(job)
            if uses_secrets:
                # only the release's publishing jobs, only for pushed tags
                assert path.name == "release.yml" and "refs/tags/v" in job["if"], (path.name, name)
    assert "pull_request" in workflow("pull-request.yml")["on"]
    assert set(workflow("release.yml")["on"]) == {"push"}
    assert workflow("release.yml")["on"]["push"] == {"tags": ["v*"]}


def test_secrets_are_read_from_the_repository_secrets_only():
    text = (REPO / ".github" / "workflows" / "release.yml").read_text()
    assert set(re.findall(r"secrets\.(\w+)", text)) == {"PYPI_API_TOKEN", "GITHUB_TOKEN"}
    publish = workflow("release.yml")["jobs"]["publish"]
    assert publish["environment"] == "release"
    pypi = next(s for s in publish["steps"] if "pypi-publish" in s.get("uses", ""))
    assert pypi["if"] == "${{ env.PYPI_API_TOKEN != '' }}"  # skipped where no token is set


def test_pull_request_runs_the_checks_the_tests_and_the_changed_sections():
    jobs = workflow("pull-request.yml")["jobs"]
    runs = "\n".join(s.get("run", "") for job in jobs.values() for s in job["steps"])
    for command in ("d2lbuild check", "d2lbuild lib --check", "ruff check build_tools tests",
                    "bash .ci/run", 'changed --since "origin/$BASE"', "eval --quick",
                    "d2lbuild html"):
        assert command in runs, command
    changed = jobs["changed-sections"]
    assert changed["runs-on"] == "ubuntu-latest"
    assert changed["steps"][0]["with"]["fetch-depth"] == 0
    upload = next(s for s in changed["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"


def test_gpu_evaluation_is_a_matrix_of_tabs_and_shards_that_combines_its_caches():
    data = workflow("gpu-eval.yml")
    eval_job, render = data["jobs"]["eval"], data["jobs"]["render"]
    assert eval_job["runs-on"] == ["self-hosted", "linux", "gpu"]
    matrix = eval_job["strategy"]["matrix"]
    assert matrix["tab"] == load_config(REPO).tabs
    assert matrix["shard"] == list(range(1, int(data["env"]["SHARDS"]) + 1))
    steps = "\n".join(yaml.safe_dump(s) for s in eval_job["steps"])
    assert 'eval --tab "${{ matrix.tab }}" --shard "${{ matrix.shard }}/$SHARDS"' in steps
    assert "actions/cache/restore" in steps and "actions/cache/save" in steps
    assert render["needs"] == "eval"
    download = next(s for s in render["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"] == {"pattern": "cache-*", "path": "_build/cache", "merge-multiple": True}
    runs = [s.get("run", "") for s in render["steps"]]
    assert {"make pkg", "make html HTML_ARGS=--strict", "make pdf"} <= set(runs)


def test_pre_commit_runs_ruff_check_and_lib_check():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert set(hooks) == {"ruff", "d2lbuild-check", "d2lbuild-lib-check"}
    assert re.match(hooks["ruff"]["files"], "build_tools/d2lbuild/cli.py")
    assert re.match(hooks["ruff"]["files"], "tests/test_book.py")
    assert not re.match(hooks["ruff"]["files"], "chapters/x.py")
    assert hooks["d2lbuild-check"]["entry"].endswith("check")
    assert hooks["d2lbuild-lib-check"]["entry"].endswith("lib-check")
    # the same ruff as requirements.txt
    pinned = re.search(r"^ruff==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    assert hooks["ruff"]["additional_dependencies"] == [f"ruff=={pinned}"]
    done = subprocess.run([*tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_passes_on_the_build_tool_and_the_tests():
    done = subprocess.run([*tool("ruff"), "check", "build_tools", "tests"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["CONTRIBUTING.md", "README.md"])
def test_the_docs_describe_the_workflow(name):
    text = (REPO / name).read_text()
    for word in ("make serve", "d2lbuild open", "d2lbuild writeback", "d2lbuild changed"):
        assert word in text, (name, word)
    if name == "README.md":
        assert "CONTRIBUTING.md" in text
