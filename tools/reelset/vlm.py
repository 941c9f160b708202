"""Vision-language models (Qwen2.5-VL, Qwen3-VL) and the audio-visual Qwen2.5-Omni thinker
through the real transformers + qwen-vl-utils code path: load, build chat messages, batched
generation (optionally constrained to a JSON schema); the answers are read by
:mod:`reelset.answers` (tolerant JSON parsing).

Shared by step2-transcript-disambiguate (multimodal pass) and step2-caption. Nothing here
downloads: a model is a local directory (a fixed input of nix/models.toml, or a tiny
random model of tools/make_tiny_models.py in tests and the demo).

Model kinds (config.json's ``model_type``, :data:`MODEL_CLASSES`):

- ``qwen2_5_vl`` / ``qwen2_vl`` / ``qwen3_vl``: images and videos (frames). Qwen3-VL's
  vision patch is 16 px (Qwen2.5-VL: 14), read from the processor and handed to qwen-vl-utils
  (``image_patch_size``), so its images are resized to multiples of 32.
- ``qwen2_5_omni`` (the hub's full Qwen2.5-Omni checkpoint: thinker + talker + token2wav) or
  ``qwen2_5_omni_thinker`` (a thinker-only checkpoint): only the thinker is loaded
  (``Qwen2_5OmniThinkerForConditionalGeneration``; from a full checkpoint its ``thinker.*``
  weights, the speech-generating talker is never built), with ``Qwen2_5OmniProcessor``. It
  also **hears**: ``Vlm.hears_audio`` is True and :func:`chat` takes audio clips (16 kHz mono
  float arrays), which the processor turns into Whisper log-mel ``input_features`` and
  ``<|AUDIO|>`` placeholder tokens (one per 40 ms of sound, at most 30 s per clip).
- ``qwen3_omni_moe`` / ``qwen3_omni_moe_thinker``: the same for Qwen3-Omni (MoE text model,
  Qwen3-VL's vision patch 16, ``Qwen3OmniMoeProcessor``; one ``<|audio_pad|>`` per 80 ms).

Typical use::

    vlm = load(Path(spec.models["vlm"].path))             # device/dtype picked automatically
    grammar, decoding = answer_grammar(vlm, MyAnswer, enabled=True)
    msgs = [chat(prompt, images=[png1, png2], videos=[[f0, f1, f2, f3]])]
    [g] = generate(vlm, msgs, max_new_tokens=256, grammar=grammar)  # g.text, g.prompt_tokens, g.hit_limit
    parsed = answers.parse_json(g.text, MyAnswer, hit_limit=g.hit_limit)  # .value or .problem/.reason

Structured output: :func:`json_grammar` compiles the answer model's JSON schema
(``model_json_schema()`` of the pydantic model) for the model's tokenizer with xgrammar
(``GrammarCompiler.compile_json_schema``), and :func:`generate` attaches it to
``transformers`` ``generate`` as xgrammar's logits processor
(:class:`GrammarLogitsProcessor`, one per call: it is single-use). Every generated
token is then masked to those that keep the text a prefix of a schema-valid JSON document,
and the end-of-sequence token is allowed only once the object is complete — so even the
tiny random model answers schema-valid JSON, provided the object can close within
``max_new_tokens``. Compiled with ``any_whitespace=False`` (fixed separators ``", "`` and
``": "``, no free whitespace): with free whitespace a model may emit spaces and newlines
forever, which a random model does. Strings must carry a ``maxLength`` (pydantic
``max_length``) for the same reason: at the limit only the closing quote is allowed.
xgrammar 0.2.8 ignores ``maxLength`` on a string that also has a ``pattern`` and fails on
patterns with long repetitions, so the answer models use ``min_length``/``max_length`` and
no patterns; its bounded strings admit no escape sequences (no ``\\n`` or ``\\"`` inside).

The mask is applied by a kernel that needs no compiler (:func:`bitmask_backend`): xgrammar's
own processor (``contrib.hf.LogitsProcessor``) takes its default for CUDA logits, Triton, which
JIT-builds a C launcher (a C compiler and ``Python.h``) at its first call — neither is in the
store env or on a rented box, so the first constrained ``generate`` on a GPU would fail.

Without a grammar (switched off in the config, or :func:`answer_grammar` could not build one
for the model) the schema is only stated in the prompt and the step reads the
answer tolerantly (:func:`reelset.answers.parse_json`). It never raises.

Image sizes: qwen-vl-utils resizes every image / video frame so that height and width are
multiples of 28 (patch 14 x merge 2) and the pixel count lies in [min_pixels, max_pixels];
each merged 28x28 patch becomes one token, so ``max_pixels = 64 * 28 * 28`` costs at most
64 tokens per image (a video costs that per pair of frames). Qwen3-VL's patch is 16: multiples
of 32, one token per 32x32 pixels, so the same bounds buy fewer, larger tokens.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reelset import ReelsetError
from reelset.device import DevicePolicy

# model_type of config.json → transformers class that generates text from it
MODEL_CLASSES = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
    "qwen2_5_omni_thinker": "Qwen2_5OmniThinkerForConditionalGeneration",
    "qwen2_5_omni": "Qwen2_5OmniThinkerForConditionalGeneration",  # the thinker of a full checkpoint
    "qwen3_omni_moe_thinker": "Qwen3OmniMoeThinkerForConditionalGeneration",
    "qwen3_omni_moe": "Qwen3OmniMoeThinkerForConditionalGeneration",  # the thinker of a full checkpoint
}
# full Omni checkpoints (thinker + talker + token2wav/code2wav): only the thinker is loaded
FULL_OMNI_TYPES = {"qwen2_5_omni", "qwen3_omni_moe"}
# model types that hear: their processor takes audio= (16 kHz mono float arrays) beside images/videos
AUDIO_MODEL_TYPES = {"qwen2_5_omni", "qwen2_5_omni_thinker", "qwen3_omni_moe", "qwen3_omni_moe_thinker"}
AUDIO_RATE = 16000
# Qwen2.5-Omni's feature extractor (Whisper's) pads or cuts every clip to 30 s
AUDIO_MAX_SECONDS = 30.0


@dataclass
class Vlm:
    """A loaded model: ``model`` (transformers, eval mode), ``processor`` (AutoProcessor),
    ``device`` ("cuda" | "cpu"), ``dtype`` (torch dtype), ``model_type`` (config.json),
    ``path`` (the directory), ``load_seconds`` (wall time of loading), ``hears_audio``
    (:func:`chat` may give it audio clips: an Omni thinker), ``patch_size`` (vision patch in
    pixels: 14 for Qwen2/2.5-VL and Omni, 16 for Qwen3-VL)."""

    model: Any
    processor: Any
    device: str
    dtype: Any
    model_type: str
    path: Path
    load_seconds: float
    hears_audio: bool = False
    patch_size: int = 14


@dataclass
class Generation:
    """One generated answer: ``text`` (special tokens removed), ``prompt_tokens`` (input ids of
    this batch row without padding, including image/video tokens), ``new_tokens`` (generated,
    up to and including EOS), ``seconds`` (wall time of the whole batch's generate call,
    shared by its rows), ``hit_limit`` (stopped by max_new_tokens, not by EOS),
    ``constrained`` (decoded under a JSON grammar)."""

    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    hit_limit: bool
    constrained: bool = False


# why an answer was not usable (Parsed.problem): a short key for counting, the reason says more
@dataclass(frozen=True)
class JsonGrammar:
    """A pydantic model's JSON schema compiled for one model's tokenizer: ``compiled``
    (``xgrammar.CompiledGrammar``), ``schema`` (the JSON schema, a dict), ``answer`` (the
    pydantic model's name)."""

    compiled: Any
    schema: dict
    answer: str


def pick_device(device: str | DevicePolicy) -> tuple[str, Any]:
    """(device, dtype): ``device`` "cuda"/"cpu", or the step's device policy that picks
    (reelset/device.py: cuda when available, else cpu only if allowed). cuda →
    bfloat16 where supported (else float16), cpu → float32 (half precision is slow or
    unsupported for many CPU kernels). ReelsetError when cuda is asked for but absent."""
    import torch

    if isinstance(device, DevicePolicy):
        device = device.pick("torch")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ReelsetError("vlm: device 'cuda' requested but torch sees no CUDA device")
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device != "cpu":
        raise ReelsetError(f"vlm: unknown device {device!r}; use 'cuda' or 'cpu'")
    return "cpu", torch.float32


def load(path: Path, device: str | DevicePolicy) -> Vlm:
    """Load model + processor from the directory ``path`` (``from_pretrained``, local files
    only) on ``device`` (:func:`pick_device`: "cuda", "cpu" or the step's policy). The class comes from config.json's ``model_type`` (:data:`MODEL_CLASSES`); of a full
    Qwen2.5-Omni checkpoint (``qwen2_5_omni``) only the thinker is loaded: its
    ``thinker_config`` and the ``thinker.*`` weights (``key_mapping``), the talker's are left
    unread. Errors (ReelsetError): no directory / config.json, unsupported model type, the
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
    extra: dict[str, Any] = {}
    if model_type in FULL_OMNI_TYPES:
        # the full checkpoint: the thinker's config and weights only (thinker.* → *); the talker
        # and token2wav weights (speech output, ~2 B parameters) are never read
        full = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        extra = {"config": full.thinker_config, "key_mapping": {r"^thinker\.": ""}}
    model = cls.from_pretrained(path, dtype=dtype, local_files_only=True, **extra).to(dev).eval()
    if getattr(processor, "tokenizer", None) is not None:
        processor.tokenizer.padding_side = "left"  # decoder-only batched generation
    model.requires_grad_(False)  # inference only; no process-wide torch.set_grad_enabled (it leaks into callers)
    patch = getattr(getattr(processor, "image_processor", None), "patch_size", None) or 14
    return Vlm(model=model, processor=processor, device=dev, dtype=dtype, model_type=model_type, path=path,
               load_seconds=round(time.perf_counter() - t0, 3), hears_audio=model_type in AUDIO_MODEL_TYPES,
               patch_size=int(patch))


def kind(vlm: Vlm) -> str:
    """What kind of model this is, for logs: "audio-visual" (an Omni thinker: it hears) or "visual"."""
    return "audio-visual" if vlm.hears_audio else "visual"


def chat(prompt: str, images: list[Path] = (), videos: list[list[Path]] = (), system: str | None = None,
         max_pixels: int = 256 * 28 * 28, min_pixels: int = 4 * 28 * 28, fps: float = 1.0,
         audios: list[Any] = ()) -> list[dict]:
    """One conversation in qwen-vl-utils' message format: an optional system message, then a
    user message with the ``images`` (files), the ``videos`` (each a list of frame files,
    taken ``1/fps`` seconds apart; qwen-vl-utils pads to an even frame count), the ``audios``
    (each a 1-D float array of 16 kHz mono samples, only for a model that hears: an
    ``{"type": "audio"}`` part, which the Omni chat template renders as
    ``<|audio_bos|><|AUDIO|><|audio_eos|>`` and qwen-vl-utils skips) and the ``prompt``
    text, in that order. ``min_pixels`` / ``max_pixels`` bound each image / frame (see the
    module docstring)."""
    content: list[dict] = [{"type": "image", "image": str(p), "min_pixels": min_pixels, "max_pixels": max_pixels}
                           for p in images]
    content += [{"type": "video", "video": [str(f) for f in frames], "sample_fps": fps,
                 "min_pixels": min_pixels, "max_pixels": max_pixels} for frames in videos if frames]
    content += [{"type": "audio", "audio": a} for a in audios]
    content.append({"type": "text", "text": prompt})
    msgs = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    return msgs + [{"role": "user", "content": content}]


def stop_token_ids(vlm: Vlm) -> list[int]:
    """The ids that end generation: ``generation_config.eos_token_id`` (one id or a list)."""
    eos = vlm.model.generation_config.eos_token_id
    return [int(t) for t in (eos if isinstance(eos, list) else [eos]) if t is not None]


def json_grammar(vlm: Vlm, answer: type[BaseModel], schema: dict | None = None) -> JsonGrammar:
    """Compile ``answer``'s JSON schema (or ``schema``, one derived from it for a run, e.g.
    with names from the bible) for ``vlm``'s tokenizer (xgrammar, rules in the module
    docstring). The vocabulary size is that of the output layer (it can exceed the
    tokenizer's, padded), the stop tokens those of :func:`stop_token_ids`.
    ReelsetError when xgrammar cannot read the tokenizer or compile the schema."""
    try:
        import xgrammar as xgr

        schema = schema or answer.model_json_schema()
        vocab = int(vlm.model.get_output_embeddings().weight.shape[0])
        info = xgr.TokenizerInfo.from_huggingface(vlm.processor.tokenizer, vocab_size=vocab,
                                                  stop_token_ids=stop_token_ids(vlm))
        compiled = xgr.GrammarCompiler(info).compile_json_schema(json.dumps(schema), any_whitespace=False)
    except Exception as exc:  # xgrammar raises RuntimeError / its FFI errors; an import may fail too
        raise ReelsetError(f"vlm: xgrammar cannot constrain {vlm.path.name} to {answer.__name__}: "
                           f"{type(exc).__name__}: {str(exc).strip()[:300]}") from exc
    return JsonGrammar(compiled=compiled, schema=schema, answer=answer.__name__)


def answer_grammar(vlm: Vlm, answer: type[BaseModel], enabled: bool,
                   schema: dict | None = None) -> tuple[JsonGrammar | None, str]:
    """(grammar or None, how answers are decoded, for reports and meta): the grammar of
    :func:`json_grammar` when ``enabled``; None with the reason when disabled or when xgrammar
    cannot handle the model (the caller then decodes freely and parses tolerantly)."""
    if not enabled:
        return None, "free decoding (constrained decoding off in the config); tolerant JSON parsing"
    try:
        return json_grammar(vlm, answer, schema), f"JSON-schema constrained decoding (xgrammar) of {answer.__name__}"
    except ReelsetError as exc:
        return None, f"free decoding, tolerant JSON parsing ({exc})"


def bitmask_backend(device_type: str) -> str:
    """The xgrammar kernel that masks logits on a torch device of type ``device_type``
    (``"cpu"``, ``"cuda"``, …): ``"cpu"`` on the CPU (xgrammar's prebuilt C++ kernel), else
    ``"torch_native"`` (plain torch tensor ops on the logits' device). Never xgrammar's
    ``"auto"`` choice for CUDA, ``"triton"`` (a C compiler and ``Python.h`` at first use, JIT),
    nor ``"cuda"`` (nvcc through torch.utils.cpp_extension, JIT); rule read in xgrammar 0.2.8
    ``matcher.py`` ``apply_token_bitmask_inplace`` and ``kernels/``."""
    return "cpu" if device_type == "cpu" else "torch_native"


def _device_type(scores: Any) -> str:
    """``scores.device.type`` (one place, so a test can take the CUDA branch on a CPU)."""
    return scores.device.type


class GrammarLogitsProcessor:
    """A ``transformers`` logits processor that constrains every row of a batch to one compiled
    xgrammar grammar, masking with the kernel of :func:`bitmask_backend` (the last one used is
    ``backend``). xgrammar 0.2.8's ``contrib.hf.LogitsProcessor`` step by step — accept the
    token sampled last, fill the next-token bitmask, mask the scores — except that it names the
    kernel instead of taking ``"auto"`` (Triton on CUDA). Single-use: one per ``generate`` call.
    ReelsetError when a row's sampled token breaks its grammar (a bug: the mask forbade it)."""

    def __init__(self, compiled: Any) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.compiled = compiled
        self.matchers: list[Any] = []
        self.bitmask: Any = None
        self.backend = ""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        xgr = self._xgr
        if not self.matchers:  # the first call: nothing sampled yet
            self.matchers = [xgr.GrammarMatcher(self.compiled) for _ in range(input_ids.shape[0])]
            self.bitmask = xgr.allocate_token_bitmask(len(self.matchers), self.compiled.tokenizer_info.vocab_size)
        else:
            for i, matcher in enumerate(self.matchers):
                token = int(input_ids[i][-1])
                if not matcher.is_terminated() and not matcher.accept_token(token):
                    raise ReelsetError(f"vlm: token {token} of row {i} breaks the answer's grammar")
        for i, matcher in enumerate(self.matchers):
            if not matcher.is_terminated():
                matcher.fill_next_token_bitmask(self.bitmask, i)
        device_type = _device_type(scores)
        self.backend = bitmask_backend(device_type)
        masked = scores.to("cpu") if self.backend == "cpu" and device_type != "cpu" else scores
        xgr.apply_token_bitmask_inplace(masked, self.bitmask.to(masked.device), backend=self.backend)
        return masked.to(scores.device) if masked is not scores else masked


def generate(vlm: Vlm, conversations: list[list[dict]], max_new_tokens: int = 256,
             grammar: JsonGrammar | None = None) -> list[Generation]:
    """Greedy generation for a batch of conversations (from :func:`chat`), one forward batch
    (left padding).

    Text: ``processor.apply_chat_template(..., add_generation_prompt=True)``; images and
    videos: ``qwen_vl_utils.process_vision_info`` (with the model's ``image_patch_size``);
    audio parts (a model that hears, :func:`chat`): ``audio=`` of the processor, in the order
    of their placeholders, float32 at 16 kHz (the Omni processor computes the log-mel
    ``input_features`` and expands each ``<|AUDIO|>``). With ``grammar`` every row is
    constrained to it by a fresh :class:`GrammarLogitsProcessor`. Returns one
    :class:`Generation` per conversation, in order. ReelsetError: audio for a model that does
    not hear."""
    import numpy as np
    import torch
    from qwen_vl_utils import process_vision_info

    if not conversations:
        return []
    proc = vlm.processor
    parts = [p for c in conversations for m in c if isinstance(m["content"], list) for p in m["content"]]
    audios = [np.asarray(p["audio"], dtype=np.float32)[: int(AUDIO_MAX_SECONDS * AUDIO_RATE)]
              for p in parts if p.get("type") == "audio"]
    if audios and not vlm.hears_audio:
        raise ReelsetError(f"vlm: {vlm.path.name} ({vlm.model_type}) does not hear: no audio parts for it")
    texts = [proc.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    # qwen-vl-utils has resized the images and sampled + resized the frames: the processor
    # must do neither again (do_resize=False, video_kwargs carries do_sample_frames=False)
    images, videos, video_kwargs = process_vision_info(conversations, return_video_kwargs=True, return_video_metadata=True,
                                                       image_patch_size=vlm.patch_size)
    kwargs: dict[str, Any] = dict(text=texts, images=images, padding=True, return_tensors="pt", do_resize=False)
    if videos:
        kwargs["videos"] = [v for v, _ in videos]
        kwargs["video_metadata"] = [m for _, m in videos]
        kwargs.update(video_kwargs)
    if audios:
        kwargs.update(audio=audios, sampling_rate=AUDIO_RATE)
    inputs = proc(**kwargs)
    if videos and "video_second_per_grid" in inputs:
        # the Omni processor takes one fps for the whole batch (default 2): each video's own
        # sampling rate, so its frames sit at their times on the audio's time axis (TMRoPE)
        tps = proc.video_processor.temporal_patch_size
        fps = [float(p.get("sample_fps", 2.0)) for p in parts if p.get("type") == "video"]
        inputs["video_second_per_grid"] = torch.tensor([tps / f for f in fps], dtype=torch.float32)
    inputs = inputs.to(vlm.device)
    extra: dict[str, Any] = {}
    if grammar is not None:
        from transformers import LogitsProcessorList

        extra["logits_processor"] = LogitsProcessorList([GrammarLogitsProcessor(grammar.compiled)])
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = vlm.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, **extra)
    seconds = round(time.perf_counter() - t0, 3)
    n_in = inputs["input_ids"].shape[1]
    new = out[:, n_in:]
    eos_ids = set(stop_token_ids(vlm))
    result = []
    for i in range(len(conversations)):
        row = new[i].tolist()
        stop = next((j for j, t in enumerate(row) if t in eos_ids), None)
        used = row if stop is None else row[: stop + 1]
        prompt_tokens = int(inputs["attention_mask"][i].sum())
        result.append(Generation(text=proc.tokenizer.decode(used, skip_special_tokens=True).strip(),
                                 prompt_tokens=prompt_tokens, new_tokens=len(used), seconds=seconds,
                                 hit_limit=stop is None, constrained=grammar is not None))
    return result


def versions() -> dict[str, str]:
    """Versions of torch, transformers, qwen-vl-utils and xgrammar (for meta.json)."""
    import importlib.metadata

    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "qwen_vl_utils": importlib.metadata.version("qwen-vl-utils"),
            "xgrammar": importlib.metadata.version("xgrammar")}
