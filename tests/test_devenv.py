"""devenv.nix, evaluated as a module with stub arguments (devenv itself cannot be installed here):
its tasks are exactly the step table's, with the documented commands."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from reelset import nixinfo

# Every pkgs attribute devenv.nix may use, as a stub string (a new package must be added here).
STUB_PKGS = ("{ python3 = \"<python3>\"; ffmpeg-headless = \"<ffmpeg>\"; espeak-ng = \"<espeak-ng>\"; "
             "gnumake = \"<make>\"; git = \"<git>\"; nix-diff = \"<nix-diff>\"; nix-tree = \"<nix-tree>\"; "
             "chromium = \"<chromium>\"; chromedriver = \"<chromedriver>\"; stdenv.isLinux = true; }")


def evaluate(root: Path) -> dict:
    """``import root/devenv.nix { pkgs = stubs; config.devenv.root = "/project"; }``, strictly, as JSON."""
    expr = f'import {root}/devenv.nix {{ pkgs = {STUB_PKGS}; config.devenv.root = "/project"; lib = throw "unused"; }}'
    proc = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "-E", expr], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def module() -> dict:
    return evaluate(REPO)


def test_tasks_are_generated_from_the_step_table(module):
    table = nixinfo.step_table()
    tasks = module["tasks"]
    step_tasks = {k: v for k, v in tasks.items() if k.startswith("reelset:step")}
    assert sorted(step_tasks) == sorted(f"reelset:{s['name']}" for s in table)
    for s in table:
        task = tasks[f"reelset:{s['name']}"]
        assert task["exec"] == f"nix build --impure .#host.{s['name']} --out-link result-{s['name']}"
        assert s["name"] in task["description"] and s["device"] in task["description"]
    assert tasks["reelset:demo"]["exec"] == "nix build --impure .#host.demo --out-link result"
    assert tasks["reelset:test"]["exec"] == "make test"
    assert tasks["builder:check"]["exec"] == "builders/check"
    assert set(tasks) - set(step_tasks) == {"reelset:demo", "reelset:test", "reelset:venv", "reelset:docs", "builder:check"}


def test_a_step_added_to_the_table_is_a_task(tmp_path):
    (tmp_path / "nix").mkdir()
    shutil.copy(REPO / "devenv.nix", tmp_path / "devenv.nix")
    for generated in ("steps.nix", "sources.json", "families.json"):  # steps.nix reads the generated JSON files
        shutil.copy(REPO / "nix" / generated, tmp_path / "nix" / generated)
    # a step declared beside its tool reaches the table through nix/steps.json (tools/gen_docs.py)
    from reelset.declare import Step

    table = json.loads((REPO / "nix/steps.json").read_text())
    table.append(Step(name="step9-extra", device="cpu", level="dataset", script="step2_bible.py").to_nix())
    (tmp_path / "nix/steps.json").write_text(json.dumps(table))
    tasks = evaluate(tmp_path)["tasks"]
    assert tasks["reelset:step9-extra"]["exec"] == "nix build --impure .#host.step9-extra --out-link result-step9-extra"
    assert "step9-extra (cpu, dataset-level)" in tasks["reelset:step9-extra"]["description"]


def test_shell_environment_matches_the_makefile(module):
    assert "REELSET_PYTHON" not in module["env"]  # steps use the store env of the lock, as `make` does
    assert "extra-experimental-features = nix-command flakes" in module["env"]["NIX_CONFIG"]
    assert module["env"]["REELSET_HOST_PATH"].startswith("<ffmpeg>/bin:")
    assert {"<python3>", "<ffmpeg>", "<chromium>", "<chromedriver>"} <= set(module["packages"])
    assert module["scripts"]["reelset"]["exec"] == 'exec "/project/bin/reelset" "$@"'


def test_review_process_only_when_the_review_tool_exists(tmp_path):
    (tmp_path / "nix").mkdir()
    shutil.copy(REPO / "devenv.nix", tmp_path / "devenv.nix")
    for f in ("steps.nix", "steps.json", "sources.json", "families.json"):  # the table and what steps.nix reads
        shutil.copy(REPO / "nix" / f, tmp_path / "nix" / f)
    assert evaluate(tmp_path)["processes"] == {}
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools/review.py").write_text("# stand-in\n")
    assert evaluate(tmp_path)["processes"] == {"review": {"exec": "/project/.venv/bin/python tools/review.py serve"}}
