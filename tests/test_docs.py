"""The generated reference (docs/reference, docs/schemas) is current, complete, and the check catches staleness."""

from __future__ import annotations

import json
import subprocess
import sys

import gen_docs
from conftest import REPO
from reelset import nixinfo
from reelset.schemas.registry import ARTIFACTS


def test_generated_reference_is_up_to_date():
    proc = subprocess.run([sys.executable, str(REPO / "tools/gen_docs.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + "\n(run `python tools/gen_docs.py` and commit docs/reference + docs/schemas)"
    assert "up to date" in proc.stdout


def test_reference_covers_every_step_and_artifact():
    table = nixinfo.step_table()
    steps_md = (REPO / "docs/reference/steps.md").read_text()
    for s in table:
        assert f"\n## {s['name']}\n" in steps_md
        assert f"[{s['name']}](#{s['name']})" in steps_md
        for upstream in s["inputs"]:  # every edge of the DAG is drawn
            ids = {t["name"]: f"s{i}" for i, t in enumerate(table)}
            assert f"  {ids[upstream]} --> {ids[s['name']]}\n" in steps_md
    artifacts_md = (REPO / "docs/reference/artifacts.md").read_text()
    for name, model in ARTIFACTS.items():
        assert f"\n## {name}\n" in artifacts_md
        schema = json.loads((REPO / "docs/schemas" / gen_docs.schema_file(name)).read_text())
        assert schema == model.model_json_schema()


def test_check_reports_stale_missing_and_extra_files(tmp_path):
    assert gen_docs.main(["--out", str(tmp_path)]) == 0
    assert gen_docs.main(["--check", "--out", str(tmp_path)]) == 0
    steps_md = tmp_path / "reference/steps.md"
    steps_md.write_text(steps_md.read_text().replace("## step1-scenes", "## step1-scene"))
    (tmp_path / "schemas/scenes.schema.json").unlink()
    (tmp_path / "schemas/old.schema.json").write_text("{}")
    files = gen_docs.render_all(nixinfo.step_table())
    assert sorted(gen_docs.stale(files, tmp_path)) == sorted(
        ["reference/steps.md", "schemas/scenes.schema.json", "schemas/old.schema.json (not generated any more)"])
    proc = subprocess.run([sys.executable, str(REPO / "tools/gen_docs.py"), "--check", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "reference/steps.md" in proc.stderr and "run `python tools/gen_docs.py`" in proc.stderr
    assert gen_docs.main(["--out", str(tmp_path)]) == 0
    assert gen_docs.stale(files, tmp_path) == [] and not (tmp_path / "schemas/old.schema.json").exists()


def test_a_new_step_in_the_table_makes_the_reference_stale(tmp_path):
    table = nixinfo.step_table()
    assert gen_docs.main(["--out", str(tmp_path)]) == 0
    extra = table + [{"name": "step9-extra", "device": "cpu", "level": "dataset", "inputs": [table[-1]["name"]],
                      "config": [], "models": {}, "script": "step2_bible.py", "sources": []}]
    files = gen_docs.render_all(extra)
    assert gen_docs.stale(files, tmp_path) == ["reference/steps.md"]
    assert "## step9-extra" in files["reference/steps.md"] and "`tools/step2_bible.py`" in files["reference/steps.md"]
