"""The step harness (tools/reelset/step.py) in-process, with a toy step: it loads the declared
INPUTS before the step runs, builds meta.json from the StepResult, and writes the output all
or nothing (render_report.py shares that helper)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from conftest import REPO
from reelset import ReelsetError
from reelset.schemas.base import StepMeta
from reelset.schemas.references import ExtractedFrame
from reelset.step import StepResult, atomic_output, main

SCRIPT = Path(__file__)  # the "tool": its folder is hashed into tool_sha256
INPUTS = {"step2-reference-frame": ExtractedFrame}
FRAME = {"video": "v1", "t": 1.0, "frame_index": 24, "frame_t": 0.96, "image": "frame.png", "width": 8, "height": 6}


def spec_file(tmp: Path, **extra) -> Path:
    path = tmp / "spec.json"
    path.write_text(json.dumps({"step": "toy", "dataset": "d", "device": "cpu", "toolchain": {"name": "host"}, **extra}))
    return path


def test_declared_inputs_are_loaded_and_meta_is_built_by_the_harness(tmp_path):
    seen = {}

    def run(ctx):
        seen.update(ctx.inputs)
        (ctx.out / "x.json").write_text("{}")
        return StepResult(counts={"things": 2}, versions={"toy": "1"})

    (tmp_path / "frame").mkdir()
    (tmp_path / "frame" / "frame.json").write_text(json.dumps(FRAME))
    spec = spec_file(tmp_path, video_id="v1", inputs={"step2-reference-frame": str(tmp_path / "frame")})
    assert main("toy", run, SCRIPT, INPUTS, ["--spec", str(spec), "--out", str(tmp_path / "out")]) == 0
    assert seen["step2-reference-frame"] == ExtractedFrame(**FRAME)
    meta = StepMeta.model_validate(orjson.loads((tmp_path / "out" / "meta.json").read_bytes()))
    assert (meta.step, meta.dataset, meta.shard, meta.device, meta.counts) == ("toy", "d", "v1", "cpu", {"things": 2})
    assert meta.toolchain == {"name": "host"} and len(meta.tool_sha256) == 64 and meta.versions == {"toy": "1"}


@pytest.mark.parametrize("case", ["no input", "missing file", "malformed"])
def test_a_bad_input_fails_naming_file_and_schema_before_the_step_runs(tmp_path, capsys, case):
    folder = tmp_path / "frame"
    folder.mkdir()
    if case == "malformed":
        (folder / "frame.json").write_text(json.dumps({**FRAME, "t": -1}))
    inputs = {} if case == "no input" else {"step2-reference-frame": str(folder)}

    def run(ctx):
        raise AssertionError("the step ran")

    out = tmp_path / "out"
    assert main("toy", run, SCRIPT, INPUTS, ["--spec", str(spec_file(tmp_path, inputs=inputs)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    want = {"no input": "toy: spec has no inputs.step2-reference-frame (folders holding frame.json)",
            "missing file": f"{folder / 'frame.json'}: missing artifact",
            "malformed": f"{folder / 'frame.json'}: does not match schema ExtractedFrame"}[case]
    assert want in err
    assert not out.exists() and not list(tmp_path.glob("out.partial-*"))


def test_run_gets_one_context_with_validated_sections_and_the_policy(tmp_path, capsys):
    """Issue 40: every tool's ``run(ctx)``: the declaration's config sections validated by their
    models (a bad value fails in the one style before the step runs, no output left), the
    device policy built from the spec, and a family tool's declaration found from the spec."""
    from reelset.declare import Step, per_family
    from reelset.schemas.scenes import SceneConfig

    toy = Step(name="toy", device="cpu", level="dataset", script="x.py", config={"scenes": SceneConfig})
    seen = {}

    def run(ctx):
        seen["ctx"] = ctx
        return StepResult()

    good = spec_file(tmp_path, config={"scenes": {"threshold": 12}})
    assert main(toy, run, SCRIPT, argv=["--spec", str(good), "--out", str(tmp_path / "out")]) == 0
    ctx = seen.pop("ctx")
    assert isinstance(ctx.config["scenes"], SceneConfig) and ctx.config["scenes"].threshold == 12
    assert ctx.policy.rule is None and ctx.spec.step == "toy" and ctx.inputs == {}
    bad = spec_file(tmp_path, config={"scenes": {"threshold": -1}})
    assert main(toy, run, SCRIPT, argv=["--spec", str(bad), "--out", str(tmp_path / "bad")]) == 2
    assert "error: dataset.toml [scenes] threshold: Input should be greater than 0 (got -1)" in capsys.readouterr().err
    assert "ctx" not in seen and not (tmp_path / "bad").exists() and not list(tmp_path.glob("bad.partial-*"))

    families_seen = []

    def declare(family):
        families_seen.append(family.name)
        return Step(name=family.preprocess_step, device="cpu", level="dataset", script="x.py", config={"scenes": SceneConfig})

    spec = tmp_path / "fam.json"
    spec.write_text(json.dumps({"step": "step4-ltx2-preprocess", "dataset": "d", "device": "cpu"}))
    assert main(per_family(declare), run, SCRIPT, argv=["--spec", str(spec), "--out", str(tmp_path / "fam")]) == 0
    assert families_seen == ["ltx2"] and seen["ctx"].config["scenes"] == SceneConfig()


def test_atomic_output_renames_on_success_and_removes_on_failure(tmp_path):
    with atomic_output(tmp_path / "ok", in_nix=False) as work:
        assert work.name.startswith("ok.partial-")
        (work / "f").write_text("x")
    assert (tmp_path / "ok" / "f").read_text() == "x"
    with pytest.raises(ReelsetError, match="output already exists"), atomic_output(tmp_path / "ok", in_nix=False):
        pass
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "bad", in_nix=False) as work:
        (work / "f").write_text("x")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok"]
    with atomic_output(tmp_path / "nix" / "out", in_nix=True) as work:  # inside Nix: $out itself
        assert work == tmp_path / "nix" / "out" and work.is_dir()


def test_the_step_table_is_the_tools_declarations():
    """One declaration (issue 40): nix/steps.nix's table is the tools' Step declarations (through
    the generated nix/steps.json) plus their computed sources, in pipeline order, and the harness
    loads exactly the inputs a declaration gives a schema."""
    import importlib

    from reelset import declare, nixinfo

    table = nixinfo.step_table()
    declared = declare.collect(REPO / "tools")
    assert [s["name"] for s in table] == [d.name for d in declared]
    for row, decl in zip(table, declared, strict=True):
        assert {k: v for k, v in row.items() if k not in ("sources", "segments")} == \
            {k: v for k, v in decl.to_nix().items() if k != "segments"}
        for i in row["inputs"]:  # every input is made before the step
            assert [s["name"] for s in table].index(i) < [s["name"] for s in table].index(row["name"])
        module = importlib.import_module(decl.script.removesuffix(".py"))
        if isinstance(getattr(module, "STEP", None), declare.Step):
            assert module.STEP is decl


def test_a_malformed_declaration_is_refused():
    from reelset.declare import Step, pipeline_order

    with pytest.raises(ReelsetError, match="shard_config"):
        Step(name="x", device="cpu", level="dataset", script="x.py", config={"a": StepMeta}, shard_config=["b"])
    a = Step(name="step2-a", device="cpu", level="video", script="a.py", inputs={"step2-b": None})
    b = Step(name="step2-b", device="cpu", level="video", script="b.py", inputs={"step2-a": None})
    with pytest.raises(ReelsetError, match="cycle"):
        pipeline_order([a, b])
    with pytest.raises(ReelsetError, match=r"input\(s\) \['step2-b'\] are declared by no tool"):
        pipeline_order([a])
