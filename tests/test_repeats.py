"""Repeats across episodes (tools/reelset/repeats.py, step2-reviewed's shards and gathering, the
packages): two episodes made here with ffmpeg lavfi + espeak-ng share an intro and end credits
(same frames, same sound) around shots of their own. The fingerprints group the intro clips and
the credits clips and nothing unique; ``[repeats] keep = "one"`` drops episode 2's copies from
both packages, whose manifests name the clip kept."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import orjson
import pytest

from conftest import ffmpeg, report_html, run_tool, scenes_spec
from reelset.repeats import find_groups
from reelset.schemas.manifest import PackageManifest
from reelset.schemas.repeats import ClipFingerprint, ClipSpan, RepeatsConfig, VideoTimeline
from reelset.schemas.reviewed import ReviewedArtifact
from reelset.schemas.scenes import ScenesArtifact
from reelset.stretches import find_stretches
from test_package import LTX2_CFG, WAN21_CFG, package_spec
from test_review import aggregate_of, caption_shard

SIZE, RATE, PART_S = "320x240", 25, 3
INTRO = ("testsrc2=size={s}:rate={r}", "Previously on the Archer files.")
CREDITS = ("rgbtestsrc=size={s}:rate={r},scroll=v=0.01", "Created by the reelset team. Goodbye.")
OWN = {"ep1": [("cellauto=size={s}:rate={r}:rule=110:seed=3", "Lana had dinner with Krieger at the station."),
               ("gradients=size={s}:rate={r}:speed=0.03:seed=5", "Malory reads the report aloud.")],
       "ep2": [("life=size={s}:rate={r}:seed=7:mold=10", "Archer drives to the airport at night."),
               ("mandelbrot=size={s}:rate={r}", "Krieger opens the old laboratory door.")]}
CAPTION = "rsdemo, a test card with colour bars and a moving gradient; static camera."


def part(dest: Path, source: str, text: str) -> Path:
    """PART_S seconds of ``source`` with ``text`` spoken by espeak-ng under it (16 kHz mono AAC)."""
    wav = dest.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), text], check=True, capture_output=True)
    ffmpeg("-f", "lavfi", "-i", source.format(s=SIZE, r=RATE), "-i", str(wav), "-t", str(PART_S),
           "-af", "apad", "-ar", "16000", "-ac", "1", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", str(dest))
    return dest


def episode(dest: Path, parts: list[Path]) -> Path:
    """The parts one after the other (hard cuts), re-encoded as one video."""
    inputs = [a for p in parts for a in ("-i", str(p))]
    streams = "".join(f"[{i}:v][{i}:a]" for i in range(len(parts)))
    ffmpeg(*inputs, "-filter_complex", f"{streams}concat=n={len(parts)}:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "16000", str(dest))
    return dest


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> dict:
    """Two episodes (intro, two shots of their own, credits), their step1-scenes shards and
    caption shards (one caption per clip), and each step2-reviewed shard."""
    tmp = tmp_path_factory.mktemp("season")
    intro, credits = part(tmp / "intro.mp4", *INTRO), part(tmp / "credits.mp4", *CREDITS)
    out: dict = {"tmp": tmp, "scenes": {}, "captions": {}, "ids": {}, "reviewed": {}}
    for vid, own in OWN.items():
        video = episode(tmp / f"{vid}.mp4", [intro, *(part(tmp / f"{vid}-{i}.mp4", *p) for i, p in enumerate(own)), credits])
        art = video_shards(out, vid, video, tmp)
        assert len(art.scenes) == 4, [(s.start_s, s.end_s) for s in art.scenes]
    return out


def video_shards(out: dict, vid: str, video: Path, tmp: Path) -> ScenesArtifact:
    """One episode's shards as the pipeline makes them, by the tools' CLIs: step1-scenes, a caption
    shard (every clip captioned CAPTION) and step2-reviewed's per-video shard (no decisions), recorded
    in ``out`` (scenes, ids, captions, reviewed by video id). Returns the scenes artifact."""
    scenes = tmp / "scenes" / vid
    scenes.parent.mkdir(exist_ok=True)
    proc = run_tool("step1_scenes.py", scenes_spec(video, vid), scenes, tmp)
    assert proc.returncode == 0, proc.stderr
    art = ScenesArtifact.model_validate(orjson.loads((scenes / "scenes.json").read_bytes()))
    out["ids"][vid] = [s.clip_id for s in art.scenes]
    out["scenes"][vid] = scenes
    out["captions"][vid] = caption_shard(tmp / "captions" / vid, vid, scenes / art.scenes[0].clip,
                                         [(cid, CAPTION) for cid in out["ids"][vid]])
    out["reviewed"][vid] = tmp / "reviewed" / vid
    proc = run_tool("step2_reviewed.py", reviewed_spec(out, vid, {}), out["reviewed"][vid], tmp)
    assert proc.returncode == 0, proc.stderr
    return art


def reviewed_spec(season: dict, vid: str | None, repeats: dict) -> dict:
    """step2-reviewed's spec: a video's shard (``vid``), or the gathering of the shards (None)."""
    spec = {"step": "step2-reviewed", "dataset": "t", "device": "cpu", "config": {"review": {}, "repeats": repeats}}
    if vid is not None:
        return {**spec, "config": {"review": {}}, "video_id": vid,
                "inputs": {"step1-scenes": str(season["scenes"][vid]), "step2-caption": str(season["captions"][vid])}}
    tmp = season["tmp"]
    inputs = {"step1-scenes": str(aggregate_of(tmp / f"agg-scenes-{len(repeats)}", "step1-scenes", season["scenes"])),
              "step2-caption": str(aggregate_of(tmp / f"agg-captions-{len(repeats)}", "step2-caption", season["captions"]))}
    return {**spec, "inputs": inputs | {f"shards/{v}": str(p) for v, p in season["reviewed"].items()}}


def reviewed(folder: Path) -> ReviewedArtifact:
    return ReviewedArtifact.model_validate(orjson.loads((folder / "reviewed.json").read_bytes()))


def test_fingerprints_group_the_intro_and_the_credits_and_nothing_unique(season):
    fps = [f for vid in OWN for f in reviewed(season["reviewed"][vid]).fingerprints]
    assert len(fps) == 8 and all(f.audio is not None and len(f.dhash) == 5 for f in fps)
    groups = [[f.clip_id for f in g] for g in find_groups(fps, RepeatsConfig())]
    ep1, ep2 = season["ids"]["ep1"], season["ids"]["ep2"]
    assert groups == [[ep1[0], ep2[0]], [ep1[3], ep2[3]]], groups
    # stricter and looser thresholds keep the answer: the shared parts are near 0 bits apart,
    # the unique shots far
    assert [[f.clip_id for f in g] for g in find_groups(fps, RepeatsConfig(threshold=2, audio_threshold_db=2))] == groups
    assert [[f.clip_id for f in g] for g in find_groups(fps, RepeatsConfig(threshold=12))] == groups


def test_keep_one_drops_the_copies_from_both_packages_naming_the_kept_clip(season):
    tmp = season["tmp"]
    ep1, ep2 = season["ids"]["ep1"], season["ids"]["ep2"]
    gather = reviewed_spec(season, None, {"keep": "one"})
    assert run_tool("step2_reviewed.py", gather, tmp / "gathered", tmp).returncode == 0
    one = {**gather, "inputs": {k: v for k, v in gather["inputs"].items() if not k.startswith("shards/")}}
    assert run_tool("step2_reviewed.py", one, tmp / "one", tmp).returncode == 0
    for name in ("reviewed.json", "meta.json"):  # the gathering is the one-process run, repeats included
        assert (tmp / "gathered" / name).read_bytes() == (tmp / "one" / name).read_bytes(), name
    rv = reviewed(tmp / "gathered")
    assert [(g.kept, [(m.clip_id, m.fate) for m in g.members]) for g in rv.repeats] == [
        (ep1[0], [(ep1[0], "kept"), (ep2[0], "dropped")]), (ep1[3], [(ep1[3], "kept"), (ep2[3], "dropped")])]
    assert {r.clip_id: r.repeat_of for r in rv.rejected if r.repeat_of} == {ep2[0]: ep1[0], ep2[3]: ep1[3]}
    assert {c.clip_id for c in rv.accepted} == {*ep1, ep2[1], ep2[2]}
    assert all(m.thumbnail and Path(m.thumbnail).is_file() for g in rv.repeats for m in g.members)
    html = report_html(tmp / "gathered", "step2_reviewed.py")  # the groups, with thumbnails
    assert "Repeats across videos (2 groups)" in html and html.count("data:image/jpeg;base64,") == 4
    for script, step, section, cfg in (("step3_ltx2_data.py", "step3-ltx2-data", "ltx2", LTX2_CFG),
                                       ("step3_wan_package.py", "step3-wan21-package", "wan21", WAN21_CFG)):
        shards = {}
        for vid in OWN:  # each package shard reads only its video's reviewed shard (copies still accepted there)
            shards[vid] = tmp / f"{section}-{vid}"
            proc = run_tool(script, {**package_spec(step, season["reviewed"][vid], section, cfg), "video_id": vid},
                            shards[vid], tmp)
            assert proc.returncode == 0, proc.stderr
        spec = package_spec(step, tmp / "gathered", section, cfg)
        spec["inputs"] |= {f"shards/{vid}": str(p) for vid, p in shards.items()}
        out = tmp / f"{section}-gathered"
        proc = run_tool(script, spec, out, tmp)
        assert proc.returncode == 0, proc.stderr
        m = PackageManifest.model_validate(orjson.loads((out / "manifest.json").read_bytes()))
        fate = {c.clip_id: c for c in m.clips}
        for copy, kept in ((ep2[0], ep1[0]), (ep2[3], ep1[3])):
            assert fate[copy].fate == "dropped" and fate[copy].repeat_of == kept, fate[copy]
            assert kept in fate[copy].reason and fate[kept].fate == "kept"
            assert not (out / "dataset" / "videos" / f"{copy}.mp4").exists()
        assert {c.clip_id for c in m.clips if c.fate == "kept"} == {*ep1, ep2[1], ep2[2]}


def test_keep_all_reports_the_groups_and_drops_nothing(season):
    tmp = season["tmp"]
    assert run_tool("step2_reviewed.py", reviewed_spec(season, None, {}), tmp / "all", tmp).returncode == 0
    rv = reviewed(tmp / "all")
    assert len(rv.repeats) == 2 and all(m.fate in ("kept", "left") for g in rv.repeats for m in g.members)
    assert len(rv.accepted) == 8 and not any(r.repeat_of for r in rv.rejected)


def fp(clip_id: str, dhash: str, rgb=(100, 100, 100), audio=None, duration=3.0) -> ClipFingerprint:
    return ClipFingerprint(clip_id=clip_id, video_id=clip_id.split("-")[0], duration_s=duration, dhash=[dhash] * 5,
                           rgb=[list(rgb)] * 5, audio=audio)


def test_grouping_rules_without_media():
    """A group needs clips of two videos (a shot twice in one episode and nowhere else is the
    episode's own; once another episode has it too, both copies join the group); a re-tinted
    picture, another length, sound on one side only or a hash 7+ bits away do not group."""
    base = "f0f0f0f0f0f0f0f0"
    clips = [fp("a-s0001", base), fp("a-s0002", base), fp("b-s0001", "f0f0f0f0f0f0f0f1"),  # 1 bit apart
             fp("c-s0001", base, rgb=(140, 100, 100)), fp("d-s0001", base, duration=4.0),
             fp("e-s0001", base, audio=[0.0] * 32), fp("f-s0001", "0f0f0f0f0f0f0f0f"), fp("g-s0001", "f0f0f0f0f0f0f07f")]
    groups = [[f.clip_id for f in g] for g in find_groups(clips, RepeatsConfig())]
    assert groups == [["a-s0001", "a-s0002", "b-s0001", "g-s0001"]], groups
    assert find_groups(clips, RepeatsConfig(threshold=0)) == []  # a's twice, alone


# --------------------------------------------------------------------------- repeats by time (issue 39)
# Three episodes: a cold open of their own (0, 1.32, 2.24 s: the shared parts start at sub-step
# offsets), a 6 s intro (two shots), a shot of their own, 4 s of animated end credits; each episode
# re-encoded with its own softness, so scene detection cuts the same credits into 1, 2 and 3 clips
# (tests/season_media.py).
T_SIZE, T_RATE = "320x240", 25
T_INTRO = [("rgbtestsrc=size={s}:rate={r},scroll=h=0.01", "Previously on the Archer files.", 3.0),
           ("smptehdbars=size={s}:rate={r},scroll=v=0.01", "Nothing is what it seems.", 3.0)]
T_CREDITS = (None, "Created by the reelset team. Goodbye until next week.", 4.0)
T_OWN = {"ep1": [None, ("gradients=size={s}:rate={r}:speed=0.03:seed=5", "Malory reads the report aloud.", 3.0)],
         "ep2": [("life=size={s}:rate={r}:seed=7:mold=10", "Cold open.", 1.32),
                 ("mandelbrot=size={s}:rate={r}", "Krieger opens the old laboratory door.", 3.0)],
         "ep3": [("cellauto=size={s}:rate={r}:rule=110:seed=3", "Cold open, longer.", 2.24),
                 ("sierpinski=size={s}:rate={r}:seed=9", "Lana drives to the airport at night.", 3.0)]}


@pytest.fixture(scope="module")
def credits_season(tmp_path_factory) -> dict:
    """The three episodes (see above), their step1-scenes and caption shards, each step2-reviewed
    shard, and the shared parts' [start, end) seconds per episode."""
    from season_media import end_card_source, join, softness, spoken_part
    tmp = tmp_path_factory.mktemp("credits")
    intro = [spoken_part(tmp / f"intro{i}.mp4", src.format(s=T_SIZE, r=T_RATE), text, sec) for i, (src, text, sec) in enumerate(T_INTRO)]
    credits = spoken_part(tmp / "credits.mp4", end_card_source(T_SIZE, T_RATE), T_CREDITS[1], T_CREDITS[2])
    out: dict = {"tmp": tmp, "scenes": {}, "captions": {}, "ids": {}, "reviewed": {}, "shared": {}, "scenes_art": {}}
    for k, (vid, (cold, own)) in enumerate(T_OWN.items(), start=1):
        parts = []
        if cold:
            parts.append(spoken_part(tmp / f"{vid}-cold.mp4", cold[0].format(s=T_SIZE, r=T_RATE), cold[1], cold[2]))
        parts += [*intro, spoken_part(tmp / f"{vid}-own.mp4", own[0].format(s=T_SIZE, r=T_RATE), own[1], own[2]), credits]
        video = join(tmp / f"{vid}.mp4", parts, softness(k))
        c = cold[2] if cold else 0.0
        out["shared"][vid] = [(c, c + 6.0), (c + 9.0, c + 13.0)]
        out["scenes_art"][vid] = video_shards(out, vid, video, tmp)
    return out


def _inside(season: dict, vid: str, clip) -> bool:
    mid = 0.5 * (clip.start_s + clip.end_s)
    return any(a <= mid < b for a, b in season["shared"][vid])


def test_repeats_by_time_find_the_credits_however_they_are_cut(credits_season):
    """The same 4 s of credits are 1, 2 and 3 clips: the whole-clip fingerprints miss copies, the
    timelines find every clip of the intro and the credits in all three episodes and nothing
    unique; keep = "one" drops the copies, naming ep1's clip and time range, and the package's
    manifest says so; the report draws each stretch as a strip per episode, nothing wider than 1280 px."""
    s, tmp = credits_season, credits_season["tmp"]
    credits = {vid: [c.clip_id for c in art.scenes if _inside(s, vid, c) and c.start_s > s["shared"][vid][1][0] - 0.5]
               for vid, art in s["scenes_art"].items()}
    assert [len(v) for v in credits.values()] == [1, 2, 3], credits  # the premise: cut differently
    shared = {c.clip_id for vid, art in s["scenes_art"].items() for c in art.scenes if _inside(s, vid, c)}
    unique = {c.clip_id for art in s["scenes_art"].values() for c in art.scenes} - shared
    shards = [reviewed(s["reviewed"][vid]) for vid in T_OWN]
    assert all(len(r.timelines) == 1 and len(r.timelines[0].dhash) == round(r.timelines[0].duration_s / 0.5 + 0.49)
               for r in shards)
    # before: whole clips (5 sampled frames, durations within 10 %) leave credits copies out
    clip_groups = find_groups([f for r in shards for f in r.fingerprints], RepeatsConfig())
    assert not {c for v in credits.values() for c in v} <= {f.clip_id for g in clip_groups for f in g}
    gather = reviewed_spec(s, None, {"keep": "one", "min_s": 2.0})
    proc = run_tool("step2_reviewed.py", gather, tmp / "gathered", tmp)
    assert proc.returncode == 0, proc.stderr
    rv = reviewed(tmp / "gathered")
    assert rv.timelines == []  # the shards carry them; the gathered artifact does not
    stretches = [g for g in rv.repeats if g.kind == "stretch"]
    assert len(stretches) == 2 and all([o.video_id for o in g.occurrences] == list(T_OWN) for g in stretches)
    members = {m.clip_id: m for g in rv.repeats for m in g.members}
    assert shared <= set(members), shared - set(members)  # all copies found
    assert not unique & set(members), unique & set(members)  # no unique shot grouped
    accepted = {c.clip_id for c in shards[0].accepted} | {c.clip_id for r in shards for c in r.accepted if c.clip_id in unique}
    assert {c.clip_id for c in rv.accepted} == accepted
    copies = {c.clip_id for r in shards[1:] for c in r.accepted if c.clip_id in shared}
    dropped = {r.clip_id: r for r in rv.rejected if r.repeat_of}
    assert set(dropped) == copies and len(copies) >= 7, (sorted(dropped), sorted(copies))
    ep1 = s["scenes_art"]["ep1"].scenes
    for r in dropped.values():
        assert r.repeat_of in {c.clip_id for c in ep1 if _inside(s, "ep1", c)}
        span = r.repeat_span
        assert span.video_id == "ep1" and span.end_s > span.start_s
        assert any(a - 0.5 <= span.start_s and span.end_s <= b + 0.5 for a, b in s["shared"]["ep1"]), span
        assert f"repeat of ep1 {span.start_s:.2f}" in r.reasons[0]
    html = report_html(tmp / "gathered", "step2_reviewed.py")
    assert "Repeated stretches (2)" in html and html.count('class="strip"') == 6
    widths = [int(w) for w in re.findall(r'width[:=]"?\s*(\d+)(?:px)?', html)]
    assert widths and max(widths) <= 1280, max(widths)
    out = tmp / "wan21"
    spec = package_spec("step3-wan21-package", tmp / "gathered", "wan21", WAN21_CFG)
    proc = run_tool("step3_wan_package.py", spec, out, tmp)
    assert proc.returncode == 0, proc.stderr
    m = PackageManifest.model_validate(orjson.loads((out / "manifest.json").read_bytes()))
    fate = {c.clip_id: c for c in m.clips}
    for cid, r in dropped.items():
        assert fate[cid].fate == "dropped" and fate[cid].repeat_of == r.repeat_of and fate[cid].repeat_span == r.repeat_span


def _timeline(vid: str, hashes: list[int], contrast: int = 40) -> VideoTimeline:
    n = len(hashes)
    return VideoTimeline(video_id=vid, step_s=0.5, duration_s=n * 0.5, clips=[ClipSpan(clip_id=f"{vid}-s0001", start_s=0, end_s=n * 0.5)],
                         dhash=[f"{h:016x}" for h in hashes], rgb=["40" * 27] * n, contrast=[contrast] * n, audio=None)


def test_stretch_rules_without_media():
    """A run of >= min_s alike steps is a stretch, found at any diagonal, across one differing step;
    a shorter run, and flat steps (a black screen), are not."""
    rng = __import__("random").Random(4)  # noqa: S311
    own = [rng.getrandbits(64) for _ in range(40)]
    shared = [rng.getrandbits(64) for _ in range(8)]  # 4 s
    short = [rng.getrandbits(64) for _ in range(3)]  # 1.5 s
    b_shared = list(shared)
    b_shared[3] ^= (1 << 40) - 1  # one step differs (40 bits)
    a = _timeline("a", own[:10] + shared + own[10:15] + short + own[15:20])
    b = _timeline("b", own[20:23] + b_shared + own[23:30] + short + own[30:40])
    found = find_stretches([a, b], RepeatsConfig())
    assert [[(o.video_id, o.start_s, o.end_s) for o in st.occurrences] for st in found] == [[("a", 5.0, 9.0), ("b", 1.5, 5.5)]]
    assert found[0].occurrences[1].offset_s == 3.5
    assert find_stretches([a, b], RepeatsConfig(min_s=4.5)) == []
    assert len(find_stretches([a, b], RepeatsConfig(min_s=1.5))) == 2
    flat = _timeline("c", own[:4] + [0] * 10 + own[4:8], contrast=0)
    assert find_stretches([flat, _timeline("d", own[8:12] + [0] * 10, contrast=0)], RepeatsConfig()) == []
