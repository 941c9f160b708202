"""Through Nix (host toolchain): step2-caption on the demo with the tiny random Qwen2.5-VL
(built by tools/make_tiny_models.py; real loading, processor and qwen-vl-utils path) under
constrained decoding — the success path: every clip gets a schema-valid (nonsense) model
caption —, step2-reviewed with the demo's committed review.json (two edits, two accepted
model captions), and the trigger-word policy followed from step2-caption to both step4
inputs of pipelines/demo-lora."""

from __future__ import annotations

import csv
import json
import re

import orjson
import pytest
from PIL import Image

from conftest import REPO, nix_build
from reelset.captiontext import caption_sha256, has_word
from reelset.schemas.captions import CAMERA_MOTIONS, SHOT_TYPES, CaptionAnswer, CaptionsArtifact
from reelset.schemas.context import SceneContextArtifact
from reelset.schemas.latents import LatentIndex
from reelset.schemas.manifest import PackageManifest
from reelset.schemas.reviewed import ReviewedArtifact
from reelset.schemas.scenes import ScenesArtifact
from step2_reviewed import shards

pytestmark = pytest.mark.nix

REVIEW = orjson.loads((REPO / "pipelines/demo/review.json").read_bytes())["decisions"]


def test_captions_through_nix_one_per_clip_with_context_in_the_prompt():
    out, _ = nix_build(".#host.step2-caption.shards.demo01")
    art = CaptionsArtifact.model_validate(orjson.loads((out / "captions.json").read_bytes()))
    ctx = SceneContextArtifact.model_validate(orjson.loads(
        (nix_build(".#host.step2-scene-context.shards.demo01")[0] / "context.json").read_bytes()))
    scenes = ScenesArtifact.model_validate(orjson.loads(
        (nix_build(".#host.step1-scenes.shards.demo01")[0] / "scenes.json").read_bytes()))
    assert [c.clip_id for c in art.clips] == [s.clip_id for s in scenes.scenes] == [c.clip_id for c in ctx.clips]
    assert art.model.name == "tiny-qwen2.5-vl" and art.trigger_word == "rsdemo" and art.names["Malory"] == ["Malory Archer"]
    assert art.decoding == "JSON-schema constrained decoding (xgrammar) of CaptionAnswer" and art.config.constrained
    for cap, c in zip(art.clips, ctx.clips, strict=True):
        assert c.context in cap.prompt and cap.context == c.context and cap.context_characters == c.characters
        for line in c.lines:
            assert line.text in cap.prompt
        for name in c.characters:
            assert f"- {name}: " in cap.prompt
        assert "'rsdemo'" in cap.prompt and "Start every caption with the trigger word." in cap.prompt
        assert "|" not in cap.prompt.split("Its keys:")[1]  # allowed values listed, no 'a|b|c' template to copy
        assert cap.frames >= 2 and cap.prompt_tokens > cap.frames and cap.new_tokens >= 1
        # the tiny random model answers nonsense, but schema-valid JSON: a real model caption
        answer = CaptionAnswer.model_validate_json(cap.raw)
        assert cap.status == "ok" and cap.constrained and cap.error is None and cap.problem is None and not cap.hit_limit
        assert cap.caption == " ".join(answer.caption.split()) and 20 <= len(cap.caption) <= art.config.max_chars
        assert cap.shot_type == answer.shot_type in SHOT_TYPES and cap.camera_motion == answer.camera_motion in CAMERA_MOTIONS
        assert set(cap.model_characters) <= set(art.names)
        with Image.open(out / cap.thumbnail) as im:
            assert im.format == "WEBP" and 1 <= getattr(im, "n_frames", 1) <= cap.frames  # identical frames merge
    meta = orjson.loads((out / "meta.json").read_bytes())
    assert meta["counts"]["clips"] == 4 and meta["models"][0]["name"] == "tiny-qwen2.5-vl"
    assert meta["counts"]["fallbacks"] == 0 and meta["counts"]["captions"] == 4 == meta["counts"]["constrained"]
    assert {"torch", "transformers", "qwen_vl_utils", "xgrammar"} <= set(meta["versions"])


def test_reviewed_through_nix_applies_the_demo_review():
    out, _ = nix_build(".#host.step2-reviewed")
    rv = ReviewedArtifact.model_validate(orjson.loads((out / "reviewed.json").read_bytes()))
    assert rv.review_sha256 and not rv.stale_decisions and set(rv.sources) == {"step1-scenes", "step2-caption"}
    caps = {c.clip_id: c for c in CaptionsArtifact.model_validate(orjson.loads(
        (nix_build(".#host.step2-caption.shards.demo01")[0] / "captions.json").read_bytes())).clips}
    # review.json was made on these model captions: no decision is stale
    assert {cid: d["caption_sha256"] for cid, d in REVIEW.items()} == {cid: caption_sha256(c.caption) for cid, c in caps.items()}
    assert [c.clip_id for c in rv.accepted] == [f"demo01-s000{i}" for i in range(1, 5)] and not rv.rejected
    by_id = {c.clip_id: c for c in rv.accepted}
    # the edits override the model captions (one typed with the trigger word, one without)...
    assert by_id["demo01-s0001"].caption_source == by_id["demo01-s0002"].caption_source == "edited"
    assert by_id["demo01-s0001"].caption.startswith("Archer as a colour test card") and rv.trigger_word == "rsdemo"
    assert by_id["demo01-s0002"].caption == REVIEW["demo01-s0002"]["caption"]
    # ...and the accepted model captions flow on as the model wrote them (its QA flags overridden)
    for cid in ("demo01-s0003", "demo01-s0004"):
        assert by_id[cid].caption_source == "model" and by_id[cid].caption == caps[cid].caption
    qa = {q.clip_id: q for q in rv.qa}
    assert any("frozen frames" in o for o in qa["demo01-s0002"].overridden) and qa["demo01-s0002"].decision == "edit"
    assert any("trigger word 'rsdemo' missing" in o for o in qa["demo01-s0003"].overridden)
    assert [q.decision for q in rv.qa] == ["edit", "edit", "accept", "accept"]


def occurrences(text: str, word: str) -> int:
    return len(re.findall(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags=re.IGNORECASE))


def test_trigger_word_once_in_every_caption_a_trainer_or_step4_sees():
    """pipelines/demo-lora: each clip's caption from step2-caption through step2-reviewed
    (trigger word stripped), both packages (LTX-2 dataset.json, Wan 2.1 metadata.csv + .txt)
    and both step4 text-encoder inputs (latents.json): the trigger word exactly once, first,
    whether the reviewer typed it (s0001), omitted it (s0002) or the model caption lacks it."""
    ds = ".#host.datasets.demo-lora"
    captions = CaptionsArtifact.model_validate(orjson.loads(
        (shards(nix_build(f"{ds}.step2-caption")[0])["demo01"] / "captions.json").read_bytes()))
    reviewed = ReviewedArtifact.model_validate(orjson.loads((nix_build(f"{ds}.step2-reviewed")[0] / "reviewed.json").read_bytes()))
    ltx2, wan21 = nix_build(f"{ds}.step3-ltx2-data")[0], nix_build(f"{ds}.step3-wan21-package")[0]
    trigger = reviewed.trigger_word
    assert trigger == captions.trigger_word == "rsdemo" and len(reviewed.accepted) == 4
    body_of = {c.clip_id: c.caption for c in reviewed.accepted}
    # per family, per packaged item (a window of a clip: '<clip>-wNN'): every place a caption is read
    texts: dict[tuple[str, str], dict[str, str]] = {}
    clip_of: dict[str, str] = {}
    for name, folder in (("ltx2", ltx2), ("wan21", wan21)):
        m = PackageManifest.model_validate(orjson.loads((folder / "manifest.json").read_bytes()))
        assert m.trigger_prepended and {c.clip_id for c in m.clips if c.fate == "kept"} == set(body_of)
        assert m.config["max_windows"] == 2 and m.kept == 8  # dataset.toml caps the windows per clip
        for c in m.clips:
            texts[(name, c.item_id)] = {"manifest": c.caption}
            clip_of[c.item_id] = c.clip_id
    for row in json.loads((ltx2 / "dataset" / "dataset.json").read_text()):
        texts[("ltx2", row["video"].removeprefix("videos/").removesuffix(".mp4"))]["dataset.json"] = row["caption"]
    with (wan21 / "dataset" / "metadata.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            iid = row["video"].removeprefix("videos/").removesuffix(".mp4")
            texts[("wan21", iid)]["metadata.csv"] = row["prompt"]
            texts[("wan21", iid)][".txt"] = (wan21 / "dataset" / "videos" / f"{iid}.txt").read_text().rstrip("\n")
    for family in ("ltx2", "wan21"):
        idx = LatentIndex.model_validate(orjson.loads(
            (nix_build(f"{ds}.step4-{family}-preprocess")[0] / "latents.json").read_bytes()))
        for c in idx.clips:
            assert clip_of[c.item_id] == c.clip_id
            texts[(family, c.item_id)]["step4"] = c.caption
    model = {c.clip_id: c.caption for c in captions.clips}
    assert not has_word(model["demo01-s0003"], trigger)  # the random model never writes it
    for (family, iid), seen in texts.items():
        assert len(seen) == (3 if family == "ltx2" else 4), (iid, seen)
        body = body_of[clip_of[iid]]
        assert occurrences(body, trigger) == 0
        assert len(set(seen.values())) == 1, (family, iid, seen)  # every reader reads one caption
        text = seen["manifest"]
        # LTX-2 (audio_captions): the reviewed caption is the [VISUAL] section; [SPEECH] may follow
        want = f"{trigger} [VISUAL]: {body}" if family == "ltx2" else f"{trigger} {body}"
        assert occurrences(text, trigger) == 1 and (text == want or text.startswith(want + " [SPEECH]: ") if family == "ltx2"
                                                     else text == want), (family, iid, text)
