"""step3-stills: the best frames of each character from the accepted clips, as an image dataset
(one folder of stills with same-name ``.txt`` captions per character), for character LoRAs.

Input (spec): ``inputs.step1-scenes`` (``scenes.json``: the source's sample aspect ratio and turn),
``inputs.step2-reviewed`` (``reviewed.json``: the accepted clips, their captions,
who speaks), ``inputs.step2-caption`` (``captions.json`` per video: shot type, the characters the
caption model saw), ``inputs.step2-bible`` (``bible.json``: names, aliases, reference shots,
trigger word), ``config.stills`` (:class:`reelset.schemas.stills.StillsConfig`; opt-in).

Which frames, how scored, which kept and how captioned: :mod:`reelset.stills`. Each still is the
frame at full size in square pixels, never larger than the source on either axis
(:func:`reelset.stills.square_size`: an anamorphic source's widened clip is shrunk back), extracted
exactly (:func:`reelset.frames.extract_frame`), PNG (or JPEG).

Per video (``perVideo`` in nix/steps.nix): with ``video_id`` the inputs are that video's shards;
the tool scores that video's clips, keeps at most ``per_character`` stills per set (near-duplicates
and frames closer than ``min_gap_s`` removed) and writes them. The gathering (inputs
``shards/<video id>``) decodes nothing: it chooses again over every shard's stills (so a frame
repeated in another video goes too), at most ``per_character`` per set, and links the files.

Output (``$out``): ``stills/<set>/<clip_id>-fNNNNN.png`` + ``.txt`` (``<set>``: the character's
name made file-safe, or ``style``), ``stills.json`` (:class:`reelset.schemas.stills.StillsArtifact`;
a set without stills says why), ``meta.json``. A character no accepted clip shows or hears has
an empty set and a note.

Errors (ReelsetError): a ``characters`` name that is no bible character (naming dataset.toml
[stills]), a clip that does not decode (naming it).

Run by hand: ``python tools/step3_stills.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from fractions import Fraction
from pathlib import Path

import cv2
from PIL import Image

from reelset import ReelsetError, frames, media, stills
from reelset.captiontext import names_in_text
from reelset.declare import Step
from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.base import StepSpec
from reelset.schemas.bible import Bible, BibleArtifact
from reelset.schemas.captions import CaptionClip, CaptionsArtifact
from reelset.schemas.reviewed import ReviewedArtifact, ReviewedClip
from reelset.schemas.scenes import ScenesArtifact
from reelset.schemas.stills import STYLE, Still, StillsArtifact, StillsConfig, StillSet
from reelset.step import Context, StepResult, Timer, log, main, read_artifact, write_json

# step1-scenes (the source's SAR), step2-caption: one video's output or, for a one-process run, their
# aggregate (read by sources / caption_clips)
STEP = Step(name="step3-stills", device="cpu", level="dataset", script="step3_stills.py",
            inputs={"step1-scenes": None, "step2-reviewed": ReviewedArtifact, "step2-caption": None,
                    "step2-bible": BibleArtifact},
            config={"stills": StillsConfig}, per_video=True, opt_in="stills")
SHARD = "shards/"  # inputs "shards/<video id>": this step's per-video shards, which the gathering joins
STILLS_DIR = "stills"


def folder_name(name: str) -> str:
    """A set's folder: the character's name with every run of characters other than letters,
    digits, '.', '-' and '_' made one '_' ('Mrs. O Brien' → 'Mrs._O_Brien')."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "set"


def asked_sets(cfg: StillsConfig, bible: Bible) -> list[str]:
    """The sets to make: ``cfg.characters`` (canonical names, checked against the bible), every bible
    character when it is absent, the one general set ``style`` when it is []. ReelsetError naming
    dataset.toml [stills] characters and the bible's names for a name the bible lacks."""
    known = [c.name for c in bible.characters]
    if cfg.characters is None:
        return known
    if not cfg.characters:
        return [STYLE]
    unknown = [n for n in cfg.characters if n not in known]
    if unknown:
        raise ReelsetError(f"dataset.toml [stills] characters: {', '.join(map(repr, unknown))} not a character of the "
                           f"bible (canonical names: {', '.join(known)})")
    names = [folder_name(n) for n in cfg.characters]
    if len(set(names)) != len(names):
        raise ReelsetError(f"dataset.toml [stills] characters: {cfg.characters} give the same folder name twice ({names})")
    return list(cfg.characters)


def video_dirs(folder: Path) -> list[Path]:
    """The per-video output folders of a video-level step's output: the folder itself (one video's
    shard) or the members of its aggregate (``aggregate.json``)."""
    agg_file = folder / AggregateArtifact.FILE
    return [folder / m.link for m in read_artifact(agg_file, AggregateArtifact).members] if agg_file.is_file() else [folder]


def caption_clips(folder: Path) -> dict[str, CaptionClip]:
    """Clip id → caption entry of a step2-caption output (one video's or their aggregate)."""
    return {c.clip_id: c for d in video_dirs(folder) for c in read_artifact(d / CaptionsArtifact.FILE, CaptionsArtifact).clips}


def sources(folder: Path) -> dict[str, tuple[Fraction, int]]:
    """Video id → (sample aspect ratio, display turn in degrees) of the source video, from a
    step1-scenes output (one video's or their aggregate)."""
    out = {}
    for d in video_dirs(folder):
        art = read_artifact(d / ScenesArtifact.FILE, ScenesArtifact)
        out[art.video_id] = (Fraction(art.source.sample_aspect_ratio.replace(":", "/")), art.source.rotation)
    return out


def evidence(name: str, clip: ReviewedClip, cap: CaptionClip | None, bible: Bible) -> str | None:
    """Why ``clip`` is a candidate for character ``name`` ('reference', 'caption', 'speaks'), or None
    (see :mod:`reelset.stills`)."""
    char = next(c for c in bible.characters if c.name == name)
    if any(s.video == clip.video_id and clip.start_s <= s.t < clip.end_s for s in char.reference_shots):
        return "reference"
    names = {c.name: c.aliases for c in bible.characters}
    seen = names_in_text(clip.caption, names)
    if cap is not None:
        seen += cap.characters + names_in_text(" ; ".join(cap.model_characters), names)
    if name in seen:
        return "caption"
    if clip.speaking_s.get(name, 0) > 0 or any(ln.speaker == name for ln in clip.lines):
        return "speaks"
    return None


def empty_note(name: str, clips: list[str], videos: list[str]) -> str | None:
    """Why a set has no still (None when it has clips: its frames all went as duplicates or scored 0)."""
    if clips:
        return None
    return (f"no accepted clip of {', '.join(videos) or 'this dataset'} shows or hears {name} (no reference shot, "
            f"caption or line of theirs in an accepted clip): no stills")


def make_stills(spec: StepSpec, out: Path, cfg: StillsConfig, sets: list[str], bible: Bible,
                reviewed: ReviewedArtifact, timer: Timer) -> list[StillSet]:
    """Score the accepted clips' frames for every set, keep the best, write them (images + captions)."""
    caps = caption_clips(Path(spec.inputs["step2-caption"]))
    srcs = sources(Path(spec.inputs["step1-scenes"]))
    measured: dict[str, list[stills.Frame]] = {}
    result = []
    for name in sets:
        cands, clips, scored = [], [], 0
        for clip in reviewed.accepted:
            cap = caps.get(clip.clip_id)
            why = "style" if name == STYLE else evidence(name, clip, cap, bible)
            if why is None:
                continue
            clips.append(clip.clip_id)
            if clip.clip_id not in measured:
                with timer.phase("measure"):
                    measured[clip.clip_id] = stills.measure(Path(clip.clip_path), clip.frame_count, clip.fps, clip.width,
                                                            clip.height, cfg.sample_fps)
            shot = None if name == STYLE else (cap.shot_type if cap else "unknown")
            scored += len(measured[clip.clip_id])
            for f in measured[clip.clip_id]:
                s = stills.score(why, shot, f.sharpness, f.exposure)
                if s > 0:
                    cands.append(stills.Candidate(clip.clip_id, clip.video_id, clip.start_s + f.t, s, f.dhash,
                                                  (clip, f, why, shot or "unknown")))
        kept, dupes, close = stills.choose(cands, cfg.per_character, cfg.min_gap_s, cfg.max_duplicate_bits)
        written = []
        with timer.phase("write"):
            for c in kept:
                clip, f, why, shot = c.payload
                written.append(write_still(out, name, clip, f, why, shot, c.score, cfg, bible.trigger_word,
                                           srcs.get(clip.video_id, (Fraction(1), 0))))
        note = empty_note(name, clips, sorted({c.video_id for c in reviewed.accepted}) or [spec.video_id or spec.dataset])
        if note is None and not written:
            note = f"{scored} candidate frames of {name}, none usable (all scored 0: black, blown out or flat)"
        result.append(StillSet(character=name, clips=clips, candidates=scored, duplicates=dupes, too_close=close,
                               stills=written, note=note))
    return result


@functools.lru_cache(maxsize=64)
def probe(clip_path: str) -> tuple:
    """(VideoInfo, frame times) of a clip, probed once however many stills it gives."""
    return media.probe_video(Path(clip_path))


def write_still(out: Path, name: str, clip: ReviewedClip, f: stills.Frame, why: str, shot: str, score: float,
                cfg: StillsConfig, trigger: str | None, source: tuple[Fraction, int]) -> Still:
    """Extract frame ``f`` of ``clip`` at its full square-pixel size into ``stills/<set>/`` with its
    caption: PNG as ffmpeg writes it, or JPEG (Pillow, quality 95) made from that PNG."""
    info, times = probe(clip.clip_path)
    width, height = stills.square_size(info, *source)
    rel = f"{STILLS_DIR}/{folder_name(name)}/{clip.clip_id}-f{f.index:05d}.{cfg.format}"
    dst = out / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    nxt = times[f.index + 1] if f.index + 1 < len(times) else None
    png = dst.with_suffix(".png")
    frames.extract_frame(Path(clip.clip_path), times[f.index], nxt, png, width, height)
    if cfg.format == "jpg":
        with Image.open(png) as im:
            im.convert("RGB").save(dst, "JPEG", quality=95)
        png.unlink()
    caption = stills.still_caption(clip.caption, trigger, None if name == STYLE else name)
    dst.with_suffix(".txt").write_text(caption + "\n", encoding="utf-8")
    return Still(character=name, clip_id=clip.clip_id, video_id=clip.video_id, frame=f.index,
                 t_s=round(clip.start_s + f.t, 3), file=rel, caption_file=str(Path(rel).with_suffix(".txt")), caption=caption,
                 width=width, height=height, evidence=why, shot_type=shot, sharpness=round(f.sharpness, 3),
                 exposure=round(f.exposure, 4), score=round(score, 5), dhash=f.dhash)


def gather(out: Path, cfg: StillsConfig, sets: list[str], shards: dict[str, Path]) -> tuple[list[StillSet], list[str]]:
    """Choose again over every shard's stills (cross-video near-duplicates go), link the kept files."""
    arts = {vid: read_artifact(folder / StillsArtifact.FILE, StillsArtifact) for vid, folder in sorted(shards.items())}
    result = []
    for name in sets:
        per = [(vid, s) for vid, art in arts.items() for s in art.sets if s.character == name]
        cands = [stills.Candidate(st.clip_id, st.video_id, st.t_s, st.score, st.dhash, (vid, st))
                 for vid, s in per for st in s.stills]
        kept, dupes, close = stills.choose(cands, cfg.per_character, cfg.min_gap_s, cfg.max_duplicate_bits)
        for c in kept:
            vid, st = c.payload
            for rel in (st.file, st.caption_file):
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).symlink_to(shards[vid] / rel)
        clips = [c for _, s in per for c in s.clips]
        note = empty_note(name, clips, sorted(arts))
        if note is None and not kept:
            note = next((s.note for _, s in per if s.note), None)
        result.append(StillSet(character=name, clips=clips, candidates=sum(s.candidates for _, s in per),
                               duplicates=dupes + sum(s.duplicates for _, s in per),
                               too_close=close + sum(s.too_close for _, s in per),
                               stills=[c.payload[1] for c in kept], note=note))
    return result, sorted(arts)


def run(ctx: Context) -> StepResult:
    spec, out, timer, inputs = ctx.spec, ctx.out, ctx.timer, ctx.inputs
    cfg = ctx.config["stills"]
    bible = inputs["step2-bible"].bible
    sets = asked_sets(cfg, bible)
    own = {k.removeprefix(SHARD): Path(p) for k, p in spec.inputs.items() if k.startswith(SHARD)}
    if own:
        result, videos = gather(out, cfg, sets, own)
    else:
        reviewed = inputs["step2-reviewed"]
        result = make_stills(spec, out, cfg, sets, bible, reviewed, timer)
        videos = sorted({c.video_id for c in reviewed.accepted} | ({spec.video_id} if spec.video_id else set()))
    art = StillsArtifact(dataset=spec.dataset, trigger_word=bible.trigger_word, config=cfg, videos=videos, sets=result)
    write_json(out / StillsArtifact.FILE, art)
    for s in result:
        log(f"{s.character}: {len(s.stills)} stills of {s.candidates} candidate frames" + (f" ({s.note})" if s.note else ""))
    return StepResult(counts={"sets": len(result), "stills": sum(len(s.stills) for s in result),
                              "empty_sets": sum(1 for s in result if not s.stills)},
                      versions={"ffmpeg": media.program_version("ffmpeg"), "opencv": cv2.__version__,
                                "numpy": importlib.metadata.version("numpy")})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
