"""Shared code of the packaging steps (step3-ltx2-data, step3-wan21-package): read the
reviewed clip set, plan each clip against a trainer's frame/size rules, transcode the kept
clips with ffmpeg (several at once, fixed threads each: same bytes), account for every clip, write a deterministic zip.

Units: frames (integers), frame rates in frames per second (exact :class:`fractions.Fraction`
where they drive arithmetic), sizes in pixels. Captions are joined to clips by ``clip_id``
only: every record carries its own caption from reviewed.json, so dropping a clip can never
shift a caption onto another clip (the failure of LTX-Video-Trainer #59 / diffusion-pipe #113).

Trigger word (one policy for every family): reviewed.json holds captions without it; every
packaged caption — what a trainer and reelset's own step4 text encoder read — starts with
the bible's trigger word, exactly once (:func:`caption_for`). So a trainer's own trigger
option (ltx-trainer ``process_dataset.py --lora-trigger``, which prepends it to each caption)
must not be used on these packages: it would double it.

Errors (:class:`reelset.ReelsetError`, naming the file and the reason): no ``step2-reviewed``
input or a reviewed.json that does not match its schema (the harness, :data:`INPUTS`), a clip id listed twice, a clip file
that is missing or not a video, a written clip whose frame count or size is not the
planned one, and a package that would keep no clip at all (:func:`require_kept`: an empty
training set is never a successful build; the message counts the reasons and says whether
step2-reviewed had a review.json).
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel

from reelset import ReelsetError, media
from reelset.captiontext import strip_trigger
from reelset.schemas.base import StepSpec
from reelset.schemas.manifest import PackagedClip, PackageManifest
from reelset.schemas.reviewed import ReviewedArtifact, ReviewedClip
from reelset.step import Inputs, StepResult, Timer, log, read_artifact, write_json

REVIEWED_STEP = "step2-reviewed"
INPUTS = {REVIEWED_STEP: ReviewedArtifact}  # what every package step reads: its tool's INPUTS
SHARD = "shards/"  # spec inputs "shards/<video id>": the step's per-video shards, which the gathering links
PACKAGE_DIR = "dataset"  # the trainer package inside $out (what the zip holds)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # earliest date a zip entry can carry: fixed for bit-identical zips


def reviewed_of(spec: StepSpec, inputs: Inputs) -> ReviewedArtifact:
    """The ``reviewed.json`` of the spec's ``step2-reviewed`` input (loaded by the harness:
    :data:`INPUTS`). ReelsetError naming the file when a clip id occurs twice across accepted
    and rejected clips (a join by id would then be ambiguous).
    """
    reviewed = inputs[REVIEWED_STEP]
    path = Path(spec.inputs[REVIEWED_STEP]) / ReviewedArtifact.FILE
    ids = [c.clip_id for c in reviewed.accepted] + [c.clip_id for c in reviewed.rejected]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ReelsetError(f"{path}: clip id(s) listed more than once: {', '.join(dupes)}")
    return reviewed


@dataclass(frozen=True)
class SourceClip:
    """An accepted clip file as reviewed.json describes it: frames, exact fps, size (pixels), audio."""

    frames: int
    fps: Fraction
    width: int
    height: int
    has_audio: bool


def source_clip(clip: ReviewedClip) -> SourceClip:
    """The clip file of an accepted clip, from its reviewed.json entry (step1-scenes wrote the
    frame count, fps and size there from the file itself; no probe: a probe per clip was a
    third of this step's time on 300 clips). The fps is made exact by snapping to the nearest
    fraction with a denominator <= 1001 (24000/1001, 25, ...). ReelsetError when the file is
    missing; a file that is not the video it claims fails its transcode, naming it."""
    path = Path(clip.clip_path)
    if not path.is_file():
        raise ReelsetError(f"{path}: clip {clip.clip_id} of reviewed.json does not exist")
    return SourceClip(frames=clip.frame_count, fps=Fraction(clip.fps).limit_denominator(1001), width=clip.width,
                      height=clip.height, has_audio=clip.has_audio)


def available_frames(frames: int, src_fps: Fraction, dst_fps: Fraction) -> int:
    """Frames a clip of ``frames`` frames at ``src_fps`` surely gives at ``dst_fps``:
    floor(frames x dst_fps / src_fps) (ffmpeg's fps filter emits this many or one more)."""
    return math.floor(Fraction(frames) * dst_fps / src_fps)


def frames_used(written: int, src_frames: int, src_fps: Fraction, dst_fps: Fraction) -> int:
    """Source frames covered by ``written`` frames at ``dst_fps``: round(written x src_fps / dst_fps),
    at most ``src_frames``."""
    return min(src_frames, round(Fraction(written) * src_fps / dst_fps))


def parse_size(text: str) -> tuple[int, ...]:
    """'960x544x49' → (960, 544, 49); '832x480' → (832, 480) (validated by the config schemas)."""
    return tuple(int(v) for v in text.lower().split("x"))


def aspect_distance(width: int, height: int, bucket_w: int, bucket_h: int) -> float:
    """|log(w/h) - log(W/H)|: aspect-ratio distance, symmetric for wide and tall frames
    (the key ltx-trainer's process_videos.py sorts buckets by first)."""
    return abs(math.log(width / height) - math.log(bucket_w / bucket_h))


ENCODER_THREADS = "1"  # per packaged clip: clips are encoded side by side (encode_jobs), one thread each


def encode_jobs() -> int:
    """Clips encoded at once: ``NIX_BUILD_CORES`` (the builder's ``cores`` setting; 0 = all)
    else the CPUs this process may use, at most 8. Each encode has its own fixed thread count
    (:data:`ENCODER_THREADS`), so the job count changes the wall time, never the bytes."""
    cores = int(os.environ.get("NIX_BUILD_CORES") or 0) or len(os.sched_getaffinity(0))
    return max(1, min(8, cores))


@dataclass(frozen=True)
class Encode:
    """One packaged clip to write: source file, destination, and the plan (frames at ``fps``,
    ``width`` x ``height`` pixels, libx264 ``crf``/``preset``, audio on or off)."""

    src: Path
    dst: Path
    fps: Fraction
    frames: int
    width: int
    height: int
    crf: int
    preset: str
    audio: bool


def transcode(job: Encode) -> None:
    """Write the first ``job.frames`` frames of ``job.src`` resampled to ``job.fps``, scaled to
    cover ``width`` x ``height`` (aspect kept) and center-cropped to it, as H.264 yuv420p MP4
    (square pixels; AAC 48 kHz stereo cut to the same span when ``job.audio``): one decode of
    the source clip, one encode.

    Resampling is ffmpeg's ``fps`` filter (drops/duplicates frames to the nearest
    timestamp); the crop is ``crop=W:H`` (centered by default). Encodes use
    :data:`ENCODER_THREADS` and :data:`media.BITEXACT` so a rebuild gives the same
    bytes. Checks the result with one ffprobe (packet count and size, no decode):
    ReelsetError naming ``dst`` when its frame count or size differs from the plan.
    """
    fps, frames, width, height = job.fps, job.frames, job.width, job.height
    rate = f"{fps.numerator}/{fps.denominator}"
    args = ["-i", str(job.src), "-map", "0:v:0"]
    if job.audio:
        args += ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"]
    else:
        args += ["-an"]
    args += ["-vf", f"fps={rate},scale={width}:{height}:force_original_aspect_ratio=increase:flags=bicubic,"
                    f"crop={width}:{height},setsar=1",
             "-frames:v", str(frames), "-t", f"{float(Fraction(frames) / fps):.6f}",
             "-c:v", "libx264", "-crf", str(job.crf), "-preset", job.preset, "-pix_fmt", "yuv420p",
             "-threads", ENCODER_THREADS, "-sn", "-dn", *media.BITEXACT, "-movflags", "+faststart", str(job.dst)]
    media.run_ffmpeg(args, f"packaging to {width}x{height}, {frames} frames at {float(fps):g} fps", job.src)
    got, got_w, got_h = media.packets_and_size(job.dst)
    if (got, got_w, got_h) != (frames, width, height):
        raise ReelsetError(f"{job.dst}: written clip has {got} frames at {got_w}x{got_h}, "
                           f"planned {frames} frames at {width}x{height} (from {job.src})")


def transcode_all(jobs: list[Encode]) -> None:
    """Run :func:`transcode` for every job, :func:`encode_jobs` at a time (threads that each wait
    on one ffmpeg process). Every job is finished or cancelled before this returns; the first
    error (in job order) is raised."""
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=min(encode_jobs(), len(jobs))) as pool:
        futures = [pool.submit(transcode, job) for job in jobs]
        for future in futures:
            if future.exception() is not None:
                for other in futures:
                    other.cancel()
                raise future.exception()


def caption_for(caption: str, trigger: str | None) -> str:
    """The caption as written, under reelset's one trigger-word policy (both families): with
    a trigger word, ``'<trigger> <caption>'`` with the trigger word exactly once — any
    whole-word occurrence in ``caption`` (a reviewer may have typed it) is removed first
    (:func:`reelset.captiontext.strip_trigger`); whitespace (newlines included) collapsed to
    single spaces so a caption is one CSV field and one line of a .txt sidecar."""
    text = " ".join(strip_trigger(caption, trigger).split())
    return f"{trigger} {text}" if trigger else text


def speech_section(clip: ReviewedClip) -> str | None:
    """The [SPEECH] text of an LTX-2 caption for ``clip``: its dialogue lines in order, each run
    of one speaker as ``Name: "words"`` (a line of an unknown voice as ``"words"`` alone, never
    given a name); ``'None'`` when the clip has no speech at all (no lines, no VAD speech without
    words: the form of the LTX-2 captioner); None — section left out — when the ASR step heard
    speech it could not transcribe and no line was kept, since the words are unknown."""
    runs: list[tuple[str, list[str]]] = []
    for ln in clip.lines:
        words = " ".join(ln.text.split())
        if not words:
            continue
        if runs and runs[-1][0] == ln.speaker:
            runs[-1][1].append(words)
        else:
            runs.append((ln.speaker, [words]))
    if not runs:
        return None if clip.unheard_speech_s > 0 else "None"
    return " ".join(('' if who == "unknown" else f"{who}: ") + '"' + " ".join(said) + '"' for who, said in runs)


def sectioned_caption(clip: ReviewedClip, with_audio: bool) -> str:
    """The caption of an audio-video LTX-2 clip in the sections of the LTX-2 trainer's own
    captioner (Lightricks/LTX-2 packages/ltx-trainer/src/ltx_trainer/captioning.py @ 5b3fda32,
    ``DEFAULT_CAPTION_INSTRUCTION``: ``[VISUAL]: … [SPEECH]: … [SOUNDS]: … [TEXT]: …``), with the
    sections reelset knows: ``[VISUAL]: <reviewed caption>`` and, when the packaged clip keeps
    its audio, ``[SPEECH]: <who says what>`` (:func:`speech_section`). [SOUNDS] (music,
    effects) and [TEXT] (on-screen text) are left out rather than filled with 'None': no step of
    reelset hears non-speech sound or reads on-screen text, and 'None' would teach the model
    silence where there is sound. Without a trigger word; :func:`caption_for` adds it first."""
    parts = [f"[VISUAL]: {' '.join(clip.caption.split())}"]
    speech = speech_section(clip) if with_audio else None
    if speech is not None:
        parts.append(f"[SPEECH]: {speech}")
    return " ".join(parts)


def rejected_entries(reviewed: ReviewedArtifact) -> list[PackagedClip]:
    """Manifest entries of the clips step2-reviewed left out, dropped with its reasons as they
    are ("rejected in review: <why>", "not reviewed; automatic QA: <flag>", …: no prefix added, so
    a QA drop is not called a review rejection)."""
    return [PackagedClip(clip_id=r.clip_id, video_id=r.video_id, fate="dropped", reason="; ".join(r.reasons),
                         repeat_of=r.repeat_of) for r in reviewed.rejected]


def write_zip(folder: Path, zip_path: Path) -> int:
    """Zip every file below ``folder`` (arcnames relative to it) deterministically: sorted
    names, fixed date (1980-01-01), mode 0644, Unix creator; MP4s stored (already
    compressed), other files deflated at level 9. Returns the number of files."""
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_DATE)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            stored = path.suffix.lower() == ".mp4"
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=None if stored else 9)
    return len(files)


# (width, height, frames, bucket label) of a kept clip, or the reason it is dropped
Plan = tuple[int, int, int, str] | str
Planner = Callable[[SourceClip, int], Plan]
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def package_clips(reviewed: ReviewedArtifact, out: Path, fps: Fraction, plan: Planner, crf: int, preset: str,
                  audio: bool, timer: Timer, sections: bool = False) -> list[PackagedClip]:
    """Plan and write every accepted clip; return the manifest entries of all clips.

    For each accepted clip (reviewed.json order): compute the frames it gives at ``fps``
    (:func:`available_frames`), ask ``plan(source, available)`` for a size and frame count or
    a drop reason. Then the kept clips are encoded (libx264 ``crf``/``preset``) to
    ``out/dataset/videos/<clip_id>.mp4``, several at once (:func:`transcode_all`). Rejected
    clips follow, dropped with their review reasons. Each entry carries its own caption,
    looked up by clip id — never by position. ``sections`` (LTX-2 ``audio_captions``): captions
    in the LTX-2 captioner's sections (:func:`sectioned_caption`), [SPEECH] for clips written
    with audio.
    """
    videos = out / PACKAGE_DIR / "videos"
    videos.mkdir(parents=True)
    entries: list[PackagedClip] = []
    jobs: list[Encode] = []
    for clip in reviewed.accepted:
        if not SAFE_ID.match(clip.clip_id):
            raise ReelsetError(f"reviewed.json: clip id {clip.clip_id!r} is not usable as a file name")
        src = source_clip(clip)
        avail = available_frames(src.frames, src.fps, fps)
        common = dict(clip_id=clip.clip_id, video_id=clip.video_id, caption_source=clip.caption_source,
                      source_frames=src.frames, source_fps=round(float(src.fps), 6), source_width=src.width,
                      source_height=src.height, available_frames=avail)
        planned = plan(src, avail)
        if isinstance(planned, str):
            log(f"{clip.clip_id}: dropped: {planned}")
            entries.append(PackagedClip(fate="dropped", reason=planned, **common))
            continue
        width, height, frames, label = planned
        rel = f"{PACKAGE_DIR}/videos/{clip.clip_id}.mp4"
        jobs.append(Encode(Path(clip.clip_path), out / rel, fps, frames, width, height, crf, preset,
                           audio and src.has_audio))
        used = frames_used(frames, src.frames, src.fps, fps)
        text = sectioned_caption(clip, audio and src.has_audio) if sections else clip.caption
        entries.append(PackagedClip(fate="kept", caption=caption_for(text, reviewed.trigger_word),
                                    file=rel, bucket=label, frames=frames, width=width, height=height,
                                    fps=round(float(fps), 6), source_frames_used=used,
                                    source_frames_trimmed=src.frames - used, **common))
        log(f"{clip.clip_id}: {label}, {frames} frames ({src.frames - used} source frames trimmed)")
    entries += rejected_entries(reviewed)
    with timer.phase("transcode"):
        transcode_all(jobs)
    return entries


def gather_clips(reviewed: ReviewedArtifact, out: Path, shards: dict[str, Path]) -> list[PackagedClip]:
    """The manifest entries of every clip of the gathered ``reviewed``, from per-video package
    shards (video id → output folder holding ``manifest.json`` and ``dataset/videos``): no
    encoding, each kept clip file is a symlink ``out/dataset/videos/<clip_id>.mp4`` to its
    shard's file. Same entries, same order as :func:`package_clips` over the whole set
    (accepted clips in reviewed.json order, then the rejected ones). ReelsetError naming the
    clip when an accepted clip is in no shard."""
    found: dict[str, tuple[PackagedClip, Path]] = {}
    for folder in shards.values():
        for c in read_artifact(folder / "manifest.json", PackageManifest).clips:
            found[c.clip_id] = (c, folder)
    (out / PACKAGE_DIR / "videos").mkdir(parents=True)
    entries: list[PackagedClip] = []
    for clip in reviewed.accepted:
        if clip.clip_id not in found:
            raise ReelsetError(f"reviewed.json: accepted clip {clip.clip_id} is in no package shard "
                               f"(shards: {', '.join(sorted(shards)) or 'none'})")
        entry, folder = found[clip.clip_id]
        if entry.fate == "kept":
            (out / entry.file).symlink_to(folder / entry.file)
        entries.append(entry)
    return entries + rejected_entries(reviewed)


def clips_for(spec: StepSpec, reviewed: ReviewedArtifact, out: Path, fps: Fraction, plan: Planner, crf: int,
              preset: str, audio: bool, timer: Timer, sections: bool = False) -> list[PackagedClip]:
    """Every clip's manifest entry, with the kept clips in ``out/dataset/videos``: gathered from
    the step's per-video shards when the spec's inputs name them (``shards/<video id>``,
    :func:`gather_clips`), else encoded here (:func:`package_clips`: a shard's own video, or the
    whole set in one process)."""
    own = {k.removeprefix(SHARD): Path(p) for k, p in sorted(spec.inputs.items()) if k.startswith(SHARD)}
    if own:
        return gather_clips(reviewed, out, own)
    return package_clips(reviewed, out, fps, plan, crf, preset, audio, timer, sections)


def require_kept(reviewed: ReviewedArtifact, entries: list[PackagedClip]) -> None:
    """ReelsetError when no entry is kept: how many clips were rejected before packaging and
    dropped by it, the most common reasons (counted), and — when step2-reviewed applied no
    review.json — that a review file the review server wrote must be tracked by git."""
    if any(e.fate == "kept" for e in entries):
        return
    reasons: dict[str, int] = {}
    for r in reviewed.rejected:
        for reason in r.reasons:
            reasons[reason] = reasons.get(reason, 0) + 1
    left_out = {r.clip_id for r in reviewed.rejected}  # counted above with their own reasons
    for e in entries:
        if e.fate == "dropped" and e.clip_id not in left_out:
            key = (e.reason or "?").split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
    top = sorted(reasons.items(), key=lambda kv: -kv[1])[:5]
    counted = "; ".join(f"{n}x {r}" for r, n in top) or "the dataset has no clips"
    review = ("step2-reviewed applied no review.json (none in its input: with the review server, decisions go to "
              "the dataset folder's review.json; in a git repository `git add review.json` so Nix sees it)"
              if reviewed.review_sha256 is None else
              f"review.json sha256 {reviewed.review_sha256[:12]}… was applied")
    raise ReelsetError(f"no clip kept: {len(reviewed.accepted)} accepted and {len(reviewed.rejected)} rejected by "
                       f"step2-reviewed, {len(reviewed.accepted)} dropped here; reasons: {counted}. {review}. "
                       "Accept or edit clips in review (reelset review), or relax [review] / the trainer section "
                       "of dataset.toml")


def manifest(trainer: str, spec: StepSpec, reviewed: ReviewedArtifact, config: BaseModel,
             files: list[str], clips: list[PackagedClip]) -> PackageManifest:
    """The manifest.json of a package (totals computed from ``clips``; validated)."""
    kept = [c for c in clips if c.fate == "kept"]
    return PackageManifest(
        trainer=trainer, dataset=spec.dataset, config=config.model_dump(mode="json"),
        trigger_word=reviewed.trigger_word, trigger_prepended=bool(reviewed.trigger_word),
        package_dir=PACKAGE_DIR, files=files, reviewed_accepted=len(reviewed.accepted),
        reviewed_rejected=len(reviewed.rejected), kept=len(kept), dropped=len(clips) - len(kept),
        frames_written=sum(c.frames or 0 for c in kept),
        source_frames_trimmed=sum(c.source_frames_trimmed or 0 for c in kept), clips=clips)


def shard_result(trainer: str, spec: StepSpec, reviewed: ReviewedArtifact, config: BaseModel, out: Path,
                 clips: list[PackagedClip]) -> StepResult:
    """Finish a per-video package shard: its ``manifest.json`` (the video's clips, no metadata
    files: the gathering writes those) and meta."""
    art = manifest(trainer, spec, reviewed, config, [], clips)
    write_json(out / "manifest.json", art)
    return StepResult(counts={"clips": len(clips), "kept": art.kept, "dropped": art.dropped, "frames_written": art.frames_written},
                      versions={"ffmpeg": media.program_version("ffmpeg")})
