"""Shared code of the packaging steps (step3-ltx2-data, step3-wan21-package): read the
reviewed clip set, place each clip's training windows under a trainer's frame/size rules
(:func:`plan_windows`; each window is one item, ``<clip_id>-wNN``), transcode the items with
ffmpeg (several at once, fixed threads each: same bytes), account for every clip and its
seconds, write a deterministic zip.

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
planned one, and a package whose accepted clips all fail the trainer's rules (:func:`require_kept`;
the message counts the reasons and says whether step2-reviewed had a review.json). With no clip
accepted yet (a first build) the package is empty and says so in its report.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel

from reelset import ReelsetError, media
from reelset.captiontext import caption_for
from reelset.log import Timer, log
from reelset.schemas.base import StepSpec
from reelset.schemas.context import ContextLine
from reelset.schemas.manifest import CharacterBalance, PackagedClip, PackageManifest, VideoUse
from reelset.schemas.reviewed import ReviewedArtifact, ReviewedClip
from reelset.schemas.windows import WindowSettings
from reelset.step import Inputs, StepResult, read_artifact, write_json

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


def fit_size(src: SourceClip, width: int, height: int, multiple: int, upscale: bool) -> tuple[int, int] | str:
    """The size (W, H, pixels) a clip of ``src`` is written at for the configured size ``width`` x
    ``height`` (a bucket or size the family's aspect rule chose), or why it cannot be written.

    No silent upscaling (docs/datasets.md, "Written sizes"): a clip is scaled to cover its size and
    center-cropped, which enlarges it by max(W / w, H / h) for a w x h source (square pixels:
    step1-scenes writes every clip with SAR 1, its width already times the source's SAR,
    reelset/picture.py). When that is above 1 and ``upscale`` is false, the size is scaled by
    s = min(w / W, h / H) to fit the source at its own aspect, and each side goes to a multiple of
    ``multiple`` (the family's rule: the VAE's spatial factor x the transformer patch) just below or
    above W s / H s, never above the source's side: of those (at most four) pairs, the one nearest
    the configured aspect (:func:`aspect_distance`), then the larger area. A 480x270 source at
    960x544 (multiple 32) → 448x256; 160x120 → 160x96 (rounding both down would give 160x64, far
    from the aspect). musubi-tuner's ``bucket_no_upscale`` answers the same need with the source's
    own size rounded down to 16 (kohya-ss/musubi-tuner ``dataset/bucket.py``
    ``BucketSelector.get_bucket_resolution``); reelset keeps the configured aspect, so the items of
    one bucket keep one shape. A source with a side under ``multiple`` → the reason (the clip is
    dropped). ``upscale`` true: the configured size as it is."""
    if upscale or (width <= src.width and height <= src.height):
        return width, height
    s = min(Fraction(src.width, width), Fraction(src.height, height))

    def sides(exact: Fraction, limit: int) -> set[int]:
        low = math.floor(exact / multiple) * multiple
        return {v for v in (low, low + multiple) if multiple <= v <= limit}

    pairs = [(w, h) for w in sides(width * s, src.width) for h in sides(height * s, src.height)]
    if not pairs:
        return (f"too small: source {src.width}x{src.height} would be upscaled "
                f"{float(max(Fraction(width, src.width), Fraction(height, src.height))):.2f}x to {width}x{height}, and "
                f"no smaller size of that aspect with sides multiples of {multiple} fits it (upscale = true allows it)")
    return min(pairs, key=lambda p: (aspect_distance(p[0], p[1], width, height), -p[0] * p[1]))


def written_sizes(kept: list[PackagedClip], configured: list[str]) -> list[tuple[int, int]]:
    """The (W, H) sizes the kept items were written at, largest area first (ties: wider first):
    what a trainer's bucket config must list (with no upscaling, a smaller source's items have a
    size of their own). The ``configured`` 'WxH…' sizes when nothing is kept."""
    sizes = {(c.width, c.height) for c in kept if c.width and c.height} or {parse_size(s)[:2] for s in configured}
    return sorted(sizes, key=lambda s: (-s[0] * s[1], -s[0]))


def scale_of(width: int, height: int, src_width: int, src_height: int) -> float:
    """How much a ``src_width`` x ``src_height`` picture is enlarged to cover ``width`` x
    ``height`` (scale-to-cover then center-crop, :func:`transcode`): max(W / w, H / h); above 1 is
    an upscale."""
    return max(width / src_width, height / src_height)


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
    """One packaged item to write: source clip file, destination, and the plan (frames
    ``[start, start + frames)`` of the clip resampled to ``fps``, ``width`` x ``height`` pixels,
    libx264 ``crf``/``preset``, audio on or off)."""

    src: Path
    dst: Path
    fps: Fraction
    frames: int
    width: int
    height: int
    crf: int
    preset: str
    audio: bool
    start: int = 0


def transcode(job: Encode) -> None:
    """Write frames ``[job.start, job.start + job.frames)`` of ``job.src`` resampled to ``job.fps``
    (frame n of the resampled clip is at n / fps seconds from its start), scaled to
    cover ``width`` x ``height`` (aspect kept) and center-cropped to it, as H.264 yuv420p MP4
    (square pixels; AAC 48 kHz stereo cut to the same span when ``job.audio``): one decode of
    the source clip, one encode.

    Resampling is ffmpeg's ``fps`` filter (drops/duplicates frames to the nearest
    timestamp), the window its ``trim`` filter on the resampled frame numbers (frame-exact) and
    ``atrim`` on the sound from ``start / fps`` seconds; the crop is ``crop=W:H`` (centered by default). Encodes use
    :data:`ENCODER_THREADS` and :data:`media.BITEXACT` so a rebuild gives the same
    bytes. Checks the result with one ffprobe (packet count and size, no decode):
    ReelsetError naming ``dst`` when its frame count or size differs from the plan.
    """
    fps, frames, width, height = job.fps, job.frames, job.width, job.height
    rate = f"{fps.numerator}/{fps.denominator}"
    args = ["-i", str(job.src), "-map", "0:v:0"]
    if job.audio:
        args += ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"]
        if job.start:
            args += ["-af", f"atrim=start={float(Fraction(job.start) / fps):.6f},asetpts=PTS-STARTPTS"]
    else:
        args += ["-an"]
    window = f"trim=start_frame={job.start},setpts=PTS-STARTPTS," if job.start else ""
    args += ["-vf", f"fps={rate},{window}scale={width}:{height}:force_original_aspect_ratio=increase:flags=bicubic,"
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


LINE_TOLERANCE_S = 0.02  # a line within this much of a window edge counts as inside (ASR word timestamps are 10 ms steps)
LINE_LEAD_S = 0.25  # 'dialogue': a window opens this long before its line (when free), so the first word's onset is whole


@dataclass(frozen=True)
class Window:
    """One training window of a clip: frames ``[start, start + frames)`` of the clip resampled to
    the package fps, written at ``width`` x ``height`` pixels into the bucket ``label``."""

    start: int
    frames: int
    width: int
    height: int
    label: str
    configured: str = ""  # the configured bucket / size this one is scaled down from ("" = written as configured)

    def span_s(self, clip: ReviewedClip, fps: Fraction) -> tuple[float, float]:
        """(start, end) of the window in the source video, seconds."""
        return (clip.start_s + float(Fraction(self.start) / fps),
                clip.start_s + float(Fraction(self.start + self.frames) / fps))


def line_fate(line: ContextLine, start_s: float, end_s: float) -> str:
    """'inside' when the line's words lie within ``[start_s, end_s]`` (seconds, ±
    :data:`LINE_TOLERANCE_S`), 'cut' when it overlaps the window only in part, 'outside' else."""
    if line.end <= start_s or line.start >= end_s:
        return "outside"
    if line.start >= start_s - LINE_TOLERANCE_S and line.end <= end_s + LINE_TOLERANCE_S:
        return "inside"
    return "cut"


def speech_section(clip: ReviewedClip, span: tuple[float, float] | None = None) -> str | None:
    """The [SPEECH] text of an LTX-2 caption for ``clip`` — or for the window ``span`` (source
    video seconds) of it: the dialogue lines wholly inside, in order, each run of one speaker as
    ``Name: "words"`` (a line of an unknown voice as ``"words"`` alone, never given a name).

    A line that a window edge cuts is left out: its words are only partly in the window's sound,
    and the line's words have no timestamps of their own in reviewed.json, so quoting any of them
    could quote a word the item does not contain (docs/datasets.md, "Windows").

    ``'None'`` when the window has no speech at all (no line touches it and the clip has no VAD
    speech without words: the form of the LTX-2 captioner); None — section left out — when the
    window holds speech no quoted line covers (a cut line, or speech the ASR step could not
    transcribe), since the words are then unknown."""
    start_s, end_s = span if span is not None else (clip.start_s, clip.end_s)
    fates = [(ln, line_fate(ln, start_s, end_s) if span is not None else "inside") for ln in clip.lines]
    runs: list[tuple[str, list[str]]] = []
    for ln, fate in fates:
        words = " ".join(ln.text.split())
        if not words or fate != "inside":
            continue
        if runs and runs[-1][0] == ln.speaker:
            runs[-1][1].append(words)
        else:
            runs.append((ln.speaker, [words]))
    if not runs:
        partial = any(fate == "cut" for _, fate in fates)
        return None if partial or clip.unheard_speech_s > 0 else "None"
    return " ".join(('' if who == "unknown" else f"{who}: ") + '"' + " ".join(said) + '"' for who, said in runs)


def sectioned_caption(clip: ReviewedClip, with_audio: bool, span: tuple[float, float] | None = None) -> str:
    """The caption of an audio-video LTX-2 item in the sections of the LTX-2 trainer's own
    captioner (Lightricks/LTX-2 packages/ltx-trainer/src/ltx_trainer/captioning.py @ 5b3fda32,
    ``DEFAULT_CAPTION_INSTRUCTION``: ``[VISUAL]: … [SPEECH]: … [SOUNDS]: … [TEXT]: …``), with the
    sections reelset knows: ``[VISUAL]: <reviewed caption>`` (the clip's: a window shows the same
    shot) and, when the packaged item keeps its audio, ``[SPEECH]: <who says what inside the window
    span>`` (:func:`speech_section`). [SOUNDS] (music, effects) and [TEXT] (on-screen text) are left
    out rather than filled with 'None': no step of reelset hears non-speech sound or reads on-screen
    text, and 'None' would teach the model silence where there is sound. Without a trigger word;
    :func:`caption_for` adds it first."""
    parts = [f"[VISUAL]: {' '.join(clip.caption.split())}"]
    speech = speech_section(clip, span) if with_audio else None
    if speech is not None:
        parts.append(f"[SPEECH]: {speech}")
    return " ".join(parts)


def rejected_entries(reviewed: ReviewedArtifact) -> list[PackagedClip]:
    """Manifest entries of the clips step2-reviewed left out, dropped with its reasons as they
    are ("rejected in review: <why>", "not reviewed; automatic QA: <flag>", …: no prefix added, so
    a QA drop is not called a review rejection)."""
    return [PackagedClip(item_id=r.clip_id, clip_id=r.clip_id, video_id=r.video_id, fate="dropped", reason="; ".join(r.reasons),
                         repeat_of=r.repeat_of, repeat_span=r.repeat_span) for r in reviewed.rejected]


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


# (width, height, frames, bucket label, configured bucket it is scaled down from or "") of a kept
# window, or the reason it cannot be had
Plan = tuple[int, int, int, str, str] | str
Planner = Callable[[SourceClip, int], Plan]
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _fit(src: SourceClip, plan: Planner, start: int, end: int) -> Window | str:
    """The longest window the family's rule allows in frames ``[start, end)``, or why none fits."""
    planned = plan(src, end - start)
    if isinstance(planned, str):
        return planned
    w, h, f, label, configured = planned
    return Window(start, f, w, h, label, configured)


def _chunk(src: SourceClip, plan: Planner, start: int, end: int) -> list[Window]:
    """Back-to-back windows over frames ``[start, end)``: each the longest that fits what is left."""
    out: list[Window] = []
    while start < end:
        win = _fit(src, plan, start, end)
        if isinstance(win, str):
            break
        out.append(win)
        start += win.frames
    return out


def _line_frames(clip: ReviewedClip, fps: Fraction, available: int) -> list[tuple[int, int]]:
    """The clip's spoken lines as frame ranges ``[first, end)`` at ``fps`` (clip frames), in time order."""
    spans = []
    for ln in sorted(clip.lines, key=lambda ln: ln.start):
        if not ln.text.strip():
            continue
        first = max(0, math.floor((ln.start - clip.start_s) * fps))
        end = min(available, math.ceil((ln.end - clip.start_s) * fps))
        if first < available and end > first:
            spans.append((first, end))
    return spans


def _lengths(src: SourceClip, plan: Planner, start: int, end: int) -> list[Window]:
    """Every window the family's rule allows from ``start`` within ``[start, end)``, longest first."""
    out: list[Window] = []
    n = end - start
    while n > 0:
        win = _fit(src, plan, start, start + n)
        if isinstance(win, str):
            break
        out.append(win)
        n = win.frames - 1
    return out


def _line_window(src: SourceClip, plan: Planner, later: list[tuple[int, int]], first: int, end: int, lowest: int,
                 available: int) -> Window | None:
    """The window for a spoken line at frames ``[first, end)``: starting as late as possible but
    at most at ``first`` and not before ``lowest``, the longest that (1) holds the whole line and
    does not cut a ``later`` line, else (2) holds the whole line, else (3) fits at all."""
    best: dict[int, Window] = {}
    for start in range(first, lowest - 1, -1):
        for win in _lengths(src, plan, start, available):
            stop = win.start + win.frames
            if stop < end:
                best.setdefault(3, win)
                continue
            if all(b <= stop or a >= stop for a, b in later):
                return win
            best.setdefault(2, win)
    return best.get(2) or best.get(3)


def plan_windows(clip: ReviewedClip, src: SourceClip, available: int, fps: Fraction, plan: Planner,
                 cfg: WindowSettings) -> list[Window] | str:
    """The training windows of one clip under ``cfg.windows`` (frames at ``fps``; the clip gives
    ``available`` of them), in time order, at most ``cfg.max_windows``; or the reason it gives none.

    ``plan(src, n)`` is the family's rule: the size and the longest frame count (8n+1 for LTX-2,
    4n+1 for Wan) a window of at most ``n`` frames may have. head/chunk/slide/uniform follow
    musubi-tuner's ``frame_extraction`` (see :class:`reelset.schemas.windows.WindowSettings`);
    'chunk' also takes the rest after its full windows when the rule allows a shorter window there.
    'dialogue': for each spoken line (clip.lines, video seconds) whose start no window covers yet,
    a window opening :data:`LINE_LEAD_S` before the line's first frame (or at the last window's end
    when that is later), or as little before as needed (at most one longest window), the longest that holds the whole line without cutting the next ones
    (:func:`_line_window`); then the stretches no window covers, chunked."""
    whole = _fit(src, plan, 0, available)
    if isinstance(whole, str):
        return whole
    f = whole.frames
    if cfg.windows == "head":
        wins = [whole]
    elif cfg.windows == "chunk":
        wins = _chunk(src, plan, 0, available)
    elif cfg.windows == "slide":
        wins = [replace(whole, start=i) for i in range(0, available - f + 1, cfg.frame_stride)]
    elif cfg.windows == "uniform":
        n = cfg.frame_sample
        starts = [0] if n == 1 else [math.floor(i * (available - f) / (n - 1)) for i in range(n)]
        wins = [replace(whole, start=i) for i in dict.fromkeys(starts)]
    else:  # dialogue
        lines = _line_frames(clip, fps, available)
        placed: list[Window] = []
        cursor = 0
        for i, (first, end) in enumerate(lines):
            if first < cursor:  # starts inside the last window: covered, or cut by it
                continue
            lead = max(cursor, first - math.ceil(LINE_LEAD_S * fps))
            win = _line_window(src, plan, lines[i + 1:], lead, end, max(cursor, first - f), available)
            if win is not None:
                placed.append(win)
                cursor = win.start + win.frames
        gaps, edge = [], 0
        for win in placed + [Window(available, 0, 0, 0, "")]:
            gaps += _chunk(src, plan, edge, win.start)
            edge = win.start + win.frames
        if cfg.max_windows is not None:
            placed = placed[:cfg.max_windows]
            gaps = gaps[:cfg.max_windows - len(placed)]
        return sorted(placed + gaps, key=lambda w: w.start)
    return wins[:cfg.max_windows] if cfg.max_windows is not None else wins


def item_id(clip_id: str, window: int) -> str:
    """Id (and file stem) of window ``window`` of ``clip_id``: '<clip_id>-w07'."""
    return f"{clip_id}-w{window:02d}"


def package_clips(reviewed: ReviewedArtifact, out: Path, fps: Fraction, plan: Planner, cfg: WindowSettings,
                  crf: int, preset: str, audio: bool, timer: Timer, sections: bool = False) -> list[PackagedClip]:
    """Plan and write the windows of every accepted clip; return the manifest entries (kept items
    and clips left out whole).

    For each accepted clip (reviewed.json order): compute the frames it gives at ``fps``
    (:func:`available_frames`), place its windows (:func:`plan_windows` with the family's
    ``plan`` and ``cfg``'s window settings) or drop it with the reason. The windows are encoded
    (libx264 ``crf``/``preset``) to ``out/dataset/videos/<item_id>.mp4``, several at once
    (:func:`transcode_all`). Rejected clips follow, dropped with their review reasons. Each item
    carries its own caption, looked up by clip id — never by position. ``sections`` (LTX-2
    ``audio_captions``): captions in the LTX-2 captioner's sections (:func:`sectioned_caption`),
    [SPEECH] holding only the lines inside the item's window, for items written with audio.
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
                      source_height=src.height, available_frames=avail, characters=list(clip.characters))
        wins = plan_windows(clip, src, avail, fps, plan, cfg)
        if isinstance(wins, str):
            log(f"{clip.clip_id}: dropped: {wins}")
            entries.append(PackagedClip(item_id=clip.clip_id, fate="dropped", reason=wins, **common))
            continue
        with_audio = audio and src.has_audio
        for k, win in enumerate(wins):
            iid = item_id(clip.clip_id, k)
            rel = f"{PACKAGE_DIR}/videos/{iid}.mp4"
            jobs.append(Encode(Path(clip.clip_path), out / rel, fps, win.frames, win.width, win.height, crf, preset,
                               with_audio, win.start))
            first = frames_used(win.start, src.frames, src.fps, fps)
            last = frames_used(win.start + win.frames, src.frames, src.fps, fps)
            span = win.span_s(clip, fps)
            fates = [(ln, line_fate(ln, *span)) for ln in clip.lines if ln.text.strip()]
            speaking: dict[str, float] = {}
            for ln, _ in fates:
                overlap = min(ln.end, span[1]) - max(ln.start, span[0])
                if ln.speaker != "unknown" and overlap > 0:
                    speaking[ln.speaker] = round(speaking.get(ln.speaker, 0.0) + overlap, 3)
            text = sectioned_caption(clip, with_audio, span) if sections else clip.caption
            entries.append(PackagedClip(
                item_id=iid, fate="kept", window=k, start_frame=win.start, source_start_frame=first,
                source_end_frame=last, start_s=round(span[0], 6), end_s=round(span[1], 6), speaking_s=speaking,
                lines_quoted=sum(f == "inside" for _, f in fates) if sections and with_audio else 0,
                lines_cut=sum(f == "cut" for _, f in fates) if sections and with_audio else 0,
                caption=caption_for(text, reviewed.trigger_word), file=rel, bucket=win.label, frames=win.frames,
                width=win.width, height=win.height, fps=round(float(fps), 6), source_frames_used=last - first,
                scale=round(scale_of(win.width, win.height, src.width, src.height), 4), scaled_from=win.configured or None,
                **common))
        covered = sum(w.frames for w in wins)
        log(f"{clip.clip_id}: {len(wins)} window(s) ({cfg.windows}), {covered} of {avail} frames at {float(fps):g} fps")
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
    found: dict[str, list[tuple[PackagedClip, Path]]] = {}
    for folder in shards.values():
        for c in read_artifact(folder / "manifest.json", PackageManifest).clips:
            found.setdefault(c.clip_id, []).append((c, folder))
    (out / PACKAGE_DIR / "videos").mkdir(parents=True)
    entries: list[PackagedClip] = []
    for clip in reviewed.accepted:
        if clip.clip_id not in found:
            raise ReelsetError(f"reviewed.json: accepted clip {clip.clip_id} is in no package shard "
                               f"(shards: {', '.join(sorted(shards)) or 'none'})")
        for entry, folder in found[clip.clip_id]:
            if entry.fate == "kept":
                (out / entry.file).symlink_to(folder / entry.file)
            entries.append(entry)
    return entries + rejected_entries(reviewed)


def clips_for(spec: StepSpec, reviewed: ReviewedArtifact, out: Path, fps: Fraction, plan: Planner, cfg: WindowSettings,
              crf: int, preset: str, audio: bool, timer: Timer, sections: bool = False) -> list[PackagedClip]:
    """Every manifest entry (kept items, clips left out), the items' files in ``out/dataset/videos``: gathered from
    the step's per-video shards when the spec's inputs name them (``shards/<video id>``,
    :func:`gather_clips`), else encoded here (:func:`package_clips`: a shard's own video, or the
    whole set in one process)."""
    own = {k.removeprefix(SHARD): Path(p) for k, p in sorted(spec.inputs.items()) if k.startswith(SHARD)}
    if own:
        return gather_clips(reviewed, out, own)
    return package_clips(reviewed, out, fps, plan, cfg, crf, preset, audio, timer, sections)


def require_kept(reviewed: ReviewedArtifact, entries: list[PackagedClip]) -> None:
    """ReelsetError when clips were accepted but packaging kept none of them: how many clips were
    rejected before packaging and dropped by it, the most common reasons (counted), and — when
    step2-reviewed applied no review.json — that a review file the review server wrote must be
    tracked by git. With nothing accepted yet (a first build, before any review) the package is
    empty and the build succeeds: its report says so and what to do (``reelset build --strict``
    fails on it)."""
    if any(e.fate == "kept" for e in entries) or not reviewed.accepted:
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


def _union(ranges: list[tuple[int, int]]) -> int:
    """Length of the union of half-open integer ranges."""
    total, edge = 0, None
    for start, end in sorted(ranges):
        if edge is None or start >= edge:
            total += end - start
            edge = end
        elif end > edge:
            total += end - edge
            edge = end
    return total


def usage(reviewed: ReviewedArtifact, clips: list[PackagedClip]) -> tuple[float, float, list[VideoUse], list[CharacterBalance], int]:
    """Accepted vs packaged seconds: (accepted_s, packaged_s, per video, per character, source
    frames of clips with kept items that no kept window covers). A clip's packaged seconds are
    its source frames inside at least one kept window / its fps (overlapping windows once)."""
    kept: dict[str, list[PackagedClip]] = {}
    for c in clips:
        if c.fate == "kept":
            kept.setdefault(c.clip_id, []).append(c)
    per_video: dict[str, list[float]] = {}
    trimmed = 0
    balance: dict[str, dict[str, float]] = {}
    for clip in reviewed.accepted:
        items = kept.get(clip.clip_id, [])
        covered = _union([(c.source_start_frame or 0, c.source_end_frame or 0) for c in items])
        if items:
            trimmed += clip.frame_count - covered
        use = per_video.setdefault(clip.video_id, [0.0, 0.0])
        use[0] += clip.frame_count / clip.fps
        use[1] += covered / clip.fps
        for name in clip.characters:
            b = balance.setdefault(name, {"clips": 0, "items": 0, "packaged_s": 0.0, "speaking_s": 0.0})
            b["clips"] += bool(items)
            b["items"] += len(items)
            b["packaged_s"] += sum((c.frames or 0) / (c.fps or 1) for c in items)
        for c in items:
            for name, secs in c.speaking_s.items():
                balance.setdefault(name, {"clips": 0, "items": 0, "packaged_s": 0.0, "speaking_s": 0.0})["speaking_s"] += secs
    videos = [VideoUse(video_id=v, accepted_s=round(a, 3), packaged_s=round(p, 3), used=round(p / a, 4) if a else 0.0)
              for v, (a, p) in per_video.items()]
    chars = [CharacterBalance(name=n, clips=int(b["clips"]), items=int(b["items"]), packaged_s=round(b["packaged_s"], 3),
                              speaking_s=round(b["speaking_s"], 3))
             for n, b in sorted(balance.items(), key=lambda kv: (-kv[1]["packaged_s"], kv[0]))]
    return (round(sum(a for a, _ in per_video.values()), 3), round(sum(p for _, p in per_video.values()), 3),
            videos, chars, trimmed)


def manifest(trainer: str, spec: StepSpec, reviewed: ReviewedArtifact, config: BaseModel,
             files: list[str], clips: list[PackagedClip]) -> PackageManifest:
    """The manifest.json of a package (totals, accepted vs packaged seconds and the character
    balance computed from ``clips``: :func:`usage`; validated)."""
    kept = [c for c in clips if c.fate == "kept"]
    accepted_s, packaged_s, videos, balance, trimmed = usage(reviewed, clips)
    return PackageManifest(
        trainer=trainer, dataset=spec.dataset, config=config.model_dump(mode="json"),
        trigger_word=reviewed.trigger_word, trigger_prepended=bool(reviewed.trigger_word),
        package_dir=PACKAGE_DIR, files=files, reviewed_accepted=len(reviewed.accepted),
        reviewed_rejected=len(reviewed.rejected), kept=len(kept), dropped=len(clips) - len(kept),
        frames_written=sum(c.frames or 0 for c in kept), source_frames_trimmed=trimmed,
        accepted_s=accepted_s, packaged_s=packaged_s, videos=videos, balance=balance, clips=clips)


def shard_result(trainer: str, spec: StepSpec, reviewed: ReviewedArtifact, config: BaseModel, out: Path,
                 clips: list[PackagedClip]) -> StepResult:
    """Finish a per-video package shard: its ``manifest.json`` (the video's clips, no metadata
    files: the gathering writes those) and meta."""
    art = manifest(trainer, spec, reviewed, config, [], clips)
    write_json(out / "manifest.json", art)
    return StepResult(counts={"clips": len({c.clip_id for c in clips}), "kept": art.kept, "dropped": art.dropped, "frames_written": art.frames_written},
                      versions={"ffmpeg": media.program_version("ffmpeg")})
