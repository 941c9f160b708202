"""step2-caption: ``[caption]`` of dataset.toml and ``captions.json`` (writer: tools/step2_caption.py).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from reelset.schemas.base import SCHEMA_VERSION, ModelRef, Strict
from reelset.schemas.context import ContextLine, DroppedLine


class CaptionConfig(Strict):
    """``[caption]`` of dataset.toml: step2-caption (VLM captions per clip)."""

    model: str | None = Field(None, description="Model name from nix/models.toml; Nix resolves it (default qwen2.5-vl-7b-instruct, nix/steps.nix) and passes its directory as models.vlm. Qwen2.5-VL or Qwen3-VL (e.g. 'qwen3-vl-8b-instruct', 'tiny-qwen3-vl').")
    fps: float = Field(2.0, gt=0, le=30, description="Frames per second sampled from each clip (ffmpeg fps filter) and given to the VLM as one video.")
    max_frames: int = Field(16, ge=2, le=256, description="Most frames per clip; a long clip is sampled at a lower rate so that its frames still span the whole clip.")
    max_pixels: int = Field(256 * 28 * 28, ge=4 * 28 * 28, description="Pixel budget per frame (qwen-vl-utils resizes each frame to at most this many pixels, multiples of 28; one merged 28x28 patch = one token per frame pair).")
    min_pixels: int = Field(4 * 28 * 28, ge=28 * 28, description="Smallest pixel count per frame (qwen-vl-utils).")
    batch_size: int = Field(4, ge=1, description="Clips per generate call (left-padded batch).")
    max_new_tokens: int = Field(192, ge=16, description="Most tokens generated per clip.")
    max_words: int = Field(80, ge=5, description="Caption length asked for in the prompt, words (step2-reviewed enforces [review] max_words).")
    max_chars: int = Field(800, ge=40, le=4000, description="Most characters of a caption: the bound of the caption string in the grammar of constrained decoding (about 6 characters per English word; 80 words are about 500). A caption cut there is still valid JSON.")
    constrained: bool = Field(True, description="Constrain decoding to the JSON schema of the answer (xgrammar logits processor): every answer is then schema-valid JSON. Off (or when xgrammar cannot handle the model): free decoding and tolerant parsing of the answer.")

    @model_validator(mode="after")
    def _pixels(self) -> CaptionConfig:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")
        return self


SHOT_TYPES = ("extreme close-up", "close-up", "medium close-up", "medium", "medium wide", "wide", "extreme wide", "unknown")


CAMERA_MOTIONS = ("static", "pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "dolly in",
                  "dolly out", "tracking", "handheld", "unknown")

CAPTION_MIN_CHARS = 20  # a caption shorter than this is no description (QA's min_words 5 needs more anyway)
CAPTION_MAX_CHARS = 4000  # what validation accepts; the grammar bounds it by [caption] max_chars
NAME_MAX_CHARS = 64


def normalize(value: object, choices: tuple[str, ...]) -> str:
    """``value`` as one of ``choices`` ('Close-up shot' → 'close-up', 'camera pan left' → 'pan
    left'), else 'unknown' (also for null, a non-string, or several alternatives copied as
    'close-up|wide')."""
    if not isinstance(value, str):
        return "unknown"
    v = " ".join(value.lower().replace("_", " ").split())
    for cand in (v, v.removesuffix(" shot"), v.replace("closeup", "close-up"), v.replace("camera ", "")):
        if cand in choices:
            return cand
    return "unknown"


class CaptionAnswer(BaseModel):
    """The JSON object step2-caption asks the model for. Its JSON schema is the grammar of
    constrained decoding (xgrammar; enums for shot type and camera motion, bounded strings and
    lists, see reelset.vlm); in free decoding the same model validates the parsed answer,
    tolerantly: surrounding whitespace stripped, shot type / camera motion normalized
    (:func:`normalize`, anything else 'unknown'), extra keys ignored."""

    # the grammar asks for every key; validation of a free answer fills in the defaults
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True,
                              json_schema_extra={"required": ["caption", "shot_type", "camera_motion", "characters"]})
    caption: str = Field(min_length=CAPTION_MIN_CHARS, max_length=CAPTION_MAX_CHARS, description="The caption: one paragraph, present tense, what is visible.")
    shot_type: Literal[SHOT_TYPES] = Field("unknown", description="Shot type.")
    camera_motion: Literal[CAMERA_MOTIONS] = Field("unknown", description="Camera motion.")
    characters: list[Annotated[str, StringConstraints(max_length=NAME_MAX_CHARS)]] = Field(
        default_factory=list, max_length=8, description="Canonical names of the listed characters visible in the clip.")

    @field_validator("shot_type", mode="before")
    @classmethod
    def _shot(cls, v: object) -> str:
        return normalize(v, SHOT_TYPES)

    @field_validator("camera_motion", mode="before")
    @classmethod
    def _motion(cls, v: object) -> str:
        return normalize(v, CAMERA_MOTIONS)


def answer_schema(max_chars: int, names: list[str]) -> dict:
    """The JSON schema constrained decoding uses for one run: :class:`CaptionAnswer`'s, with
    the caption at most ``max_chars`` characters and ``characters`` drawn from ``names`` (the
    bible's canonical names), each at most once — so every string and list is bounded, as
    a grammar needs to end (reelset.vlm)."""
    schema = CaptionAnswer.model_json_schema()
    props = schema["properties"]
    props["caption"]["maxLength"] = max_chars
    props["characters"]["items"] = {"type": "string", "enum": list(names)} if names else {"type": "string", "maxLength": 0}
    props["characters"]["maxItems"] = min(len(names), props["characters"].get("maxItems", len(names)))
    return schema


class CaptionClip(Strict):
    """The caption of one clip and how it was made."""

    clip_id: str = Field(description="Clip id from step1-scenes (the join key).")
    video_id: str = Field(description="Source video id.")
    clip_path: str = Field(description="Absolute path of the clip (the step1-scenes shard's clips/<clip_id>.mp4; a store path inside Nix).")
    thumbnail: str = Field(description="Animated preview of the sampled frames (WebP), relative to the step output.")
    start_s: float = Field(ge=0, description="Clip start in the source video, seconds.")
    end_s: float = Field(description="Clip end, seconds.")
    frames: int = Field(ge=1, description="Frames sampled and given to the model.")
    sample_fps: float = Field(gt=0, description="Rate the frames were sampled at, frames per second (lower than [caption] fps when max_frames capped it).")
    caption: str = Field(description="The caption ('' when the model's answer was unusable, see `error`).")
    shot_type: str = Field(description=f"Shot type, one of {', '.join(SHOT_TYPES)}.")
    camera_motion: str = Field(description=f"Camera motion, one of {', '.join(CAMERA_MOTIONS)}.")
    characters: list[str] = Field(description="Canonical names of the bible characters the caption names (by name or alias, whole words).")
    context: str = Field(description="The clip's scene context (step2-scene-context) given in the prompt.")
    context_characters: list[str] = Field(description="Characters the scene context lists for the clip (canonical names).")
    lines: list[ContextLine] = Field(default_factory=list, description="The clip's dialogue lines with their speakers (step2-scene-context; by voice when the bible has voice references): shown on the review page, one line each.")
    place: str | None = Field(None, description="Place of the scene context, if any.")
    unheard_speech_s: float = Field(0.0, ge=0, description="Seconds of the clip's speech the ASR step left without words (from the scene context); step2-reviewed flags the clip (QA check 'speech_without_words').")
    dropped_lines: list[DroppedLine] = Field(default_factory=list, description="Transcript words in the clip that the scene context left out as likely ASR hallucinations (not in the prompt); step2-reviewed flags the clip (QA check 'dialogue_dropped').")
    model_characters: list[str] = Field(default_factory=list, description="The characters the model listed in its answer (as written).")
    status: Literal["ok", "fallback"] = Field(description="'fallback': the answer was unusable (no valid JSON of the asked form, or an empty caption); caption is '' and `error` says why.")
    problem: Literal["no_json", "truncated", "invalid", "empty"] | None = Field(None, description="Why the answer was unusable, as a key: 'no_json' (no JSON object), 'truncated' (cut off, usually at max_new_tokens), 'invalid' (does not match the answer schema), 'empty' (caption empty once whitespace is collapsed).")
    error: str | None = Field(None, description="Why the answer was unusable (for people).")
    constrained: bool = Field(False, description="True when the answer was decoded under the JSON grammar (constrained decoding).")
    raw: str = Field(description="The model's answer as generated (at most 2000 characters).")
    prompt: str = Field(description="The text prompt (the frames come before it in the user message).")
    prompt_sha256: str = Field(description="sha256 (hex) of the prompt text.")
    prompt_tokens: int = Field(ge=0, description="Input tokens of this clip, frame tokens included.")
    new_tokens: int = Field(ge=0, description="Generated tokens.")
    hit_limit: bool = Field(description="True when generation stopped at max_new_tokens.")


class CaptionsArtifact(Strict):
    """``$out/captions.json`` of step2-caption (one source video): one caption per clip."""

    FILE: ClassVar[str] = "captions.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(description="Video id.")
    model: ModelRef = Field(description="The VLM.")
    device: str = Field(description="'cpu' or 'cuda'.")
    trigger_word: str = Field(description="The bible's LoRA trigger word (the prompt asks for it).")
    caption_style: list[str] = Field(description="The bible's caption style rules given in the prompt.")
    names: dict[str, list[str]] = Field(description="Every bible character: canonical name → aliases (what counts as naming a character).")
    config: CaptionConfig = Field(description="The validated [caption] section used.")
    decoding: str = Field("", description="How answers were decoded: JSON-schema constrained (xgrammar), or free with tolerant parsing and why (switched off, or xgrammar could not handle the model).")
    clips: list[CaptionClip] = Field(description="One entry per step1-scenes clip, in order.")

