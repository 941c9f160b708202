"""Vision-language models (Qwen2.5-VL, Qwen2.5-Omni thinker) through the real transformers
+ qwen-vl-utils code path: load, build chat messages, batched generation, JSON parsing.

Shared by step2-transcript-disambiguate (multimodal pass) and step2-caption. Nothing here
downloads: a model is a local directory (a fixed input of nix/models.toml, or the tiny
random model of tools/make_tiny_models.py in tests and the demo).

Typical use::

    vlm = load(Path(spec.models["vlm"].path))             # device/dtype picked automatically
    msgs = [chat(prompt, images=[png1, png2], videos=[[f0, f1, f2, f3]])]
    [g] = generate(vlm, msgs, max_new_tokens=256)          # g.text, g.prompt_tokens, g.seconds
    parsed = parse_json(g.text, MyAnswer)                  # parsed.value or parsed.reason

Structured output: plain ``transformers.generate`` has no JSON-schema constrained decoding
(that needs a logits processor library such as outlines / xgrammar, or a server like vLLM),
so the schema is stated in the prompt and the answer is parsed robustly by
:func:`parse_json`, which never raises.

Image sizes: qwen-vl-utils resizes every image / video frame so that height and width are
multiples of 28 (patch 14 x merge 2) and the pixel count lies in [min_pixels, max_pixels];
each merged 28x28 patch becomes one token, so ``max_pixels = 64 * 28 * 28`` costs at most
64 tokens per image (a video costs that per pair of frames).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from reelset import ReelsetError
from reelset import device as devices

T = TypeVar("T", bound=BaseModel)

# model_type of config.json → transformers class that generates text from it
MODEL_CLASSES = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
    # the Omni "thinker" is the text-generating half of Qwen2.5-Omni (the talker makes speech)
    "qwen2_5_omni": "Qwen2_5OmniThinkerForConditionalGeneration",
}


@dataclass
class Vlm:
    """A loaded model: ``model`` (transformers, eval mode), ``processor`` (AutoProcessor),
    ``device`` ("cuda" | "cpu"), ``dtype`` (torch dtype), ``model_type`` (config.json),
    ``path`` (the directory), ``load_seconds`` (wall time of loading)."""

    model: Any
    processor: Any
    device: str
    dtype: Any
    model_type: str
    path: Path
    load_seconds: float

    @property
    def audio(self) -> bool:
        """True when the model takes audio input (Qwen2.5-Omni)."""
        return self.model_type == "qwen2_5_omni"


@dataclass
class Generation:
    """One generated answer: ``text`` (special tokens removed), ``prompt_tokens`` (input ids of
    this batch row without padding, including image/video tokens), ``new_tokens`` (generated,
    up to and including EOS), ``seconds`` (wall time of the whole batch's generate call,
    shared by its rows), ``hit_limit`` (stopped by max_new_tokens, not by EOS)."""

    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    hit_limit: bool


@dataclass
class Parsed(Generic[T]):
    """Result of :func:`parse_json`: ``value`` (validated model) or ``reason`` (why not),
    ``raw`` (the JSON text found, '' if none)."""

    value: T | None
    reason: str | None
    raw: str = ""


def pick_device(device: str | None = None) -> tuple[str, Any]:
    """(device, dtype): ``device`` "cuda"/"cpu" or None = the step's device policy
    (reelset/device.py: cuda when available, else cpu only if allowed). cuda →
    bfloat16 where supported (else float16), cpu → float32 (half precision is slow or
    unsupported for many CPU kernels). ReelsetError when cuda is asked for but absent."""
    import torch

    if device is None:
        device = devices.pick("torch")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ReelsetError("vlm: device 'cuda' requested but torch sees no CUDA device")
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device != "cpu":
        raise ReelsetError(f"vlm: unknown device {device!r}; use 'cuda' or 'cpu'")
    return "cpu", torch.float32


def load(path: Path, device: str | None = None) -> Vlm:
    """Load model + processor from the directory ``path`` (``from_pretrained``, local files
    only). The class comes from config.json's ``model_type`` (:data:`MODEL_CLASSES`).
    Errors (ReelsetError): no directory / config.json, unsupported model type, the
    transformers installed lacks the class."""
    import transformers

    t0 = time.perf_counter()
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ReelsetError(f"vlm: {cfg_file} not found: not a model directory")
    try:
        model_type = json.loads(cfg_file.read_text(encoding="utf-8"))["model_type"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise ReelsetError(f"vlm: {cfg_file}: no model_type ({exc})") from exc
    cls_name = MODEL_CLASSES.get(model_type)
    if cls_name is None:
        raise ReelsetError(f"vlm: {cfg_file}: model_type {model_type!r} is not supported (known: {', '.join(MODEL_CLASSES)})")
    cls = getattr(transformers, cls_name, None)
    if cls is None:
        raise ReelsetError(f"vlm: transformers {transformers.__version__} has no {cls_name} (needed by {path})")
    dev, dtype = pick_device(device)
    processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
    model = cls.from_pretrained(path, dtype=dtype, local_files_only=True).to(dev).eval()
    if getattr(processor, "tokenizer", None) is not None:
        processor.tokenizer.padding_side = "left"  # decoder-only batched generation
    model.requires_grad_(False)  # inference only; no process-wide torch.set_grad_enabled (it leaks into callers)
    return Vlm(model=model, processor=processor, device=dev, dtype=dtype, model_type=model_type, path=path,
               load_seconds=round(time.perf_counter() - t0, 3))


def chat(prompt: str, images: list[Path] = (), videos: list[list[Path]] = (), audio: Any = None,
         system: str | None = None, max_pixels: int = 256 * 28 * 28, min_pixels: int = 4 * 28 * 28,
         fps: float = 1.0) -> list[dict]:
    """One conversation in qwen-vl-utils' message format: an optional system message, then a
    user message with the ``images`` (files), the ``videos`` (each a list of frame files,
    taken ``1/fps`` seconds apart; qwen-vl-utils pads to an even frame count), the ``audio``
    (16 kHz mono float32 samples, shape (n,); Qwen2.5-Omni only) and the ``prompt`` text, in
    that order. ``min_pixels`` /
    ``max_pixels`` bound each image / frame (see the module docstring)."""
    content: list[dict] = [{"type": "image", "image": str(p), "min_pixels": min_pixels, "max_pixels": max_pixels}
                           for p in images]
    content += [{"type": "video", "video": [str(f) for f in frames], "sample_fps": fps,
                 "min_pixels": min_pixels, "max_pixels": max_pixels} for frames in videos if frames]
    if audio is not None:
        content.append({"type": "audio", "audio": audio})
    content.append({"type": "text", "text": prompt})
    msgs = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    return msgs + [{"role": "user", "content": content}]


def _audio_inputs(conversations: list[list[dict]]) -> list:
    """The audio arrays of ``conversations`` (in order)."""
    return [item["audio"] for conv in conversations for msg in conv if isinstance(msg["content"], list)
            for item in msg["content"] if item.get("type") == "audio"]


def generate(vlm: Vlm, conversations: list[list[dict]], max_new_tokens: int = 256) -> list[Generation]:
    """Greedy generation for a batch of conversations (from :func:`chat`), one forward batch.

    Text: ``processor.apply_chat_template(..., add_generation_prompt=True)``; images and
    videos: ``qwen_vl_utils.process_vision_info``; audio (Omni): decoded to 16 kHz. Returns one
    :class:`Generation` per conversation, in order."""
    import torch
    from qwen_vl_utils import process_vision_info

    if not conversations:
        return []
    proc = vlm.processor
    texts = [proc.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    # qwen-vl-utils has resized the images and sampled + resized the frames: the processor
    # must do neither again (do_resize=False, video_kwargs carries do_sample_frames=False)
    images, videos, video_kwargs = process_vision_info(conversations, return_video_kwargs=True, return_video_metadata=True)
    kwargs: dict[str, Any] = dict(text=texts, images=images, padding=True, return_tensors="pt", do_resize=False)
    if videos:
        kwargs["videos"] = [v for v, _ in videos]
        kwargs["video_metadata"] = [m for _, m in videos]
        kwargs.update(video_kwargs)
    if vlm.audio:
        audios = _audio_inputs(conversations)
        if audios:
            kwargs["audio"] = audios
    inputs = proc(**kwargs).to(vlm.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = vlm.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    seconds = round(time.perf_counter() - t0, 3)
    n_in = inputs["input_ids"].shape[1]
    new = out[:, n_in:]
    eos = vlm.model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    result = []
    for i in range(len(conversations)):
        row = new[i].tolist()
        stop = next((j for j, t in enumerate(row) if t in eos_ids), None)
        used = row if stop is None else row[: stop + 1]
        prompt_tokens = int(inputs["attention_mask"][i].sum())
        result.append(Generation(text=proc.tokenizer.decode(used, skip_special_tokens=True).strip(),
                                 prompt_tokens=prompt_tokens, new_tokens=len(used),
                                 seconds=seconds, hit_limit=stop is None))
    return result


def first_json_object(text: str) -> str | None:
    """The first complete JSON object in ``text`` (as text), skipping any prose or markdown
    fences around it: tries ``json.JSONDecoder.raw_decode`` at every '{'. None if there is
    none."""
    decoder = json.JSONDecoder()
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            return text[i:end]
        i = text.find("{", i + 1)
    return None


def parse_json(text: str, model: type[T]) -> Parsed[T]:
    """Validate the first JSON object of ``text`` with the pydantic ``model``. Never raises:
    on failure ``value`` is None and ``reason`` says why ("no JSON object in the output
    (…)" or the validation errors, shortened)."""
    raw = first_json_object(text)
    if raw is None:
        preview = text[:80].replace("\n", " ")
        return Parsed(None, f"no JSON object in the output ({len(text)} chars: {preview!r})")
    try:
        return Parsed(model.model_validate_json(raw), None, raw)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5])
        return Parsed(None, f"JSON does not match {model.__name__}: {errs}", raw)


def versions() -> dict[str, str]:
    """Versions of torch, transformers and qwen-vl-utils (for meta.json)."""
    import importlib.metadata

    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "qwen_vl_utils": importlib.metadata.version("qwen-vl-utils")}
