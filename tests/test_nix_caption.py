"""Through Nix (host toolchain): step2-caption on the demo with the tiny random Qwen2.5-VL
(built by tools/make_tiny_models.py; real loading, processor and qwen-vl-utils path) and
step2-reviewed with the demo's committed review.json."""

from __future__ import annotations

import orjson
import pytest
from PIL import Image

from conftest import REPO, nix_build
from reelset.captiontext import caption_sha256
from reelset.schemas.captions import CaptionsArtifact
from reelset.schemas.context import SceneContextArtifact
from reelset.schemas.reviewed import ReviewedArtifact
from reelset.schemas.scenes import ScenesArtifact

pytestmark = pytest.mark.nix


def test_captions_through_nix_one_per_clip_with_context_in_the_prompt():
    out, _ = nix_build(".#host.step2-caption.shards.demo01")
    art = CaptionsArtifact.model_validate(orjson.loads((out / "captions.json").read_bytes()))
    ctx = SceneContextArtifact.model_validate(orjson.loads(
        (nix_build(".#host.step2-scene-context.shards.demo01")[0] / "context.json").read_bytes()))
    scenes = ScenesArtifact.model_validate(orjson.loads(
        (nix_build(".#host.step1-scenes.shards.demo01")[0] / "scenes.json").read_bytes()))
    assert [c.clip_id for c in art.clips] == [s.clip_id for s in scenes.scenes] == [c.clip_id for c in ctx.clips]
    assert art.model.name == "tiny-qwen2.5-vl" and art.trigger_word == "rsdemo" and art.names["Malory"] == ["Malory Archer"]
    for cap, c in zip(art.clips, ctx.clips, strict=True):
        assert c.context in cap.prompt and cap.context == c.context and cap.context_characters == c.characters
        for line in c.lines:
            assert line.text in cap.prompt
        for name in c.characters:
            assert f"- {name}: " in cap.prompt
        assert "'rsdemo'" in cap.prompt and "Start every caption with the trigger word." in cap.prompt
        assert cap.frames >= 2 and cap.prompt_tokens > cap.frames and cap.new_tokens >= 1
        # the tiny random model answers noise: recorded as a fallback with an empty caption
        assert cap.status == "fallback" and cap.caption == "" and cap.error
        with Image.open(out / cap.thumbnail) as im:
            assert im.format == "WEBP" and 1 <= getattr(im, "n_frames", 1) <= cap.frames  # identical frames merge
    meta = orjson.loads((out / "meta.json").read_bytes())
    assert meta["counts"]["clips"] == 4 and meta["models"][0]["name"] == "tiny-qwen2.5-vl"
    assert {"torch", "transformers", "qwen_vl_utils"} <= set(meta["versions"])


def test_reviewed_through_nix_applies_the_demo_review():
    out, _ = nix_build(".#host.step2-reviewed")
    rv = ReviewedArtifact.model_validate(orjson.loads((out / "reviewed.json").read_bytes()))
    assert rv.review_sha256 and not rv.stale_decisions and set(rv.sources) == {"step1-scenes", "step2-caption"}
    # every demo caption is a reviewer's edit made on the model's (empty) caption
    assert [c.clip_id for c in rv.accepted] == [f"demo01-s000{i}" for i in range(1, 5)] and not rv.rejected
    assert all(c.caption_source == "edited" and not c.caption.startswith("rsdemo") for c in rv.accepted)
    assert rv.accepted[0].caption.startswith("Archer as a colour test card") and rv.trigger_word == "rsdemo"
    # the still SMPTE bars of clip 2 are flagged frozen; the edit overrides media flags
    qa = {q.clip_id: q for q in rv.qa}
    assert any("frozen frames" in o for o in qa["demo01-s0002"].overridden) and qa["demo01-s0002"].decision == "edit"
    assert all(q.decision == "edit" for q in rv.qa)
    decisions = orjson.loads((REPO / "pipelines/demo/review.json").read_bytes())["decisions"]
    assert {d["caption_sha256"] for d in decisions.values()} == {caption_sha256("")}
