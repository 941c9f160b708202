"""Review and automatic QA (tools/reelset/review.py, tools/step2_reviewed.py) on real media:
black and frozen clips made here with ffmpeg, captions checked against the trigger word and
the clip context, decisions applied or reported stale, malformed review.json named by entry,
concurrent writers keep every decision."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from conftest import REPO, ffmpeg, run_tool, scenes_spec
from reelset import ReelsetError
from reelset.captiontext import caption_sha256
from reelset.review import (
    ACTIONS,
    CHECKS,
    caption_flags,
    decide,
    dialogue_flags,
    fate,
    fate_table,
    load_review,
    media_flags,
    update_review,
)
from reelset.schemas.aggregate import AggregateArtifact, AggregateMember
from reelset.schemas.base import ModelRef, StepMeta
from reelset.schemas.captions import CaptionClip, CaptionConfig, CaptionsArtifact
from reelset.schemas.context import DroppedLine
from reelset.schemas.review import QAFlag, ReviewConfig, ReviewDecision
from reelset.schemas.reviewed import ReviewedArtifact
from reelset.schemas.scenes import ScenesArtifact

NAMES = {"Archer": ["Sterling Archer"], "Lana": [], "Malory": ["Malory Archer"]}
CFG = ReviewConfig()


def make(path: Path, source: str, seconds: float = 2.0) -> Path:
    sep = ":" if "=" in source else "="
    ffmpeg("-f", "lavfi", "-i", f"{source}{sep}size=320x240:rate=24", "-t", str(seconds), "-pix_fmt", "yuv420p", str(path))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("qa")
    return {"moving": make(d / "moving.mp4", "testsrc2"), "black": make(d / "black.mp4", "color=c=black"),
            "navy": make(d / "navy.mp4", "color=c=navy"),
            "frozen": make(d / "frozen.mp4", "smptebars"), "short": make(d / "short.mp4", "testsrc2", 0.5)}


def checks(flags) -> set[str]:
    return {f.check for f in flags}


def test_media_qa_flags_black_and_frozen_clips(clips):
    assert checks(media_flags(clips["moving"], 2.0, CFG)) == set()
    black = media_flags(clips["black"], 2.0, CFG)
    assert {"black", "frozen"} <= checks(black)  # a black clip is also still
    assert next(f.detail for f in black if f.check == "black").startswith("black frames: 2.00 s of 2.00 s")  # 48 of 48 frames
    # issue 18: a navy-blue title card is dark (luma ~29 of 16-235) but coloured: still, not black
    assert checks(media_flags(clips["navy"], 2.0, CFG)) == {"frozen"}
    assert checks(media_flags(clips["frozen"], 2.0, CFG)) == {"frozen"}
    assert checks(media_flags(clips["short"], 0.5, CFG)) == {"too_short"}
    assert checks(media_flags(clips["moving"], 2.0, ReviewConfig(min_clip_s=0.1, max_clip_s=1.5))) == {"too_long"}


def test_caption_checks():
    ctx = ["Archer", "Lana"]
    ok = "rsdemo, Archer talks to Lana in a bright office; static camera."
    assert caption_flags(ok, "rsdemo", ctx, NAMES, CFG) == []
    assert checks(caption_flags("", "rsdemo", ctx, NAMES, CFG)) == {"caption_empty"}
    assert checks(caption_flags("rsdemo,", "rsdemo", ctx, NAMES, CFG)) == {"caption_empty"}
    assert checks(caption_flags("rsdemo Archer talks", "rsdemo", ctx, NAMES, CFG)) == {"caption_short"}
    assert checks(caption_flags("rsdemo " + "word " * 121, "rsdemo", ctx, NAMES, CFG)) == {"caption_long"}
    assert checks(caption_flags(ok.replace("rsdemo, ", ""), "rsdemo", ctx, NAMES, CFG)) == {"trigger_missing"}
    stranger = caption_flags("rsdemo, Malory Archer talks to Lana in a bright office.", "rsdemo", ctx, NAMES, CFG)
    assert checks(stranger) == {"unknown_name"} and "Malory" in stranger[0].detail
    relaxed = ReviewConfig(check_names=False, require_trigger_word=False, min_words=0)
    assert caption_flags("Malory Archer smiles", "rsdemo", ctx, NAMES, relaxed) == []


def clip(caption: str, clip_id: str = "v1-s0001") -> CaptionClip:
    return CaptionClip(clip_id=clip_id, video_id="v1", clip_path="/x.mp4", thumbnail="previews/x.webp", start_s=0, end_s=2,
                       frames=4, sample_fps=2, caption=caption, shot_type="wide", camera_motion="static", characters=[],
                       context="", context_characters=["Archer"], status="ok", raw="", prompt="p",
                       prompt_sha256="0" * 64, prompt_tokens=1, new_tokens=1, hit_limit=False)


def test_decisions_apply_or_go_stale():
    model = "rsdemo, Archer stands in front of colour bars; static camera."
    c, sha = clip(model), caption_sha256(model)
    frozen = [QAFlag(check="frozen", detail="frozen")]
    none = decide(c, [], None, "rsdemo", NAMES, CFG)
    assert none.qa.accepted and none.caption == "Archer stands in front of colour bars; static camera."
    assert decide(c, frozen, None, "rsdemo", NAMES, CFG).rejected.reasons == ["not reviewed; automatic QA: frozen"]
    empty = decide(clip(""), [], ReviewDecision(caption_sha256=caption_sha256(""), action="accept"), "rsdemo", NAMES, CFG)
    assert empty.rejected.reasons == ["accepted in review, but caption empty: edit the caption"]
    acc = decide(c, frozen, ReviewDecision(caption_sha256=sha, action="accept"), "rsdemo", NAMES, CFG)
    assert acc.qa.accepted and acc.qa.overridden == ["frozen"] and acc.caption_source == "model"
    rej = decide(c, [], ReviewDecision(caption_sha256=sha, action="reject", reason="blurry"), "rsdemo", NAMES, CFG)
    assert rej.rejected.reasons == ["rejected in review: blurry"]
    edit = decide(c, frozen, ReviewDecision(caption_sha256=sha, action="edit", caption="rsdemo, Archer waves at the camera slowly."),
                  "rsdemo", NAMES, CFG)
    assert edit.qa.accepted and edit.caption == "Archer waves at the camera slowly." and edit.caption_source == "edited"
    # an edit may omit the trigger word (packaging puts it first); a model caption may not
    bare = decide(c, [], ReviewDecision(caption_sha256=sha, action="edit", caption="Archer waves at the camera slowly."),
                  "rsdemo", NAMES, CFG)
    assert bare.qa.accepted and not bare.qa.flags and bare.caption == "Archer waves at the camera slowly."
    bare_model = "Archer stands in front of colour bars; static camera."
    assert decide(clip(bare_model), [], None, "rsdemo", NAMES, CFG).rejected.reasons == ["not reviewed; automatic QA: trigger word 'rsdemo' missing"]
    short_edit = decide(c, [], ReviewDecision(caption_sha256=sha, action="edit", caption="Archer waves."), "rsdemo", NAMES, CFG)
    assert short_edit.rejected.reasons == ["edited caption: caption too short: 2 words < 5"]
    stale = decide(clip(model + " More."), [], ReviewDecision(caption_sha256=sha, action="reject", reason="x"), "rsdemo", NAMES, CFG)
    assert stale.stale and "caption changed since review" in stale.stale and stale.qa.accepted and stale.qa.decision is None


def test_clip_with_speech_without_words_is_flagged_until_reviewed():
    """Issue 26: VAD speech the ASR step left without words reaches review QA through the scene
    context (``unheard_speech_s``); the clip is left out until a reviewer accepts or edits it."""
    model = "rsdemo, Archer stands in front of colour bars; static camera."
    c = clip(model).model_copy(update={"unheard_speech_s": 2.4})
    flags = dialogue_flags(c, CFG)
    assert [f.check for f in flags] == ["speech_without_words"] and "2.4 s of speech" in flags[0].detail
    assert decide(c, flags, None, "rsdemo", NAMES, CFG).rejected.reasons == [f"not reviewed; automatic QA: {flags[0].detail}"]
    acc = decide(c, flags, ReviewDecision(caption_sha256=caption_sha256(model), action="accept"), "rsdemo", NAMES, CFG)
    assert acc.qa.accepted and acc.qa.overridden == [flags[0].detail]


def test_clip_with_dropped_dialogue_is_flagged_until_reviewed():
    model = "rsdemo, Archer stands in front of colour bars; static camera."
    dropped = [DroppedLine(start=0.2, end=1.4, text="Thank you for watching!", checks=["phantom_phrase", "no_speech"])]
    c = clip(model).model_copy(update={"dropped_lines": dropped})
    flags = dialogue_flags(c, CFG)
    assert [f.check for f in flags] == ["dialogue_dropped"] and "'Thank you for watching!' (phantom_phrase, no_speech)" in flags[0].detail
    assert dialogue_flags(clip(model), CFG) == [] and dialogue_flags(c, ReviewConfig(check_dropped_dialogue=False)) == []
    assert decide(c, flags, None, "rsdemo", NAMES, CFG).rejected.reasons == [f"not reviewed; automatic QA: {flags[0].detail}"]
    acc = decide(c, flags, ReviewDecision(caption_sha256=caption_sha256(model), action="accept"), "rsdemo", NAMES, CFG)
    assert acc.qa.accepted and acc.qa.overridden == [flags[0].detail]


def test_malformed_review_file_names_the_entry(tmp_path):
    f = tmp_path / "review.json"
    f.write_bytes(orjson.dumps({"decisions": {"v1-s0001": {"caption_sha256": "a" * 64, "action": "accept"},
                                              "v1-s0002": {"caption_sha256": "a" * 64, "action": "approve"}}}))
    with pytest.raises(ReelsetError, match=r"decisions\['v1-s0002'\]\.action: Input should be 'accept', 'reject' or 'edit'"):
        load_review(f)
    f.write_bytes(orjson.dumps({"decisions": {"v1-s0003": {"caption_sha256": "a" * 64, "action": "reject"}}}))
    with pytest.raises(ReelsetError, match=r"decisions\['v1-s0003'\]: Value error, action 'reject' needs a non-empty 'reason'"):
        load_review(f)
    f.write_text('{"decisions": {')
    with pytest.raises(ReelsetError, match=r"review.json:1:16: not valid JSON"):  # file:line:column (issue 38)
        load_review(f)


def test_concurrent_writers_keep_every_decision(tmp_path):
    f = tmp_path / "review.json"
    ids = [f"v1-s{i:04d}" for i in range(40)]

    def write(cid: str) -> None:
        update_review(f, cid, ReviewDecision(caption_sha256="b" * 64, action="reject", reason=f"r {cid}"))

    threads = [threading.Thread(target=write, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(load_review(f).decisions) == ids
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    update_review(f, ids[0], None)
    assert ids[0] not in load_review(f).decisions


def test_step2_reviewed_rejects_defects_of_a_real_video(tmp_path):
    """step1-scenes on a video with a moving, a black and a frozen shot; captions written here;
    step2-reviewed (CLI) keeps the moving shot and rejects the others with their QA reasons; a
    malformed review.json fails the step naming the entry."""
    src = tmp_path / "src.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=2", "-f", "lavfi", "-i", "color=c=black:size=320x240:rate=24:duration=2",
           "-f", "lavfi", "-i", "smptebars=size=320x240:rate=24:duration=2", "-filter_complex", "[0][1][2]concat=n=3",
           "-pix_fmt", "yuv420p", str(src))
    scenes_out = tmp_path / "agg-scenes" / "shards" / "v1"
    scenes_out.parent.mkdir(parents=True)
    proc = run_tool("step1_scenes.py", scenes_spec(src, "v1"), scenes_out, tmp_path)
    assert proc.returncode == 0, proc.stderr
    scenes = ScenesArtifact.model_validate(orjson.loads((scenes_out / "scenes.json").read_bytes()))
    assert len(scenes.scenes) == 3, scenes.scenes
    cap_dir = tmp_path / "agg-captions" / "shards" / "v1"
    cap_dir.mkdir(parents=True)
    caption = "rsdemo, a test card with colour bars and a moving gradient; static camera."
    caps = [clip(caption, s.clip_id).model_copy(update={"clip_path": str(scenes_out / s.clip), "start_s": s.start_s, "end_s": s.end_s})
            for s in scenes.scenes]
    art = CaptionsArtifact(video_id="v1", model=ModelRef(name="m", repo="r", revision="x", path="/m"), device="cpu",
                           trigger_word="rsdemo", caption_style=[], names=NAMES, config=CaptionConfig(), clips=caps)
    (cap_dir / "captions.json").write_bytes(orjson.dumps(art.model_dump(mode="json")))
    (cap_dir / "meta.json").write_bytes(orjson.dumps(StepMeta(step="step2-caption", dataset="t", shard="v1", tool_sha256="",
                                                              device="cpu").model_dump(mode="json")))
    spec = {"step": "step2-reviewed", "dataset": "t", "device": "cpu", "config": {"review": {}},
            "inputs": {"step1-scenes": str(scenes_out), "step2-caption": str(cap_dir)}}
    out = tmp_path / "reviewed"
    proc = run_tool("step2_reviewed.py", spec, out, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rv = ReviewedArtifact.model_validate(orjson.loads((out / "reviewed.json").read_bytes()))
    ids = [s.clip_id for s in scenes.scenes]
    assert [c.clip_id for c in rv.accepted] == [ids[0]]
    assert rv.accepted[0].caption == "a test card with colour bars and a moving gradient; static camera."
    reasons = {r.clip_id: " | ".join(r.reasons) for r in rv.rejected}
    assert "black frames" in reasons[ids[1]] and "frozen frames" in reasons[ids[2]] and "black" not in reasons[ids[2]], reasons

    caps[0] = caps[0].model_copy(update={"dropped_lines": [DroppedLine(start=0.1, end=0.9, text="Subtitles by the Amara.org community",
                                                                       checks=["phantom_phrase"])]})
    (cap_dir / "captions.json").write_bytes(orjson.dumps(art.model_copy(update={"clips": caps}).model_dump(mode="json")))
    proc = run_tool("step2_reviewed.py", spec, tmp_path / "dropped", tmp_path)
    assert proc.returncode == 0, proc.stderr
    rv = ReviewedArtifact.model_validate(orjson.loads((tmp_path / "dropped" / "reviewed.json").read_bytes()))
    assert not rv.accepted and "dialogue dropped as a likely ASR hallucination" in {r.clip_id: " ".join(r.reasons) for r in rv.rejected}[ids[0]]

    review = tmp_path / "review.json"
    review.write_bytes(orjson.dumps({"decisions": {ids[1]: {"caption_sha256": caption_sha256(caption), "action": "edit"}}}))
    proc = run_tool("step2_reviewed.py", {**spec, "files": {"review": str(review)}}, tmp_path / "bad", tmp_path)
    assert proc.returncode == 2 and f"decisions['{ids[1]}']: Value error, action 'edit' needs a non-empty 'caption'" in proc.stderr, proc.stderr
    assert not (tmp_path / "bad").exists()


def aggregate_of(folder: Path, step: str, shards: dict[str, Path]) -> Path:
    """An aggregate folder like tools/aggregate.py's (aggregate.json, shards/<video id> links)."""
    (folder / "shards").mkdir(parents=True)
    for vid, path in shards.items():
        (folder / "shards" / vid).symlink_to(path)
    agg = AggregateArtifact(kind="shards", step=step, dataset="t", members=[
        AggregateMember(name=vid, link=f"shards/{vid}", path=str(path), counts={}) for vid, path in shards.items()])
    (folder / "aggregate.json").write_bytes(orjson.dumps(agg.model_dump(mode="json")))
    return folder


def test_per_video_shards_gathered_give_the_bytes_of_one_process(tmp_path):
    """step2-reviewed three ways on two videos: one process over the aggregates, and one shard per
    video (its own clips, captions and decisions only) gathered by links: the same reviewed.json
    and meta.json bytes — decisions applied, stale on a changed caption, and naming no clip."""
    src = tmp_path / "src.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=2", "-f", "lavfi", "-i", "color=c=black:size=320x240:rate=24:duration=2",
           "-filter_complex", "[0][1]concat=n=2", "-pix_fmt", "yuv420p", str(src))
    caption = "rsdemo, a test card with colour bars and a moving gradient; static camera."
    scenes, captions, ids = {}, {}, {}
    for vid in ("v1", "v2"):
        scenes[vid] = tmp_path / "scenes" / vid
        scenes[vid].parent.mkdir(exist_ok=True)
        proc = run_tool("step1_scenes.py", scenes_spec(src, vid), scenes[vid], tmp_path)
        assert proc.returncode == 0, proc.stderr
        art = ScenesArtifact.model_validate(orjson.loads((scenes[vid] / "scenes.json").read_bytes()))
        ids[vid] = [s.clip_id for s in art.scenes]
        captions[vid] = caption_shard(tmp_path / "captions" / vid, vid, scenes[vid] / art.scenes[0].clip,
                                      [(cid, caption) for cid in ids[vid]])
    sha = caption_sha256(caption)
    decisions = {ids["v1"][0]: {"caption_sha256": sha, "action": "edit", "caption": "Archer waves at the camera slowly, smiling."},
                 ids["v2"][0]: {"caption_sha256": sha, "action": "reject", "reason": "off-model"},
                 ids["v2"][1]: {"caption_sha256": caption_sha256("an older caption"), "action": "accept"},
                 "v9-s0001": {"caption_sha256": sha, "action": "accept"}}
    review = tmp_path / "review.json"
    review.write_bytes(orjson.dumps({"decisions": decisions}))
    inputs = {"step1-scenes": str(aggregate_of(tmp_path / "agg-scenes", "step1-scenes", scenes)),
              "step2-caption": str(aggregate_of(tmp_path / "agg-captions", "step2-caption", captions))}
    spec = {"step": "step2-reviewed", "dataset": "t", "device": "cpu", "config": {"review": {}},
            "inputs": inputs, "files": {"review": str(review)}}
    assert run_tool("step2_reviewed.py", spec, tmp_path / "one", tmp_path).returncode == 0
    shard_out = {}
    for vid in ("v1", "v2"):  # what nix/pipeline.nix hands a shard: its video's decisions only
        own = tmp_path / f"review-{vid}.json"
        own.write_bytes(orjson.dumps({"decisions": {k: v for k, v in decisions.items() if k.startswith(f"{vid}-")}}))
        shard_out[vid] = tmp_path / f"shard-{vid}"
        proc = run_tool("step2_reviewed.py", {**spec, "video_id": vid, "files": {"review": str(own)},
                                              "inputs": {"step1-scenes": str(scenes[vid]), "step2-caption": str(captions[vid])}},
                        shard_out[vid], tmp_path)
        assert proc.returncode == 0, proc.stderr
        rv = ReviewedArtifact.model_validate(orjson.loads((shard_out[vid] / "reviewed.json").read_bytes()))
        assert {q.clip_id for q in rv.qa} == set(ids[vid])
    gather = {**spec, "inputs": {**inputs, **{f"shards/{vid}": str(p) for vid, p in shard_out.items()}}}
    assert run_tool("step2_reviewed.py", gather, tmp_path / "gathered", tmp_path).returncode == 0
    for name in ("reviewed.json", "meta.json"):
        assert (tmp_path / "gathered" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    rv = ReviewedArtifact.model_validate(orjson.loads((tmp_path / "one" / "reviewed.json").read_bytes()))
    assert rv.accepted[0].caption_source == "edited" and ids["v2"][0] in {r.clip_id for r in rv.rejected}
    assert [s.split(":")[0] for s in rv.stale_decisions] == [ids["v2"][1], "v9-s0001"], rv.stale_decisions


def serve_captions(server, tmp_path: Path, caps: list[CaptionClip]):
    """(a test client of the review server over one caption shard of video v1 holding ``caps``,
    the dataset folder whose review.json it writes)."""
    shard = tmp_path / "captions"
    shard.mkdir()
    art = CaptionsArtifact(video_id="v1", model=ModelRef(name="m", repo="r", revision="x", path="/m"), device="cpu",
                           trigger_word="rsdemo", caption_style=[], names=NAMES, config=CaptionConfig(), clips=caps)
    (shard / "captions.json").write_bytes(orjson.dumps(art.model_dump(mode="json")))
    (shard / "meta.json").write_bytes(orjson.dumps(StepMeta(step="step2-caption", dataset="t", shard="v1", tool_sha256="",
                                                            device="cpu").model_dump(mode="json")))
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "dataset.toml").write_text('name = "t"\n')
    return server.create_app(server.Review(shard, ds)).test_client(), ds


def test_review_page_states_what_step2_reviewed_will_do(clips, tmp_path):
    """Issue 18: the review server's status of each clip is step2-reviewed's outcome (same
    rules): unreviewed clips say "not reviewed" (kept when QA passes, left out when flagged),
    an accepted clip with an empty caption needs an edit, accept overrides media flags."""
    import review as server

    good = "rsdemo, Archer stands in front of colour bars; static camera."
    rows = [("v1-s0001", "moving", good), ("v1-s0002", "frozen", good), ("v1-s0003", "moving", ""),
            ("v1-s0004", "moving", ""), ("v1-s0005", "frozen", good), ("v1-s0006", "moving", good)]
    caps = [clip(text, cid).model_copy(update={"clip_path": str(clips[kind])}) for cid, kind, text in rows]
    app, ds = serve_captions(server, tmp_path, caps)

    def post(cid: str, action: str, **extra) -> dict:
        res = app.post("/api/decision", json={"clip_id": cid, "action": action, **extra})
        assert res.status_code == 200, res.json
        return res.json

    html = app.get("/video/v1").get_data(as_text=True)
    assert "not reviewed: kept (no QA flag)" in html
    assert "not reviewed: will be left out by QA (frozen frames" in html and "accept (a) keeps it" in html
    assert "not reviewed: will be left out (caption empty); edit the caption (e)" in html
    empty = post("v1-s0004", "accept")
    assert (empty["state"], empty["kept"]) == ("needs-edit", False)
    assert empty["status"] == "accepted, but the caption is empty: it will be left out; edit the caption (e)"
    over = post("v1-s0005", "accept")
    assert over["state"] == "kept" and over["status"].startswith("accepted: kept (overrides: frozen frames")
    rej = post("v1-s0006", "reject", reason="blurry")
    assert (rej["state"], rej["status"]) == ("rejected", "rejected: blurry (left out of the training set)")
    edit = post("v1-s0003", "edit", caption="rsdemo, Archer waves at the camera slowly.")
    assert (edit["state"], edit["status"]) == ("kept", "edited: kept with your caption")
    # index: 6 clips, 4 decided, step2-reviewed will keep s0001, s0003, s0005
    assert "<td>6</td><td>4</td><td>3</td></tr>" in app.get("/").get_data(as_text=True)

    # the same decisions through step2-reviewed's rules give the same kept set
    review = load_review(ds / "review.json")
    kept = {c.clip_id for c in caps if decide(c, media_flags(Path(c.clip_path), 2.0, CFG), review.decisions.get(c.clip_id),
                                              "rsdemo", NAMES, CFG).qa.accepted}
    assert kept == {"v1-s0001", "v1-s0003", "v1-s0005"}


# --------------------------------------------------------------------------- issue 27: one rule table
def test_an_edit_overrules_the_names_check_and_is_never_asked_for_the_trigger_word():
    """Issue 27 (5): the names check rests on the model's speaker attribution (the try-out model
    gives every line to one character); a person's edit naming someone else is kept, the flag
    recorded as overridden. (3): an edit without the trigger word carries no trigger flag."""
    model = "rsdemo, Archer stands in front of colour bars; static camera."
    sha = caption_sha256(model)
    edit = decide(clip(model), [], ReviewDecision(caption_sha256=sha, action="edit", caption="Lana waves at the camera slowly."),
                  "rsdemo", NAMES, CFG)
    assert edit.qa.accepted and edit.caption == "Lana waves at the camera slowly." and edit.caption_source == "edited"
    assert checks(edit.qa.flags) == {"unknown_name"} and edit.qa.overridden == [edit.qa.flags[0].detail]
    # the same caption from the model, unreviewed, is left out by the names check and the missing trigger word
    unreviewed = decide(clip("Lana waves at the camera slowly."), [], None, "rsdemo", NAMES, CFG)
    assert checks(unreviewed.qa.flags) == {"unknown_name", "trigger_missing"} and unreviewed.rejected


def test_accept_with_the_reviewers_text_keeps_it():
    """Issue 27 (2): an accept that carries the reviewer's caption (the page sends its text box)
    keeps that caption, overriding its text checks but an empty caption."""
    sha = caption_sha256("")
    acc = decide(clip(""), [QAFlag(check="frozen", detail="frozen")],
                 ReviewDecision(caption_sha256=sha, action="accept", caption="Archer waves."), "rsdemo", NAMES, CFG)
    assert acc.qa.accepted and acc.caption == "Archer waves." and acc.caption_source == "edited"
    assert acc.qa.overridden == ["frozen", "caption too short: 2 words < 5"] and "trigger_missing" not in checks(acc.qa.flags)
    empty = decide(clip(""), [], ReviewDecision(caption_sha256=sha, action="accept", caption="rsdemo"), "rsdemo", NAMES, CFG)
    assert empty.rejected.reasons == ["accepted in review, but caption empty (besides the trigger word): edit the caption"]


# one caption per caption check (context: Archer; trigger rsdemo), and the media flags as given
FLAG_CAPTIONS = {"caption_empty": "rsdemo", "caption_short": "rsdemo, Archer waves.",
                 "caption_long": "rsdemo, Archer " + "waves " * 130, "unknown_name": "rsdemo, Lana waves at the camera slowly.",
                 "trigger_missing": "Archer waves at the camera slowly."}
CLEAN = "rsdemo, Archer waves at the camera slowly."


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("action", ACTIONS)
def test_decide_follows_every_cell_of_the_fate_table(action, check):
    """Each (action, flag) cell of reelset.review.fate is what decide() does with a clip that has
    exactly that flag — for the model caption and, for accept/edit, the reviewer's text."""
    bad = FLAG_CAPTIONS.get(check, CLEAN)
    media = [] if check in FLAG_CAPTIONS else [QAFlag(check=check, detail=check)]
    for reviewer_text in ((False, True) if action in ("accept", "edit") else (False,)):
        if action == "edit" and not reviewer_text:
            continue
        model = CLEAN if reviewer_text else bad
        decision = None if action is None else ReviewDecision(
            caption_sha256=caption_sha256(model), action=action, reason="no" if action == "reject" else None,
            caption=bad if reviewer_text else None)
        out = decide(clip(model), media, decision, "rsdemo", NAMES, CFG)
        cell = fate(action, check, reviewer_text)
        assert check in checks(out.qa.flags) or cell == "not checked", (out.qa, cell)
        assert out.qa.accepted == (cell != "leaves out" and action != "reject"), (action, check, reviewer_text, out.qa, cell)
        if cell == "not checked":
            assert check not in checks(out.qa.flags)
        if cell == "overridden":
            assert any(f.check == check and f.detail in out.qa.overridden for f in out.qa.flags)


def test_usage_docs_print_the_fate_table():
    """docs/usage.md holds reelset.review.fate_table() as it is (paste it there when the rules change)."""
    usage = (REPO / "docs" / "usage.md").read_text(encoding="utf-8")
    assert fate_table() in usage, "docs/usage.md: paste reelset.review.fate_table() into 'Reviewing captions':\n" + fate_table()


def caption_shard(folder: Path, video: str, clip_file: Path, rows: list[tuple[str, str]], **clip_update) -> Path:
    """A step2-caption shard of ``video`` at ``folder``: one caption per (clip id, text), clips of ``clip_file``."""
    caps = [clip(text, cid).model_copy(update={"clip_path": str(clip_file), "video_id": video, **clip_update})
            for cid, text in rows]
    folder.mkdir(parents=True)
    art = CaptionsArtifact(video_id=video, model=ModelRef(name="m", repo="r", revision="x", path="/m"), device="cpu",
                           trigger_word="rsdemo", caption_style=[], names=NAMES, config=CaptionConfig(), clips=caps)
    (folder / "captions.json").write_bytes(orjson.dumps(art.model_dump(mode="json")))
    (folder / "meta.json").write_bytes(orjson.dumps(StepMeta(step="step2-caption", dataset="t", shard=video, tool_sha256="",
                                                             device="cpu").model_dump(mode="json")))
    return folder


PORT = 8765
HOST = {"Host": f"127.0.0.1:{PORT}"}


def review_app(tmp_path: Path, clip_file: Path, rows: list[tuple[str, str]], source: Path | None = None, **clip_update):
    """A review server (Flask test client, serving port 8765) over captions of clips of ``clip_file``
    (or over ``source``); and the dataset folder."""
    import review as server

    shard = caption_shard(tmp_path / "captions", "v1", clip_file, rows, **clip_update)
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "dataset.toml").write_text('name = "t"\n')
    return server.create_app(server.Review(source or shard, ds), port=PORT).test_client(), ds


def test_review_page_edit_then_accept_keeps_the_edit_and_shows_no_flag_it_overrides(clips, tmp_path):
    """Issue 27 (2, 3, 5) on the page: edit an empty caption, then accept with the text box as it
    is: kept with the edit; an edit without the trigger word shows no trigger flag; an edit naming
    someone outside the model's context is kept, its names flag shown as overridden."""
    app, ds = review_app(tmp_path, clips["moving"], [("v1-s0001", ""), ("v1-s0002", CLEAN)])
    text = "Lana waves at the camera slowly."

    def post(cid: str, action: str, **extra) -> dict:
        res = app.post("/api/decision", json={"clip_id": cid, "action": action, **extra}, headers=HOST)
        assert res.status_code == 200, res.json
        return res.json

    edit = post("v1-s0001", "edit", caption=text)
    assert (edit["state"], edit["kept"]) == ("kept", True), edit
    assert not any("trigger word" in f for f in edit["flags"]), edit["flags"]
    assert edit["flags"] == ["caption names Lana, not in the clip context (Archer) (overridden by your decision)"]
    acc = post("v1-s0001", "accept", caption=text)
    assert (acc["state"], acc["kept"], acc["caption"]) == ("kept", True, text), acc
    assert acc["status"].startswith("accepted: kept with your caption")
    d = load_review(ds / "review.json").decisions["v1-s0001"]
    assert (d.action, d.caption) == ("accept", text)
    # accepting the model caption as the box shows it stores no caption
    post("v1-s0002", "accept", caption=CLEAN)
    assert load_review(ds / "review.json").decisions["v1-s0002"].caption is None


def test_review_server_answers_only_its_own_host_names(clips, tmp_path):
    """Issue 27: a DNS-rebinding page (Host: its own name) or another port gets 403 and writes
    nothing; 127.0.0.1:PORT and localhost:PORT are served."""
    app, ds = review_app(tmp_path, clips["moving"], [("v1-s0001", CLEAN)])
    for host in ("evil.example:8765", "evil.example", "127.0.0.1:9999", "localhost", "127.0.0.1.evil.example:8765"):
        assert app.get("/", headers={"Host": host}).status_code == 403, host
        res = app.post("/api/decision", json={"clip_id": "v1-s0001", "action": "reject", "reason": "x"}, headers={"Host": host})
        assert res.status_code == 403, host
    assert not (ds / "review.json").exists()
    for host in ("127.0.0.1:8765", "localhost:8765"):
        assert app.get("/video/v1", headers={"Host": host}).status_code == 200, host


def test_review_server_picks_up_new_clips_without_a_restart(clips, tmp_path):
    """Issue 27 (4): the server follows its captions link; when a build moves it (a new video's
    shard), the next page view lists the new video and serves its clips."""
    one = caption_shard(tmp_path / "one", "v1", clips["moving"], [("v1-s0001", CLEAN)])
    link = tmp_path / "result-step2-caption"
    link.symlink_to(one)
    app, _ = review_app(tmp_path, clips["moving"], [], source=link)
    assert "/video/v2" not in app.get("/", headers=HOST).get_data(as_text=True)
    agg = tmp_path / "two"
    (agg / "shards").mkdir(parents=True)
    (agg / "shards" / "v1").symlink_to(one)
    caption_shard(tmp_path / "v2", "v2", clips["moving"], [("v2-s0001", CLEAN), ("v2-s0002", "")])
    (agg / "shards" / "v2").symlink_to(tmp_path / "v2")
    (agg / "aggregate.json").write_bytes(orjson.dumps(AggregateArtifact(kind="shards", step="step2-caption", dataset="t", members=[
        AggregateMember(name=v, link=f"shards/{v}", path=str(agg / "shards" / v)) for v in ("v1", "v2")]).model_dump(mode="json")))
    tmp = tmp_path / "link.tmp"
    tmp.symlink_to(agg)
    tmp.replace(link)
    index = app.get("/", headers=HOST).get_data(as_text=True)
    assert '<a href="/video/v2">v2</a></td><td>2</td><td>0</td><td>1</td>' in index, index
    assert "v2-s0002" in app.get("/video/v2", headers=HOST).get_data(as_text=True)
    assert app.get("/clip/v2-s0001", headers=HOST).status_code == 200


def test_review_page_counts_dropped_dialogue_like_step2_reviewed(clips, tmp_path):
    """The page passes the clip's dropped-dialogue flag to decide() as step2-reviewed does: an
    unreviewed clip with one is shown as left out, not as kept."""
    dropped = [DroppedLine(start=0.2, end=1.4, text="Thank you for watching!", checks=["phantom_phrase"])]
    app, _ = review_app(tmp_path, clips["moving"], [("v1-s0001", CLEAN)], dropped_lines=dropped)
    html = app.get("/video/v1", headers=HOST).get_data(as_text=True)
    assert "not reviewed: will be left out by QA (dialogue dropped as a likely ASR hallucination" in html


def test_review_page_shows_the_speaker_of_each_line_and_a_fix_reaches_step2_reviewed(clips, tmp_path):
    """Issue 30: each dialogue line of a clip is shown with its speaker (by voice, step2-speakers;
    a voice no reference matches reads 'unknown'); the reviewer picks another speaker, the
    decision stores it in review.json `speakers`, and step2-reviewed's rule applies it."""
    import review as server
    import step2_reviewed
    from reelset.review import apply_speaker_fixes
    from reelset.schemas.context import ContextLine
    lines = [ContextLine(start=0.5, end=2.0, speaker="Archer", speaker_source="voice", speaker_confidence=0.93,
                         text="My name is Archer."),
             ContextLine(start=2.5, end=3.5, speaker="unknown", speaker_source="voice-unknown", text="Who are you?")]
    cap = clip("rsdemo, Archer stands in front of colour bars.", "v1-s0001").model_copy(
        update={"clip_path": str(clips["moving"]), "lines": lines})
    app, ds = serve_captions(server, tmp_path, [cap])
    html = app.get("/video/v1").get_data(as_text=True)
    assert '<td class="speaker" title="voice 0.93">' in html and "<option selected>Archer</option>" in html
    assert '<td class="speaker unknown" title="voice-unknown">' in html and "<option selected>unknown</option>" in html
    assert 'data-start="2.50" data-orig="unknown"' in html and "My name is Archer." in html

    bad = app.post("/api/decision", json={"clip_id": "v1-s0001", "action": "accept", "speakers": {"2.50": "Bob"}})
    assert bad.status_code == 400 and "'Bob' is no character of the bible" in bad.json["error"]
    ok = app.post("/api/decision", json={"clip_id": "v1-s0001", "action": "accept", "speakers": {"2.50": "Lana"}})
    assert ok.status_code == 200, ok.json
    decision = load_review(ds / "review.json").decisions["v1-s0001"]
    assert decision.speakers == {"2.50": "Lana"}
    html = app.get("/video/v1").get_data(as_text=True)
    assert '<td class="speaker" title="review">' in html and "<option selected>Lana</option>" in html

    fixed, unmatched = apply_speaker_fixes(cap.lines, {**decision.speakers, "9.00": "Archer"}, NAMES, "review.json: decisions['v1-s0001']")
    assert [ln.speaker for ln in fixed] == ["Archer", "Lana"] and unmatched == ["9.00"]
    assert step2_reviewed.speaking_seconds(fixed) == {"Archer": 1.5, "Lana": 1.0}
