"""The audio-visual multimodal pass (a Qwen2.5-Omni thinker) and Qwen3-VL captions, with the
tiny random-config models of tools/make_tiny_models.py through the real loading code
(reelset.vlm.load: AutoProcessor + the transformers class of config.json's model_type) on the
demo's real espeak-ng speech and frames.

The Omni thinker hears each segment: its audio, cut from the video at the segment's start
and end, reaches the processor (Whisper log-mel ``input_features`` of the segment's length,
one ``<|AUDIO|>`` token per 40 ms in the prompt) and the model's generate; answers are
constrained to the schema as with Qwen2.5-VL; meta.json says which kind ran and that it heard.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import orjson
import pytest

from conftest import DEMO_DIR, DEMO_VIDEO, PYTHON, REPO
from reelset import vlm
from test_disambiguate import DEMO_DISAMBIGUATE, disambiguate, load


def build(kind: str, out: Path) -> Path:
    proc = subprocess.run([PYTHON, str(REPO / "tools" / "make_tiny_models.py"), kind, "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def tiny_omni(tmp_path_factory) -> Path:
    """The tiny Qwen2.5-Omni thinker (nix/models.toml "tiny-qwen2.5-omni-thinker")."""
    return build("qwen2.5-omni-thinker", tmp_path_factory.mktemp("omni") / "tiny-qwen2.5-omni-thinker")


@pytest.fixture(scope="module")
def tiny_qwen3_omni(tmp_path_factory) -> Path:
    """The tiny Qwen3-Omni (MoE) thinker (nix/models.toml "tiny-qwen3-omni-moe-thinker")."""
    return build("qwen3-omni-moe-thinker", tmp_path_factory.mktemp("omni3") / "tiny-qwen3-omni-moe-thinker")


# the Omni thinkers: make_tiny_models.py kind → (fixture, model_type, classes, processing module, audio tokens per second)
THINKERS = {
    "qwen2.5-omni-thinker": ("tiny_omni", "qwen2_5_omni_thinker", "Qwen2_5Omni", "qwen2_5_omni", 25),
    "qwen3-omni-moe-thinker": ("tiny_qwen3_omni", "qwen3_omni_moe_thinker", "Qwen3OmniMoe", "qwen3_omni_moe", 13),
}


@pytest.fixture(scope="module")
def tiny_qwen3_vl(tmp_path_factory) -> Path:
    """The tiny Qwen3-VL (nix/models.toml "tiny-qwen3-vl")."""
    return build("qwen3-vl", tmp_path_factory.mktemp("qwen3vl") / "tiny-qwen3-vl")


# the demo's passes without the conditioned re-decoding (not what is tested here; it costs a minute)
OMNI_CFG = {**DEMO_DISAMBIGUATE, "conditioned": False}


@pytest.fixture(scope="module")
def omni_runs(demo_scenes, demo_transcript, tiny_omni, tmp_path_factory) -> dict[str, Path]:
    """bible → shot references → disambiguate (the tool's CLI, multimodal pass with the tiny
    Omni thinker) → speakers → scene context on the demo."""
    return disambiguate(tmp_path_factory.mktemp("dis-omni"), DEMO_VIDEO, "demo01", DEMO_DIR / "bible.yaml",
                        demo_scenes, demo_transcript, vlm=tiny_omni, vlm_kind="qwen2.5-omni-thinker", **OMNI_CFG)


def test_tiny_omni_and_qwen3_vl_are_deterministic(tiny_omni, tiny_qwen3_vl, tiny_qwen3_omni, tmp_path):
    """A second build writes the same bytes (Nix builds them as plain derivations); the Omni
    tokenizer names its special tokens, which Qwen2_5OmniProcessor requires."""
    from conftest import tree_digest

    assert tree_digest(build("qwen2.5-omni-thinker", tmp_path / "omni")) == tree_digest(tiny_omni)
    assert tree_digest(build("qwen3-vl", tmp_path / "q3")) == tree_digest(tiny_qwen3_vl)
    assert tree_digest(build("qwen3-omni-moe-thinker", tmp_path / "omni3")) == tree_digest(tiny_qwen3_omni)
    tok = json.loads((tiny_omni / "tokenizer_config.json").read_text())
    assert tok["audio_token"] == "<|AUDIO|>" and tok["vision_bos_token"] == "<|vision_bos|>"


def test_load_recognises_the_omni_thinkers_and_qwen3_vl(tiny_omni, tiny_qwen3_vl, tiny_qwen3_omni):
    omni = vlm.load(tiny_omni, device="cpu")
    assert type(omni.model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    assert type(omni.processor).__name__ == "Qwen2_5OmniProcessor"
    assert omni.hears_audio and omni.model_type == "qwen2_5_omni_thinker" and omni.patch_size == 14
    assert vlm.kind(omni) == "audio-visual"
    q3 = vlm.load(tiny_qwen3_vl, device="cpu")
    assert type(q3.model).__name__ == "Qwen3VLForConditionalGeneration" and type(q3.processor).__name__ == "Qwen3VLProcessor"
    assert not q3.hears_audio and q3.patch_size == 16 and vlm.kind(q3) == "visual"
    omni3 = vlm.load(tiny_qwen3_omni, device="cpu")
    assert type(omni3.model).__name__ == "Qwen3OmniMoeThinkerForConditionalGeneration"
    assert type(omni3.processor).__name__ == "Qwen3OmniMoeProcessor" and omni3.hears_audio and omni3.patch_size == 16


@pytest.mark.parametrize("kind", THINKERS)
def test_a_full_omni_checkpoint_loads_only_its_thinker(kind, request, tmp_path):
    """model_type qwen2_5_omni / qwen3_omni_moe (the hub's layout: thinker.* weights beside the
    talker's): the thinker is loaded from its thinker_config and thinker.* weights, bit for bit."""
    import shutil

    import torch
    import transformers

    fixture, _, prefix, full_type, _ = THINKERS[kind]
    tiny = request.getfixturevalue(fixture)
    thinker_cls = getattr(transformers, f"{prefix}ThinkerForConditionalGeneration")
    thinker = thinker_cls.from_pretrained(tiny)
    config = getattr(transformers, f"{prefix}Config")(thinker_config=thinker.config.to_dict(), enable_audio_output=False)
    full = getattr(transformers, f"{prefix}ForConditionalGeneration")(config)
    full.thinker.load_state_dict(thinker.state_dict())
    full.save_pretrained(tmp_path / "full")
    for f in tiny.iterdir():
        if f.name not in ("config.json", "model.safetensors", "generation_config.json"):
            shutil.copy(f, tmp_path / "full" / f.name)
    assert json.loads((tmp_path / "full" / "config.json").read_text())["model_type"] == full_type
    loaded = vlm.load(tmp_path / "full", device="cpu")
    assert type(loaded.model) is thinker_cls and loaded.hears_audio
    want, got = thinker.state_dict(), loaded.model.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)


def test_audio_for_a_model_that_does_not_hear_is_an_error(tiny_qwen3_vl):
    import numpy as np

    from reelset import ReelsetError

    q3 = vlm.load(tiny_qwen3_vl, device="cpu")
    with pytest.raises(ReelsetError, match="does not hear"):
        vlm.generate(q3, [vlm.chat("hi", audios=[np.zeros(1600, dtype=np.float32)])], max_new_tokens=2)


@pytest.mark.parametrize("kind", THINKERS)
def test_omni_multimodal_pass_hears_each_segment(kind, request, omni_runs, demo_transcript, tmp_path, monkeypatch):
    """In process, the pass's generate calls get the segments' audio: Whisper features whose
    length is the segment's (100 frames/s), and the audio encoder's number of audio tokens
    (Qwen2.5-Omni: one <|AUDIO|> per 40 ms; Qwen3-Omni: one <|audio_pad|> per 80 ms) between the
    audio start and end markers in each prompt, after the frames; xgrammar constrains them."""
    import importlib

    import torch
    import transformers

    import step2_transcript_disambiguate as tool
    from reelset.schemas.base import StepSpec
    from reelset.schemas.bible import BibleArtifact
    from reelset.schemas.disambiguate import DisambiguateConfig
    from reelset.schemas.references import ShotReferenceArtifact
    from reelset.schemas.transcript import TranscriptArtifact

    fixture, model_type, prefix, module, per_second = THINKERS[kind]
    tiny = request.getfixturevalue(fixture)
    output_lengths = importlib.import_module(f"transformers.models.{module}.processing_{module}")._get_feat_extract_output_lengths
    calls = []
    cls = getattr(transformers, f"{prefix}ThinkerForConditionalGeneration")
    original = cls.generate

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "generate", spy)
    base = TranscriptArtifact.model_validate(orjson.loads((demo_transcript / "transcript.json").read_bytes()))
    segments = [[dict(word=w.word, start=w.start, end=w.end, probability=w.probability, source="base") for w in s.words]
                for s in base.segments]
    spec = StepSpec.model_validate({
        "step": "step2-transcript-disambiguate", "dataset": "t", "device": "cpu", "video_id": "demo01", "video": str(DEMO_VIDEO),
        "models": {"vlm": {"name": f"tiny-{kind}", "repo": "x", "revision": "x", "path": str(tiny)}},
        "inputs": {"step2-shot-reference": str(omni_runs["refs"])}})
    bible = BibleArtifact.model_validate(orjson.loads((omni_runs["bible"] / "bible.json").read_bytes()))
    refs = ShotReferenceArtifact.model_validate(orjson.loads((omni_runs["refs"] / "references.json").read_bytes()))
    (tmp_path / "work").mkdir()
    cfg = DisambiguateConfig.model_validate({**OMNI_CFG, "model_batch_size": 2})
    _speakers, _audit, detail, stats, kinds = tool.model_pass(spec, cfg, base, segments, bible, refs, tmp_path / "work", "cpu")
    assert kinds == {"vlm_model_type": model_type, "vlm_inputs": "frames+audio"}
    assert stats["model_audio_segments"] == len(segments) > 0 and "the segment's audio" in detail

    proc = vlm.load(tiny, device="cpu").processor
    audio, bos, eos, video = (proc.tokenizer.convert_tokens_to_ids(t) for t in
                              (proc.audio_token, proc.audio_bos_token, proc.audio_eos_token, proc.video_token))
    spans = [(s.start, s.end) for s in base.segments]
    heard, grid_seconds = [], []
    for call in calls:
        grid_seconds += call["video_second_per_grid"].tolist()
        assert [type(p) for p in call["logits_processor"]] == [vlm.GrammarLogitsProcessor]
        feats, mask = call["input_features"], call["feature_attention_mask"]
        assert feats.shape[1] == 128 and feats.shape[0] == call["input_ids"].shape[0]  # 128 mel bins per clip
        for row, frames in zip(call["input_ids"].tolist(), mask.sum(-1).tolist(), strict=True):
            n = row.count(audio)
            assert n == int(output_lengths(torch.tensor(frames)))  # the audio encoder's output length of this clip
            assert row[row.index(bos) + 1: row.index(eos)] == [audio] * n and row.index(video) < row.index(bos)
            heard.append((frames, n))
        assert float(feats[mask.bool().unsqueeze(1).expand_as(feats)].std()) > 0.1  # speech, not silence
    assert len(heard) == len(segments)
    # each video's frames on the audio's time axis (TMRoPE): a temporal patch of 2 frames sampled at
    # model_frames / duration spans 2 / model_frames of the segment (not the processor's 2 fps default)
    assert grid_seconds == pytest.approx([2 / cfg.model_frames * (end - start) for start, end in spans], rel=1e-3)
    for (start, end), (frames, n) in zip(spans, heard, strict=True):
        assert abs(frames - (end - start) * 100) <= 2 and abs(n - (end - start) * per_second) <= 2
    print(f"\nsegments heard (feature frames, audio tokens): {heard}")


def test_omni_run_records_the_choice_in_meta(omni_runs):
    """The tool's CLI with the Omni thinker: schema-valid answers (constrained), meta.json and
    the pass summary say an audio-visual model ran and heard every segment."""
    t = load(omni_runs["dis"])
    model = {p.name: p for p in t.passes}["model"]
    assert model.ran and "tiny-qwen2.5-omni-thinker (qwen2_5_omni_thinker, cpu, float32)" in model.detail
    n = len(t.segments)  # the demo's four lines, the last one in two sentences (issue 37: a pause ends it)
    assert n >= 4 and f"+ the segment's audio ({n} segments heard)" in model.detail and f"0/{n} answers unusable" in model.detail
    meta = orjson.loads((omni_runs["dis"] / "meta.json").read_bytes())
    assert [m["name"] for m in meta["models"]] == ["tiny-qwen2.5-omni-thinker"]
    assert meta["versions"]["vlm_model_type"] == "qwen2_5_omni_thinker" and meta["versions"]["vlm_inputs"] == "frames+audio"
    assert meta["counts"]["model_audio_segments"] == meta["counts"]["model_segments"] == n
    assert meta["counts"]["model_malformed"] == 0
    names = {"Archer", "Lana", "Cyril", "Malory", "unknown"}
    assert all(s.speaker.source == "model" and s.speaker.speaker in names for s in t.segments)


def test_captions_with_the_tiny_qwen3_vl(omni_runs, demo_scenes, tiny_qwen3_vl, tmp_path):
    """step2-caption's CLI with the tiny Qwen3-VL (patch 16): every clip captioned, constrained."""
    from conftest import run_tool

    spec = {"step": "step2-caption", "dataset": "t", "device": "cuda", "video_id": "demo01",
            "models": {"vlm": {"name": "tiny-qwen3-vl", "repo": "reelset:make_tiny_models.py qwen3-vl", "revision": "built",
                               "path": str(tiny_qwen3_vl)}},
            "inputs": {"step1-scenes": str(demo_scenes), "step2-scene-context": str(omni_runs["ctx"]),
                       "step2-bible": str(omni_runs["bible"])},
            "config": {"caption": {"max_frames": 4, "max_new_tokens": 200, "max_chars": 60, "batch_size": 4},
                       "device": {"allow_cpu": True}}}
    proc = run_tool("step2_caption.py", spec, tmp_path / "cap", tmp_path)
    assert proc.returncode == 0, proc.stderr
    caps = json.loads((tmp_path / "cap" / "captions.json").read_text())
    assert caps["clips"] and all(c["constrained"] and c["status"] == "ok" for c in caps["clips"])
    meta = json.loads((tmp_path / "cap" / "meta.json").read_text())
    assert meta["models"][0]["name"] == "tiny-qwen3-vl"


@pytest.mark.nix
def test_omni_multimodal_pass_through_nix(tmp_path):
    """A dataset choosing `[disambiguate] vlm = "tiny-qwen2.5-omni-thinker"`: Nix builds the tiny
    thinker (nix/models.toml `builder`) and step2-transcript-disambiguate with it; the shard's
    meta.json says the audio-visual model ran and heard every segment. Its `[caption] model =
    "tiny-qwen3-vl"`: step2-caption captions every clip with the tiny Qwen3-VL."""
    import shutil

    from conftest import nix_build
    from test_nix import pipeline_expr, write_dataset

    ds = write_dataset(tmp_path / "ds", [{"id": "demo01", "path": "v1.mp4"}], hotword="omninix")
    shutil.copy(DEMO_VIDEO, ds / "v1.mp4")
    shutil.copy(DEMO_DIR / "bible.yaml", ds / "bible.yaml")
    with (ds / "dataset.toml").open("a") as f:
        # the demo's bounds for a random model (pipelines/demo/dataset.toml: it fills every string to its bound)
        f.write('\n[disambiguate]\nvlm = "tiny-qwen2.5-omni-thinker"\nconditioned = false\nmodel_frames = 2\n'
                'model_max_pixels = 12544\nmodel_max_new_tokens = 160\nmodel_max_text_chars = 100\n\n'
                '[caption]\nmodel = "tiny-qwen3-vl"\nmax_frames = 8\nmax_chars = 100\nmax_new_tokens = 256\n')
    out, _ = nix_build("--expr", pipeline_expr(ds, "step2-transcript-disambiguate.shards.demo01"))
    meta = orjson.loads((out / "meta.json").read_bytes())
    vlm_ref = meta["models"][-1]
    assert vlm_ref["name"] == "tiny-qwen2.5-omni-thinker" and vlm_ref["revision"] == "built"
    assert vlm_ref["path"].startswith("/nix/store/") and vlm_ref["path"].endswith("-tiny-qwen2.5-omni-thinker")
    assert meta["versions"]["vlm_model_type"] == "qwen2_5_omni_thinker" and meta["versions"]["vlm_inputs"] == "frames+audio"
    assert meta["counts"]["model_audio_segments"] == meta["counts"]["model_segments"] > 0
    assert meta["counts"]["model_malformed"] == 0
    t = load(out)
    assert "+ the segment's audio" in {p.name: p for p in t.passes}["model"].detail
    # and step2-caption of the same dataset with the tiny Qwen3-VL (the scene context of this pass)
    cap, _ = nix_build("--expr", pipeline_expr(ds, "step2-caption.shards.demo01"))
    caps = orjson.loads((cap / "captions.json").read_bytes())
    assert len(caps["clips"]) == 4 and all(c["constrained"] and c["status"] == "ok" for c in caps["clips"])
    cap_meta = orjson.loads((cap / "meta.json").read_bytes())
    assert cap_meta["models"][0]["name"] == "tiny-qwen3-vl" and cap_meta["models"][0]["path"].endswith("-tiny-qwen3-vl")


@pytest.mark.nix
def test_the_real_omni_and_qwen3_vl_fail_evaluation_with_the_pin_commands(tmp_path):
    """qwen2.5-omni-7b and qwen3-vl-8b-instruct are in nix/models.toml unpinned (no hub here):
    choosing them fails evaluation, naming the key that chose them and how to pin them."""
    import shutil

    from conftest import nix
    from test_nix import pipeline_expr, write_dataset

    ds = write_dataset(tmp_path / "ds", [{"id": "v1", "path": "v1.mp4"}], hotword="omnipin")
    shutil.copy(DEMO_VIDEO, ds / "v1.mp4")
    (ds / "bible.yaml").write_text((DEMO_DIR / "bible.yaml").read_text().replace("video: demo01", "video: v1"))
    base = (ds / "dataset.toml").read_text()
    # step2-caption reads the scene context, hence the disambiguated transcript: a usable vlm there
    for vlm_name, attr, name, repo, key in [
            ("qwen2.5-omni-7b", "step2-transcript-disambiguate", "qwen2.5-omni-7b", "Qwen/Qwen2.5-Omni-7B", "vlm"),
            ("tiny-qwen2.5-omni-thinker", "step2-caption", "qwen3-vl-8b-instruct", "Qwen/Qwen3-VL-8B-Instruct", "model")]:
        (ds / "dataset.toml").write_text(base + f'\n[disambiguate]\nvlm = "{vlm_name}"\n\n[caption]\nmodel = "qwen3-vl-8b-instruct"\n')
        proc = nix("eval", "--impure", "--raw", "--expr", pipeline_expr(ds, f"{attr}.shards.v1.drvPath"))
        assert proc.returncode != 0
        assert f"model '{name}' ({repo} @ main)" in proc.stderr and f"fixed_input.py fetch-model {name}" in proc.stderr, proc.stderr
        assert f'chosen by `{key} = "{name}"`' in proc.stderr, proc.stderr
