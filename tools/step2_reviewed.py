"""step2-reviewed: apply the review decisions and the automatic QA to every clip of the
dataset; the accepted clip set with final captions is the input of packaging (step3-*).

Input (spec): ``inputs``: ``step1-scenes`` and ``step2-caption`` (aggregates over the videos:
``shards/<video id>/{scenes,captions}.json``), ``config.review``
(:class:`reelset.schemas.review.ReviewConfig`), ``files.review`` (``pipelines/<name>/review.json``,
:class:`reelset.schemas.review.ReviewFile`; optional — without it every clip goes by QA alone).

Per clip (rules in :mod:`reelset.review`): QA flags (too short / too long, black frames by
ffmpeg blackdetect, frozen frames by freezedetect, caption empty / too short / too long,
a named character not in the clip's context, trigger word missing, transcript text of the
clip dropped as a likely ASR hallucination), then the decision keyed
by clip id and made against the caption's sha256 — accept, reject (with reason), edit, and
speaker fixes of its dialogue lines (``speakers``: reelset.review.apply_speaker_fixes; the
accepted clip's ``speaking_s`` counts them). A
decision on a caption that changed since (or on a clip that no longer exists) is listed in
``stale_decisions`` and never applied.

Output (``$out``): ``reviewed.json`` (:class:`reelset.schemas.reviewed.ReviewedArtifact`: accepted
clips with final captions — trigger word removed; packaging puts it back, exactly once, for every family —,
rejected clips with reasons, per-clip QA, stale decisions), ``meta.json``.
Errors (exit status 2): a malformed review.json names the entry and field
(``review.json: malformed review file: decisions['demo01-s0002'].action: …``); a caption
shard whose clips differ from its scenes.

Per video (``perVideo`` in nix/steps.nix): with ``video_id`` the inputs are that video's shards
and ``files.review`` holds its own decisions only (Nix cuts review.json per video), and the
output is that video's part of reviewed.json; the dataset's derivation then has inputs
``shards/<video id>`` and only joins them (videos in id order) and lists the decisions that
name no clip of the dataset — the bytes of one process over the aggregates (run by hand).

Repeats across videos (:mod:`reelset.repeats`, :mod:`reelset.stretches`): a shard also
fingerprints every clip of its video (``fingerprints`` of reviewed.json: sampled frames' hashes
and colours, audio band energies) and the video by time (``timelines``: one signature per 0.5 s
step, with the clip boundaries), from one decode of each clip; the gathering (or the one-process
run) finds repeated stretches of time and near-identical clips of different videos by those
records alone (``repeats``) and, with ``[repeats] keep = "one"``
(:class:`reelset.schemas.repeats.RepeatsConfig`, which only the gathering takes), moves every
accepted copy (a clip lying mostly inside a repeated stretch's later occurrence, or a later clip
of a clip group) to the rejected clips with ``repeat_of`` naming the clip kept (and
``repeat_span`` the time range it repeats). Repeats act on reviewed clips, so a dropped clip
gives no packaged item (no window) at all. The timelines stay in the shards: the gathered
reviewed.json leaves them out.

Run by hand: ``python tools/step2_reviewed.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from reelset import ReelsetError, media
from reelset.declare import File, Step
from reelset.repeats import apply_repeats, fingerprint
from reelset.review import apply_speaker_fixes, decide, dialogue_flags, load_review, media_flags
from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.base import StepMeta
from reelset.schemas.captions import CaptionsArtifact
from reelset.schemas.repeats import ClipFingerprint, RepeatsConfig, VideoTimeline
from reelset.schemas.review import ClipQA, ReviewConfig, ReviewFile
from reelset.schemas.reviewed import RejectedClip, ReviewedArtifact, ReviewedClip
from reelset.schemas.scenes import ScenesArtifact
from reelset.signature import decode_frames
from reelset.step import Context, StepResult, Timer, log, main, read_artifact, write_json
from reelset.stretches import TimelineBuilder

# per video: each shard reads its video's clips and captions (the tool reads the shards itself);
# [repeats] groups clips across videos: only the gathering takes it (the shards fingerprint);
# review.json is optional (without it every clip goes by automatic QA alone) and split: each
# video's shard gets only the decisions on its own clips
STEP = Step(name="step2-reviewed", device="cpu", level="dataset", script="step2_reviewed.py",
            inputs={"step1-scenes": None, "step2-caption": None}, config={"review": ReviewConfig, "repeats": RepeatsConfig},
            per_video=True, shard_config=["review"],
            files={"review": File(key="review.file", default="review.json", optional=True, split="decisions")})
SHARD = "shards/"  # inputs "shards/<video id>": this step's per-video shards, which the gathering joins

def shards(folder: Path) -> dict[str, Path]:
    """Video id → shard folder of a video-level step output: an aggregate (aggregate.json,
    symlinks shards/<id>) or a single shard (its meta.json names the shard)."""
    agg_file = folder / "aggregate.json"
    if agg_file.is_file():
        agg = read_artifact(agg_file, AggregateArtifact)
        return {m.name: (folder / m.link).resolve() for m in agg.members}
    meta = read_artifact(folder / "meta.json", StepMeta)
    if not meta.shard:
        raise ReelsetError(f"{folder}: neither an aggregate nor a per-video shard")
    return {meta.shard: folder.resolve()}


@dataclass
class VideoReview:
    """What review decides for one video's clips (clip order): accepted and rejected clips,
    per-clip QA, decisions gone stale on a changed caption, and the bible's trigger word."""

    accepted: list[ReviewedClip] = field(default_factory=list)
    rejected: list[RejectedClip] = field(default_factory=list)
    qa: list[ClipQA] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    trigger: str | None = None
    fingerprints: list[ClipFingerprint] = field(default_factory=list)
    timelines: list[VideoTimeline] = field(default_factory=list)


def review_video(vid: str, scene_dir: Path, caption_dir: Path, review: ReviewFile, cfg: ReviewConfig,
                 timer: Timer) -> VideoReview:
    """Automatic QA and the review decisions of every clip of video ``vid`` (its step1-scenes
    and step2-caption shard folders); reads nothing of another video."""
    scenes = read_artifact(scene_dir / "scenes.json", ScenesArtifact)
    captions = read_artifact(caption_dir / "captions.json", CaptionsArtifact)
    by_id = {s.clip_id: s for s in scenes.scenes}
    if [c.clip_id for c in captions.clips] != list(by_id):
        raise ReelsetError(f"{caption_dir}/captions.json: clips differ from {scene_dir}/scenes.json")
    out = VideoReview(trigger=captions.trigger_word)
    has_audio = scenes.source.has_audio
    timeline = TimelineBuilder(vid, max((s.end_s for s in scenes.scenes), default=0.0), has_audio)
    for cap in captions.clips:
        scene = by_id[cap.clip_id]
        clip_file = scene_dir / scene.clip
        with timer.phase("qa_media"):
            flags = media_flags(clip_file, scene.end_s - scene.start_s, cfg) + dialogue_flags(cap, cfg)
        with timer.phase("fingerprint"):  # one decode: the clip's fingerprint and its steps of the timeline
            frames = decode_frames(clip_file)
            samples = media.decode_audio_16k(clip_file) if has_audio else None
            out.fingerprints.append(fingerprint(cap.clip_id, vid, clip_file, scene.end_s - scene.start_s, has_audio,
                                                str(scene_dir / scene.thumbnail), frames=frames, samples=samples))
            timeline.add(cap.clip_id, scene.start_s, scene.end_s, frames, scenes.analysis_fps, samples)
        outcome = decide(cap, flags, review.decisions.get(cap.clip_id), out.trigger, captions.names, cfg)
        out.qa.append(outcome.qa)
        if outcome.stale:
            out.stale.append(outcome.stale)
        if outcome.rejected is not None:
            out.rejected.append(outcome.rejected)
            continue
        decision = None if outcome.stale else review.decisions.get(cap.clip_id)
        lines, unmatched = apply_speaker_fixes(cap.lines, decision.speakers if decision else {}, captions.names,
                                               f"{cfg.file}: decisions[{cap.clip_id!r}]")
        out.stale += [f"{cap.clip_id}: speaker fix for the line at {k} s: the clip has no line starting there (not applied)"
                      for k in unmatched]
        out.accepted.append(ReviewedClip(
            clip_id=cap.clip_id, video_id=vid, clip_path=str(clip_file), caption=outcome.caption,
            caption_source=outcome.caption_source, frame_count=scene.frame_count, fps=scenes.analysis_fps,
            width=scene.width, height=scene.height, start_s=scene.start_s, end_s=scene.end_s,
            has_audio=scenes.source.has_audio, characters=cap.context_characters, speaking_s=speaking_seconds(lines),
            lines=lines, unheard_speech_s=cap.unheard_speech_s))
    with timer.phase("fingerprint"):
        out.timelines.append(timeline.timeline())
    return out


def speaking_seconds(lines) -> dict[str, float]:
    """Character → seconds of its dialogue lines in a clip (lines of an unknown voice left out), 3 decimals."""
    out: dict[str, float] = {}
    for ln in lines:
        if ln.speaker != "unknown":
            out[ln.speaker] = out.get(ln.speaker, 0.0) + max(0.0, ln.end - ln.start)
    return {k: round(v, 3) for k, v in out.items()}


def gathered(shard_dirs: dict[str, Path]) -> dict[str, VideoReview]:
    """Video id → the review of a per-video shard output (its reviewed.json), read back."""
    out = {}
    for vid, folder in shard_dirs.items():
        art = read_artifact(folder / "reviewed.json", ReviewedArtifact)
        out[vid] = VideoReview(art.accepted, art.rejected, art.qa, art.stale_decisions, art.trigger_word, art.fingerprints,
                               art.timelines)
    return out


def run(ctx: Context) -> StepResult:
    """Three ways, one result: a per-video shard (``spec.video_id``: that video's clips and
    decisions), the gathering of shards (inputs ``shards/<video id>``: no QA here, only joined), or the
    whole dataset in one process (neither). The gathering and the one-process run write the same
    reviewed.json bytes: videos in id order, then decisions naming no clip of the dataset."""
    spec, out, timer = ctx.spec, ctx.out, ctx.timer
    for needed in ("step1-scenes", "step2-caption"):
        if needed not in spec.inputs:
            raise ReelsetError(f"{STEP}: spec has no inputs.{needed}")
    cfg = ctx.config["review"]
    review_path = Path(spec.files["review"]) if "review" in spec.files else None
    review = load_review(review_path, where=cfg.file)
    own = {k.removeprefix(SHARD): Path(p) for k, p in spec.inputs.items() if k.startswith(SHARD)}
    if own:
        per_video = gathered(own)
    else:
        scene_shards = shards(Path(spec.inputs["step1-scenes"]))
        caption_shards = shards(Path(spec.inputs["step2-caption"]))
        if set(scene_shards) != set(caption_shards):
            raise ReelsetError(f"{STEP}: step1-scenes has videos {sorted(scene_shards)}, step2-caption {sorted(caption_shards)}")
        per_video = {vid: review_video(vid, scene_shards[vid], caption_shards[vid], review, cfg, timer)
                     for vid in sorted(caption_shards)}
    accepted: list[ReviewedClip] = []
    rejected: list[RejectedClip] = []
    qa, stale, trigger, fps, timelines = [], [], None, [], []
    for vid in sorted(per_video):
        v = per_video[vid]
        accepted += v.accepted
        rejected += v.rejected
        qa += v.qa
        stale += v.stale
        trigger = v.trigger
        fps += v.fingerprints
        timelines += v.timelines
    groups = []
    if spec.video_id is None:  # a shard leaves repeats across videos and decisions on other clips to the gathering
        with timer.phase("repeats"):
            groups, accepted, rejected, qa = apply_repeats(fps, timelines, ctx.config["repeats"],
                                                           accepted, rejected, qa)
        seen = {q.clip_id for q in qa}
        stale += [f"{cid}: decision '{d.action}' names no clip of the dataset (not applied)"
                  for cid, d in review.decisions.items() if cid not in seen]
    for note in stale:
        log(f"{STEP}: stale decision: {note}")
    review_sha = hashlib.sha256(review_path.read_bytes()).hexdigest() if review_path else None
    art = ReviewedArtifact(dataset=spec.dataset, trigger_word=trigger, accepted=accepted, rejected=rejected,
                           stale_decisions=stale, qa=qa, review_sha256=review_sha, fingerprints=fps, repeats=groups,
                           timelines=timelines if spec.video_id is not None else [],
                           sources={k: spec.inputs[k] for k in ("step1-scenes", "step2-caption")})
    write_json(out / "reviewed.json", art)
    flags = [f for q in qa for f in q.flags]
    return StepResult(counts={"clips": len(qa), "accepted": len(accepted), "rejected": len(rejected),
                              "stale_decisions": len(stale), "decisions": len(review.decisions), "qa_flags": len(flags),
                              "edited": sum(c.caption_source == "edited" for c in accepted),
                              "repeat_groups": len(groups), "repeat_stretches": sum(g.kind == "stretch" for g in groups),
                              "repeats_dropped": sum(r.repeat_of is not None for r in rejected)},
                      versions={"ffmpeg": media.program_version("ffmpeg")})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
