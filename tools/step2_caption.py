"""step2-caption: a caption for every clip of one video from a pinned vision-language model
(Qwen2.5-VL or Qwen3-VL through transformers + qwen-vl-utils, :mod:`reelset.vlm`), told who is in the
clip, where it is and what is said.

Input (spec): ``inputs``: ``step1-scenes`` (scenes.json + clips of this video),
``step2-scene-context`` (context.json: per clip characters, place, dialogue), ``step2-bible``
(bible.json: character descriptions and aliases, caption style, trigger word);
``models.vlm`` (model directory); ``config.caption`` (:class:`reelset.schemas.captions.CaptionConfig`).

Per clip: frames sampled with ffmpeg's fps filter at ``[caption] fps`` (lowered so that at
most ``max_frames`` frames span the whole clip), given to the model as one video; qwen-vl-utils
resizes each frame to the pixel budget ``[min_pixels, max_pixels]`` (multiples of 28; of 32 for Qwen3-VL, patch 16). The
prompt (:func:`build_prompt`) carries the series, the clip's scene context (characters with
their bible descriptions, place, the dialogue line by line with its speaker — by voice,
step2-speakers — up to :data:`MAX_PROMPT_LINES` lines), the bible's caption style and trigger word, and
asks for one JSON object, :class:`reelset.schemas.captions.CaptionAnswer` (caption, shot type,
camera motion, characters; the allowed values listed, not given as a template to copy).
Clips are captioned in batches of ``batch_size`` (greedy decoding). With ``[caption]
constrained`` (default) decoding is constrained to CaptionAnswer's JSON schema (xgrammar,
:func:`reelset.vlm.json_grammar`), so every answer that ends within ``max_new_tokens`` is a
valid CaptionAnswer — even the tiny random test model's (nonsense) ones. Without it, or when
xgrammar cannot handle the model (``decoding`` in captions.json says which and why), the
answer is parsed tolerantly (:func:`reelset.answers.parse_json`). An unusable answer (no JSON,
cut off, not matching the schema, empty caption) gives ``status = "fallback"``, an empty
caption and the reason, which step2-reviewed flags for the reviewer — it is never silently
replaced by the raw text.

Output (``$out``): ``captions.json`` (:class:`reelset.schemas.captions.CaptionsArtifact`),
``previews/<clip_id>.webp`` (animated preview of the frames the model saw), ``meta.json``.
Device: CUDA when torch sees one, else the CPU (float32).

Run by hand: ``python tools/step2_caption.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

from PIL import Image

from reelset import ReelsetError, answers, media, vlm
from reelset.captiontext import names_in_text
from reelset.declare import Model, Step
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.captions import (
    CAMERA_MOTIONS,
    SHOT_TYPES,
    CaptionAnswer,
    CaptionClip,
    CaptionConfig,
    CaptionsArtifact,
    answer_schema,
)
from reelset.schemas.context import ClipContext, SceneContextArtifact
from reelset.schemas.device import DeviceConfig
from reelset.schemas.scenes import ScenesArtifact
from reelset.step import Context, StepResult, log, main, write_json

STEP = Step(name="step2-caption", device="cuda", level="video", script="step2_caption.py",
            inputs={"step1-scenes": ScenesArtifact, "step2-scene-context": SceneContextArtifact, "step2-bible": BibleArtifact},
            config={"caption": CaptionConfig, "device": DeviceConfig}, models={"vlm": Model(key="caption.model", default="qwen2.5-vl-7b-instruct")})
PREVIEW_WIDTH = 192  # pixels
RAW_LIMIT = 2000  # characters of the raw answer kept in captions.json
MAX_PROMPT_LINES = 12  # attributed dialogue lines of a clip in the prompt (a clip is one shot: seconds)



def build_prompt(ctx: ClipContext, bible: BibleArtifact, cfg: CaptionConfig, frames: int, rate: float) -> str:
    """The text prompt of one clip (the frames precede it in the user message)."""
    b = bible.bible
    desc = {c.name: c.description for c in b.characters}
    places = {p.name: p.description for p in b.places}
    lines = [f"You write the caption of one video clip for training a video generation model (a LoRA)"
             f"{' of the series ' + repr(b.series) if b.series else ''}.",
             f"The video is the clip sampled at {rate:.2f} frames per second ({frames} frames, "
             f"{ctx.end_s - ctx.start_s:.2f} seconds).", "",
             "Context from the transcript and the series bible (may be incomplete):"]
    if ctx.characters:
        lines += [f"- {n}: {desc.get(n) or 'no description'} (evidence: {', '.join(ctx.character_evidence.get(n, []))})"
                  for n in ctx.characters]
    else:
        lines.append("- No known character is attributed to this clip.")
    if ctx.place:
        lines.append(f"- Place: {ctx.place}{': ' + places[ctx.place] if places.get(ctx.place) else ''}")
    if ctx.lines:
        lines.append("- Dialogue (who says what; 'unknown voice' is someone the bible does not name: do not guess who):")
        lines += [f'  - {ln.speaker if ln.speaker != "unknown" else "unknown voice"}: "{ln.text}"'
                  for ln in ctx.lines[:MAX_PROMPT_LINES]]
    lines.append(f"- Summary: {ctx.context}")
    lines += ["", "Caption style:"] + [f"- {rule}" for rule in b.caption_style] + [
        f"- The trigger word is {b.trigger_word!r}; write it exactly so.",
        "- Name characters only by the canonical names above; never name anyone not listed above.",
        f"- At most {cfg.max_words} words, one paragraph, present tense; describe what is visible.", "",
        "Answer with one JSON object and nothing else. Its keys:",
        '- "caption": the caption, a string.',
        '- "shot_type": the shot type, a string, exactly one of ' + ", ".join(f'"{v}"' for v in SHOT_TYPES) + ".",
        '- "camera_motion": the camera motion, a string, exactly one of ' + ", ".join(f'"{v}"' for v in CAMERA_MOTIONS) + ".",
        '- "characters": a list of strings, the names of the listed characters visible in the clip (may be empty).']
    return "\n".join(lines)


def read_answer(gen: vlm.Generation) -> tuple[CaptionAnswer | None, str, str | None, str | None]:
    """(answer, caption, problem, reason) of one generation: the parsed
    :class:`CaptionAnswer` (:func:`reelset.answers.parse_json`) and its caption with whitespace
    collapsed, or None, '' and why (problem key 'no_json' / 'truncated' / 'invalid' of
    :data:`reelset.answers.Problem`, or 'empty': nothing left of the caption)."""
    parsed = answers.parse_json(gen.text, CaptionAnswer, hit_limit=gen.hit_limit)
    if parsed.value is None:
        return None, "", parsed.problem, parsed.reason
    caption = " ".join(parsed.value.caption.split())
    if not caption:
        return None, "", "empty", "the answer's caption is empty"
    return parsed.value, caption, None, None


def sample_frames(clip: Path, duration: float, cfg: CaptionConfig, folder: Path) -> tuple[list[Path], float]:
    """JPEG frames of ``clip`` in ``folder`` at ``min(fps, max_frames / duration)`` frames per
    second (ffmpeg fps filter, at most ``max_frames``): (files in order, rate). A clip too short
    for one sample at that rate gives its first frame."""
    rate = min(cfg.fps, cfg.max_frames / max(duration, 1e-3))
    folder.mkdir(parents=True)
    media.run_ffmpeg(["-i", str(clip), "-map", "0:v:0", "-vf", f"fps={rate:.6f}", "-frames:v", str(cfg.max_frames),
                      "-q:v", "2", str(folder / "%04d.jpg")], "sampling frames", clip)
    files = sorted(folder.glob("*.jpg"))
    if not files:
        media.run_ffmpeg(["-i", str(clip), "-map", "0:v:0", "-frames:v", "1", "-q:v", "2", str(folder / "0001.jpg")],
                         "extracting the first frame", clip)
        files = sorted(folder.glob("*.jpg"))
    if not files:
        raise ReelsetError(f"{clip}: no frame could be decoded")
    return files, rate


def write_preview(frames: list[Path], rate: float, dst: Path) -> None:
    """Animated WebP (``PREVIEW_WIDTH`` pixels wide, looping) of ``frames`` at ``rate`` fps."""
    images = []
    for f in frames:
        with Image.open(f) as im:
            im = im.convert("RGB")
            images.append(im.resize((PREVIEW_WIDTH, max(2, round(im.height * PREVIEW_WIDTH / im.width)))))
    images[0].save(dst, format="WEBP", save_all=True, append_images=images[1:], duration=round(1000 / rate),
                   loop=0, quality=70, method=4)


def run(ctx: Context) -> StepResult:
    spec, out, timer, inputs, policy = ctx.spec, ctx.out, ctx.timer, ctx.inputs, ctx.policy
    if "vlm" not in spec.models:
        raise ReelsetError(f"{STEP}: spec has no models.vlm (set [caption] model in dataset.toml)")
    cfg = ctx.config["caption"]
    scenes_dir = Path(spec.inputs["step1-scenes"])
    scenes, context, bible = inputs["step1-scenes"], inputs["step2-scene-context"], inputs["step2-bible"]
    if [c.clip_id for c in context.clips] != [s.clip_id for s in scenes.scenes]:
        raise ReelsetError(f"{STEP}: context.json clips differ from scenes.json clips (inputs of different runs?)")
    names = {c.name: list(c.aliases) for c in bible.bible.characters}
    model_ref = spec.models["vlm"]
    with timer.phase("load"):
        model = vlm.load(Path(model_ref.path), policy)
        grammar, decoding = vlm.answer_grammar(model, CaptionAnswer, cfg.constrained, answer_schema(cfg.max_chars, list(names)))
    log(f"{STEP}: {model_ref.name} on {model.device} ({model.load_seconds} s to load); {decoding}")
    (out / "previews").mkdir()
    clips: list[CaptionClip] = []
    with tempfile.TemporaryDirectory(prefix="reelset-caption-") as tmp:
        prepared = []
        with timer.phase("sample"):
            for scene, ctx in zip(scenes.scenes, context.clips, strict=True):
                clip = scenes_dir / scene.clip
                frames, rate = sample_frames(clip, scene.end_s - scene.start_s, cfg, Path(tmp) / scene.clip_id)
                write_preview(frames, rate, out / "previews" / f"{scene.clip_id}.webp")
                prompt = build_prompt(ctx, bible, cfg, len(frames), rate)
                prepared.append((scene, ctx, frames, rate, prompt))
        t0 = time.perf_counter()
        for i in range(0, len(prepared), cfg.batch_size):
            batch = prepared[i:i + cfg.batch_size]
            convs = [vlm.chat(prompt, videos=[frames], max_pixels=cfg.max_pixels, min_pixels=cfg.min_pixels, fps=rate)
                     for _, _, frames, rate, prompt in batch]
            with timer.phase("generate"):
                gens = vlm.generate(model, convs, max_new_tokens=cfg.max_new_tokens, grammar=grammar)
            for (scene, ctx, frames, rate, prompt), gen in zip(batch, gens, strict=True):
                ans, caption, problem, reason = read_answer(gen)
                ok = ans is not None
                clips.append(CaptionClip(
                    clip_id=scene.clip_id, video_id=scenes.video_id, clip_path=str((scenes_dir / scene.clip).resolve()),
                    thumbnail=f"previews/{scene.clip_id}.webp", start_s=scene.start_s, end_s=scene.end_s,
                    frames=len(frames), sample_fps=round(rate, 6), caption=caption,
                    shot_type=ans.shot_type if ok else "unknown", camera_motion=ans.camera_motion if ok else "unknown",
                    characters=names_in_text(caption, names), model_characters=list(dict.fromkeys(ans.characters)) if ok else [],
                    context=ctx.context, context_characters=ctx.characters, lines=ctx.lines, place=ctx.place, dropped_lines=ctx.dropped_lines,
                    unheard_speech_s=ctx.unheard_speech_s,
                    status="ok" if ok else "fallback", problem=problem, error=reason, constrained=gen.constrained,
                    raw=gen.text[:RAW_LIMIT],
                    prompt=prompt, prompt_sha256=hashlib.sha256(prompt.encode()).hexdigest(),
                    prompt_tokens=gen.prompt_tokens, new_tokens=gen.new_tokens, hit_limit=gen.hit_limit))
        gen_s = time.perf_counter() - t0
    fallbacks = sum(c.status == "fallback" for c in clips)
    log(f"{STEP}: {len(clips)} clips in {gen_s:.2f} s of generation: {len(clips) - fallbacks} captions "
        f"({(len(clips) - fallbacks) / max(gen_s, 1e-9):.2f} captions/s), {fallbacks} unusable answers "
        f"({', '.join(sorted({c.problem for c in clips if c.problem})) or 'none'})")
    art = CaptionsArtifact(video_id=scenes.video_id, model=model_ref, device=model.device,
                           trigger_word=bible.bible.trigger_word, caption_style=list(bible.bible.caption_style),
                           names=names, config=cfg, decoding=decoding, clips=clips)
    write_json(out / "captions.json", art)
    versions = vlm.versions()
    versions["ffmpeg"] = media.program_version("ffmpeg")
    return StepResult(device=model.device, models=[model_ref], versions=versions,
                      counts={"clips": len(clips), "captions": len(clips) - fallbacks, "fallbacks": fallbacks,
                              "frames": sum(c.frames for c in clips), "prompt_tokens": sum(c.prompt_tokens for c in clips),
                              "new_tokens": sum(c.new_tokens for c in clips), "hit_limit": sum(c.hit_limit for c in clips),
                              "constrained": sum(c.constrained for c in clips)})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
