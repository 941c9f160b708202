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


def test_every_tool_reads_the_sections_the_step_table_declares():
    """One declaration: the dataset.toml sections a tool reads (``ctx.config["x"]``, validated by
    the harness from its declaration, or ``spec.section("x", …)``, with a literal name) are exactly
    those its entry in nix/steps.json passes (``config``); a section the table passes but no tool
    reads, or the reverse, fails here."""
    import ast

    def keys(tree: ast.AST) -> list[ast.expr]:  # the section argument of every read
        out = [c.args[0] for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
               and c.func.attr == "section" and c.args]
        return out + [n.slice for n in ast.walk(tree) if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Attribute)
                      and n.value.attr == "config" and isinstance(n.value.value, ast.Name) and n.value.value.id == "ctx"]

    for s in nixinfo.step_table():
        tree = ast.parse((REPO / "tools" / s["script"]).read_text())
        read = {k.value for k in keys(tree) if isinstance(k, ast.Constant)}
        dynamic = any(not isinstance(k, ast.Constant) for k in keys(tree))
        # [device] of every cuda step is read by the harness (reelset/device.py via reelset/step.py)
        harness = {"device"} if s["device"] == "cuda" else set()
        assert harness <= set(s["config"]), f"{s['name']}: a cuda step must take the \"device\" section"
        own = set(s["config"]) - harness
        if dynamic:  # step4/step5: the section is the family's ("<family>_preprocess", "<family>_train")
            assert len(own) == 1 and next(iter(own)).startswith(s["family"]), s["name"]
        else:
            assert read == own, f"{s['name']}: tools/{s['script']} reads {sorted(read)}, nix/steps.nix passes {s['config']}"


def test_a_bad_setting_fails_in_one_style_without_traceback(tmp_path):
    from conftest import DEMO_VIDEO, run_tool, scenes_spec

    proc = run_tool("step1_scenes.py", scenes_spec(DEMO_VIDEO, threshold=-1), tmp_path / "out", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: dataset.toml [scenes] threshold: Input should be greater than 0 (got -1)" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("out.partial-*"))


def test_datasets_md_names_only_keys_the_config_models_have():
    """Issue 27 (10): each `[section]` row of docs/datasets.md that names its model (`— `Model``)
    lists only that model's keys (a removed key such as `prepend_trigger` is not documented);
    backticked values it allows are listed here."""
    import importlib
    import pkgutil
    import re

    import reelset.schemas as schemas
    from reelset import families

    models = {}
    # the artifact schemas and, in each family's package, its sections' config models
    modules = [f"reelset.schemas.{info.name}" for info in pkgutil.iter_modules(schemas.__path__)]
    modules += [f"reelset.families.{name}.{part}" for name in families.names() for part in ("config", "training")]
    for module in modules:
        for name, value in vars(importlib.import_module(module)).items():
            if hasattr(value, "model_fields"):
                models[name] = value
    values = {"json", "jsonl", "csv"}
    rows = 0
    for line in (REPO / "docs/datasets.md").read_text().splitlines():
        m = re.match(r"\| `\[([a-z0-9_.]+)\]` \| table \| (.*)— `(\w+)` \|$", line)
        if not m:
            continue
        rows += 1
        section, body, model = m.groups()
        unknown = [t for t in re.findall(r"`([a-z][a-z0-9_]*)`", body) if t not in models[model].model_fields and t not in values]
        assert not unknown, f"docs/datasets.md [{section}]: {unknown} are not keys of {model}"
    assert rows >= 4
