"""Through Nix (host toolchain): the bible steps, disambiguation and scene context build and
validate; editing the bible re-runs only the steps that read it; bible errors fail the build
with the field path; datasets without a bible still build their other steps."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from conftest import REPO, nix, nix_build
from reelset.disambiguate import name_mentions
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.context import SceneContextArtifact
from reelset.schemas.disambiguate import DisambiguatedTranscript
from reelset.schemas.references import ShotReferenceArtifact
from test_nix import pipeline_expr, repo_copy, write_dataset  # noqa: F401 (fixture)

pytestmark = pytest.mark.nix
BIBLE_STEPS = ["step2-bible", "step2-shot-reference", "step2-transcript-disambiguate", "step2-scene-context"]


def test_bible_steps_build_through_nix():
    ctx, _ = nix_build(".#host.step2-scene-context.shards.demo01")
    context = SceneContextArtifact.model_validate(orjson.loads((ctx / "context.json").read_bytes()))
    assert len(context.clips) == 4 and context.trigger_word == "rsdemo"
    dis, _ = nix_build(".#host.step2-transcript-disambiguate.shards.demo01")
    t = DisambiguatedTranscript.model_validate(orjson.loads((dis / "corrected_transcript.json").read_bytes()))
    counts = name_mentions(" ".join(s.text for s in t.segments), ["Archer", "Lana", "Cyril", "Malory", "Mallory"])
    assert counts == {"Archer": 3, "Lana": 2, "Cyril": 2, "Malory": 2, "Mallory": 0}, counts
    meta = orjson.loads((dis / "meta.json").read_bytes())
    assert meta["models"][0]["name"] == "faster-whisper-tiny-en" and meta["counts"]["applied"] >= 3
    # multimodal pass: the tiny random Qwen2.5-VL, built by tools/make_tiny_models.py as a Nix
    # derivation (nix/models.toml `builder`), ran on CPU under constrained decoding: every
    # answer is valid (no fallback), and its nonsense changes no text
    vlm = meta["models"][1]
    assert vlm["name"] == "tiny-qwen2.5-vl" and vlm["revision"] == "built" and vlm["path"].startswith("/nix/store/")
    assert vlm["path"].endswith("-tiny-qwen2.5-vl") and (Path(vlm["path"]) / "model.safetensors").is_file()
    model = {p.name: p for p in t.passes}["model"]
    assert model.ran and model.fallbacks == 0 == meta["counts"]["model_malformed"] and model.applied == 0
    assert all(a.action in ("alternative", "rejected") for a in t.audit if a.pass_ == "model")
    bible, _ = nix_build(".#host.step2-bible")
    BibleArtifact.model_validate(orjson.loads((bible / "bible.json").read_bytes()))
    refs, _ = nix_build(".#host.step2-shot-reference")
    art = ShotReferenceArtifact.model_validate(orjson.loads((refs / "references.json").read_bytes()))
    assert all((refs / f.image).is_file() for f in art.frames) and len(art.frames) == 4
    for out in (bible, refs):
        assert orjson.loads((out / "meta.json").read_bytes())["shard"] is None


def shard_drvs(repo) -> dict[str, str]:
    out = {}
    for step in ["step1-scenes", "step2-transcript-base", *BIBLE_STEPS]:
        attr = f".#host.{step}" + ("" if step in ("step2-bible", "step2-shot-reference") else ".shards.demo01") + ".data.drvPath"
        proc = nix("eval", "--impure", "--raw", attr, cwd=repo)
        assert proc.returncode == 0, proc.stderr
        out[step] = proc.stdout
    return out


def test_editing_the_bible_reruns_only_bible_steps(repo_copy):  # noqa: F811
    before = shard_drvs(repo_copy)
    bible = repo_copy / "pipelines/demo/bible.yaml"
    bible.write_text(bible.read_text().replace("description: the SMPTE HD colour bars", "description: SMPTE bars, static"))
    after = shard_drvs(repo_copy)
    assert after["step1-scenes"] == before["step1-scenes"]
    assert after["step2-transcript-base"] == before["step2-transcript-base"]
    for step in BIBLE_STEPS:
        assert after[step] != before[step], step


def test_malformed_bible_fails_the_nix_build_with_the_field_path(repo_copy):  # noqa: F811
    bible = repo_copy / "pipelines/demo/bible.yaml"
    bible.write_text(bible.read_text().replace("{video: demo01, t: 13.0}", "{video: demo01, t: -1}"))
    proc = nix("build", "--impure", "--no-link", ".#host.step2-bible", cwd=repo_copy)
    assert proc.returncode != 0
    assert "characters[2] (Cyril).reference_shots[0].t (line" in proc.stderr and "greater than or equal to 0" in proc.stderr, proc.stderr
    # issue 18: the user's file, not its store copy
    assert "error: bible.yaml: characters[2] (Cyril).reference_shots[0].t (line" in proc.stderr, proc.stderr
    assert "-bible.yaml: characters" not in proc.stderr


def test_default_vlm_is_pinned_but_needs_its_nar_hash(tmp_path):
    """Without `[disambiguate] vlm`, the default Qwen2.5-VL-7B-Instruct (revision pinned, no
    narHash yet) fails evaluation with the commands that pin it."""
    ds = write_dataset(tmp_path / "ds", [{"id": "v1", "path": "v1.mp4"}], hotword="defaultvlm")
    shutil.copy(REPO / "pipelines/demo/demo.mp4", ds / "v1.mp4")
    (ds / "bible.yaml").write_text((REPO / "pipelines/demo/bible.yaml").read_text().replace("video: demo01", "video: v1"))
    proc = nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, "step2-transcript-disambiguate.shards.v1.drvPath"))
    assert proc.returncode != 0
    assert "model 'qwen2.5-vl-7b-instruct' (Qwen/Qwen2.5-VL-7B-Instruct @ cc594898137f460bfe9f0759e9844b3ce807cfb5)" in proc.stderr
    assert "fixed_input.py fetch-model qwen2.5-vl-7b-instruct" in proc.stderr, proc.stderr
    # issue 18: the error names the dataset.toml key that chose it, the pinned alternatives and the
    # dataset-folder models.toml that pins it without forking reelset
    assert f"the default of `vlm` in [disambiguate] (not set in {ds}/dataset.toml)" in proc.stderr, proc.stderr
    assert "tiny-qwen2.5-vl" in proc.stderr.split("Models usable now")[1] and "models.toml beside your dataset.toml" in proc.stderr
    chosen = (ds / "dataset.toml").read_text() + '\n[disambiguate]\nvlm = "tiny-qwen2.5-vl"\n\n[caption]\nmodel = "qwen2.5-vl-7b-instruct"\n'
    (ds / "dataset.toml").write_text(chosen)
    proc = nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, "step2-caption.shards.v1.drvPath"))
    assert proc.returncode != 0 and f'chosen by `model = "qwen2.5-vl-7b-instruct"` in [caption] of {ds}/dataset.toml' in proc.stderr


def test_a_dataset_models_toml_pins_a_model_without_forking_reelset(tmp_path):
    """A models.toml beside dataset.toml is merged over nix/models.toml: here it makes the
    default VLM name a built tiny model, so the step evaluates (and names it in its spec)."""
    ds = write_dataset(tmp_path / "ds", [{"id": "demo01", "path": "v1.mp4"}], hotword="dsmodels")
    shutil.copy(REPO / "pipelines/demo/demo.mp4", ds / "v1.mp4")
    shutil.copy(REPO / "pipelines/demo/bible.yaml", ds / "bible.yaml")
    (ds / "models.toml").write_text('["qwen2.5-vl-7b-instruct"]\nbuilder = "make_tiny_models.py"\nargs = ["qwen2.5-vl"]\n')
    proc = nix("eval", "--impure", "--json", "--expr", pipeline_expr(ds, "step2-caption.shards.demo01.data.drvAttrs.reelsetSpec"))
    assert proc.returncode == 0, proc.stderr
    vlm = orjson.loads(orjson.loads(proc.stdout))["models"]["vlm"]
    assert vlm["name"] == "qwen2.5-vl-7b-instruct" and vlm["revision"] == "built"


def test_dataset_without_bible(tmp_path):
    ds = write_dataset(tmp_path / "ds", [{"id": "v1", "path": "v1.mp4"}], hotword="nobible")
    shutil.copy(REPO / "pipelines/demo/demo.mp4", ds / "v1.mp4")
    proc = nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, "step2-bible.drvPath"))
    assert proc.returncode != 0 and "step2-bible needs" in proc.stderr and "bible.yaml" in proc.stderr, proc.stderr
    drv = nix("eval", "--impure", "--json", "--expr", pipeline_expr(ds, "all.drvAttrs.reelsetSpec"))
    assert drv.returncode == 0, drv.stderr
    members = sorted(orjson.loads(orjson.loads(drv.stdout))["inputs"])
    # step2-speakers needs no bible: without voice references its voices stay unnamed, and its
    # timeline is where a user finds the spans to write as voice references
    assert members == ["step1-scenes", "step2-speakers", "step2-transcript-base"]
