"""GPU smoke run: the GPU-side code of reelset's cuda steps with tiny random-config models, on any
CUDA machine, without Nix, in a few minutes.

Stages, each through the repo's own code (tools/ on sys.path), in this order:

- ``asr`` (step2-transcript-base): the step's own ``transcribe`` (tools/step2_transcript_base.py:
  Silero VAD regions, ``reelset.asr.whisper.load_whisper`` — CTranslate2, float16 on CUDA —, faster-whisper's
  batched pipeline with the second look at failing windows, sentence segments and guards) on 8 s of
  synthetic voiced audio with a tiny random Whisper (made here with transformers, converted by
  ``ctranslate2.converters.TransformersConverter``); ``[asr]`` :data:`ASR_CFG`: fixed 30 s windows
  (decoding runs whatever the VAD hears in synthetic audio) and no third pass (``[asr.guards]
  min_coverage`` 0 where that setting exists: the sequential decoder's temperature fallback costs a
  random model 40 s on 2 CPU cores);
  ``transcript.json`` (TranscriptArtifact).
- ``caption`` (step2-caption): ``step2_caption.run`` on two synthetic clips with the tiny
  Qwen2.5-VL of tools/make_tiny_models.py (bf16 on CUDA), xgrammar-constrained decoding;
  ``captions.json`` (CaptionsArtifact; every answer must have been decoded under the grammar).
- ``omni`` (step2-transcript-disambiguate, the audio-visual multimodal pass): the model code of the
  pass — ``reelset.vlm`` load, ``chat`` with a reference picture, a segment's frames and **its
  audio**, xgrammar-constrained ``generate``, ``parse_json`` — with the tiny Qwen2.5-Omni thinker of
  tools/make_tiny_models.py (bf16 on CUDA) on :data:`OMNI_SEGMENTS` synthetic segments (frames +
  speech-like audio); ``answer.json`` (ModelSegmentAnswer; every answer must parse and the prompts
  must hold the audio tokens). Not the step's ``run`` (its bible passes need rapidfuzz and
  jellyfish, which the box lacks).
- ``latents-ltx2`` / ``latents-wan21`` (step4-*-preprocess): ``step4_preprocess.run`` on a package
  of two 64x64x9 clips (LTX-2 with audio) with the tiny diffusers pipelines; ``latents.json``
  (LatentIndex).
- ``train-ltx2`` / ``train-wan21`` (step5-*-train): ``step5_train_segment.run``, one segment of
  ``--steps`` (20) LoRA steps on those latents; ``segment.json`` (TrainSegment).

What is not the steps' own code: inputs are synthesized with numpy (no ffmpeg, no PyAV), so the
media readers are replaced — ``reelset.media.decode_audio_16k`` (ffmpeg) returns the synthetic
audio, ``step2_caption.sample_frames`` (ffmpeg) and the families' clip decoders
(``reelset.families.ltx2.model._read_clip``, ``reelset.train.read_frames``: PyAV) read ``.npz`` clips — and
placeholders answer ``import av`` (faster_whisper.audio) and ``import srt``
(step2_transcript_base's subtitles) where those are not installed (:func:`placeholder_modules`).
Every stage's output is read back from disk and validated by its pydantic schema
(``reelset.step.read_artifact``).

Per stage (JSON ``--out`` and a table on stdout): ``status``; ``device`` (what the stage's model
really sits on: CTranslate2's ``model.device``, the torch parameters' device); ``wall_s`` (seconds:
model loading and the GPU work, the step's phases in ``phases``); ``prepare_s`` (seconds: making the
tiny model and the inputs on the CPU); ``torch_peak_mib`` (``torch.cuda.max_memory_allocated``,
MiB; null for CTranslate2, whose allocator torch does not see, and on the CPU); ``device_peak_mib``
(device memory in use above the stage's start, sampled every 20 ms with ``torch.cuda.mem_get_info``,
MiB: the only figure for CTranslate2; includes allocator caches); ``rss_peak_mib`` (the process's
resident high-water mark so far); ``schema`` / ``schema_valid``; ``counts``.

Device policy: a stage must run on CUDA. Without a CUDA device the first stage fails with the
device found and the reason (reelset.device) and the others are not run, unless ``--allow-cpu``
(then stages run on the CPU where no CUDA device is visible; to force the CPU on a GPU machine,
``CUDA_VISIBLE_DEVICES= python bench/gpu_smoke.py --allow-cpu``). CTranslate2 4.8.5 is a CUDA 12
build: on a GPU it needs ``libcublas.so.12`` (nvidia-cublas-cu12, 554 MiB, not carried); the smoke
preloads it from ``--cublas12 DIR``, ``nvidia/cublas/lib`` on sys.path or ``/usr/local/cuda-12*``,
and says so when it is nowhere.

Wheels: bench/gpu_smoke_wheels.txt lists what the smoke needs beyond torch, transformers, peft and
accelerate (``carry``: 55.2 MiB; ``box``: on the lent box's image); the run prints the missing ones.
On a lent GPU box (Python 3.12, torch 2.11 cu130, transformers 5.17; docs/gpu-smoke.md)::

    # here, once (PyPI reachable): the carried wheels into .whl/ (ignored by git)
    echo /.whl/ >> .git/info/exclude
    awk '$1 == "carry" {print $2}' bench/gpu_smoke_wheels.txt | xargs python3 -m pip download --no-deps \\
        --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \\
        --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl
    # on the box (carry .whl): install --no-deps, then run
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
    PYTHONUNBUFFERED=1 python3 bench/gpu_smoke.py --out "$OUT/gpu_smoke.json"

Where Nix is on the box, ``--env`` runs the smoke in the steps' own store env of
requirements.lock (built with Nix from the checkout, or ``--env PATH``) — the stack the cuda
steps run, carried libraries and glibc included — instead of the box's wheels; the first line
and ``environment.stack`` of the JSON say which stack was measured (:func:`stack`).

Here (CPU, tests): ``.venv/bin/python bench/gpu_smoke.py --allow-cpu --out /tmp/gpu_smoke.json``.
Exit status: 0 when every stage passed, 1 otherwise (each failure names its stage and cause),
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import glob
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
WHEELS_FILE = Path(__file__).with_name("gpu_smoke_wheels.txt")

STAGES = ("asr", "caption", "omni", "latents-ltx2", "latents-wan21", "train-ltx2", "train-wan21")
STEP_OF = {"asr": "step2-transcript-base", "caption": "step2-caption", "omni": "step2-transcript-disambiguate",
           "latents-ltx2": "step4-ltx2-preprocess",
           "latents-wan21": "step4-wan21-preprocess", "train-ltx2": "step5-ltx2-train", "train-wan21": "step5-wan21-train"}
NEEDS = {"train-ltx2": "latents-ltx2", "train-wan21": "latents-wan21"}
BOX_BASE = ("torch", "transformers", "peft", "accelerate")  # what the lent box's Python is assumed to hold

DATASET = "gpu-smoke"
VIDEO_ID = "smoke01"
TRIGGER = "rssmoke"
SEED = 20240611
TRAIN_STEPS = 20
AUDIO_S = 8.0                       # seconds of synthetic speech-like audio for ASR
CLIP = {"width": 64, "height": 64, "frames": 9, "fps": 24.0}   # LTX-2: /32 and 8n+1; Wan 2.1: /16 and 4n+1
CLIPS = 2                           # clips per package and per caption run
CAPTION_CFG = {"fps": 2.0, "max_frames": 4, "max_pixels": 16 * 28 * 28, "min_pixels": 4 * 28 * 28,
               "batch_size": CLIPS, "max_new_tokens": 160, "max_chars": 40}
OMNI_SEGMENTS = 2                   # segments of the omni stage, one generate batch
OMNI_CFG = {"frames": 4, "max_pixels": 16 * 28 * 28, "max_new_tokens": 160, "max_text_chars": 40}
# [asr]: fixed 30 s windows (decoding runs whatever Silero VAD hears in synthetic audio); no third
# pass where the guards have `min_coverage` (sequential decoder with temperature fallback: up to
# 6 x 448 tokens of a random model, 40 s on 2 CPU cores) — the first two passes run CTranslate2's
# batched generate and alignment
ASR_CFG = {"vad": False}
ASR_GUARDS = {"min_coverage": 0.0}
TRAIN_CFG = {"rank": 4, "alpha": 4, "learning_rate": 1e-4, "seed": 7}
MAX_TEXT_TOKENS = 32                # a multiple of the tiny LTX-2 connector's 8 registers
MEMORY_SAMPLE_S = 0.02


# --------------------------------------------------------------------------- wheels
@dataclass(frozen=True)
class Wheel:
    """One line of bench/gpu_smoke_wheels.txt: ``where`` (carry / box / absent), the
    distribution ``name`` and ``version``, the wheel's size (``mib``, MiB), the ``module`` it is
    imported as ('-' for none), the ``stages`` needing it (stage names; 'all'; '?' = optional)."""

    where: str
    name: str
    version: str
    mib: float
    module: str
    stages: tuple[str, ...]

    def needed_by(self, stage: str) -> str | None:
        """'required', 'optional' or None for ``stage``."""
        for s in self.stages:
            if s.rstrip("?") in (stage, "all"):
                return "optional" if s.endswith("?") else "required"
        return None


def read_wheels(path: Path = WHEELS_FILE) -> list[Wheel]:
    """The wheel list (format in the file's header). ValueError naming the line when malformed."""
    wheels = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 5 or parts[0] not in ("carry", "box", "absent") or "==" not in parts[1]:
            raise ValueError(f"{path}:{n}: expected 'where name==version MiB module stages', got {line!r}")
        name, version = parts[1].split("==")
        stages = () if parts[4] == "-" else tuple(parts[4].split(","))
        wheels.append(Wheel(parts[0], name, version, float(parts[2]), parts[3], stages))
    return wheels


def installed_version(name: str) -> str | None:
    """Version of the installed distribution ``name``, None when not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_wheels(wheels: list[Wheel]) -> list[dict]:
    """For every carried or box wheel: ``name``, ``wanted`` version, ``installed`` version (None:
    missing), ``importable`` (its module is found)."""
    out = []
    for w in wheels:
        if w.where == "absent":
            continue
        found = w.module == "-" or importlib.util.find_spec(w.module) is not None
        out.append({"name": w.name, "where": w.where, "wanted": w.version, "installed": installed_version(w.name),
                    "importable": found, "mib": w.mib})
    return out


# --------------------------------------------------------------------------- results
@dataclass
class StageResult:
    """The figures of one stage (units in the module docstring)."""

    stage: str
    step: str
    status: str = "not run"        # ok | failed | no-cuda | missing-wheels | not run
    device: str | None = None
    wall_s: float | None = None
    prepare_s: float | None = None
    phases: dict[str, float] = field(default_factory=dict)
    torch_peak_mib: float | None = None
    device_peak_mib: float | None = None
    rss_peak_mib: float | None = None
    artifact: str | None = None
    schema: str | None = None
    schema_valid: bool = False
    counts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class StageError(Exception):
    """A stage's own check failed (wrong device, output not what the step should make)."""


class NoCuda(Exception):
    """The stage needs CUDA and the device found is the CPU (message: the stage, the device, why)."""


def mib(n_bytes: float) -> float:
    """Bytes → MiB, 1 decimal."""
    return round(n_bytes / 2**20, 1)


def rss_peak_mib() -> float:
    """This process's resident high-water mark, MiB (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Measure:
    """Context manager: wall seconds of a stage's GPU part and, where torch sees CUDA, torch's peak
    allocation (``max_memory_allocated``) and the device's used memory above its level at entry
    (``mem_get_info`` sampled every :data:`MEMORY_SAMPLE_S` s in a thread: sees CTranslate2 too)."""

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.cuda = torch.cuda.is_available()
        self.wall_s = 0.0
        self.torch_peak_mib: float | None = None
        self.device_peak_mib: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._base = self._peak = 0

    def _used(self) -> int:
        free, total = self.torch.cuda.mem_get_info()
        return total - free

    def _sample(self) -> None:
        while not self._stop.wait(MEMORY_SAMPLE_S):
            self._peak = max(self._peak, self._used())

    def __enter__(self) -> Measure:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
            self._base = self._peak = self._used()
            self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
        self.wall_s = round(time.perf_counter() - self._t0, 3)
        if self.cuda:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, self._used())
            self.torch_peak_mib = mib(self.torch.cuda.max_memory_allocated())
            self.device_peak_mib = mib(self._peak - self._base)


# --------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def replaced(obj: Any, name: str, value: Any) -> Iterator[None]:
    """``obj.name`` is ``value`` inside the block, the original again after it."""
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextlib.contextmanager
def spied(obj: Any, name: str) -> Iterator[list]:
    """Inside the block, every return value of the function ``obj.name`` is appended to the
    yielded list (to look at the model a step loaded). ``obj``: a module, or a class whose
    ``name`` is a staticmethod (a family's model class)."""
    calls: list = []
    fn = getattr(obj, name)

    def wrapper(*args, **kwargs):
        result = fn(*args, **kwargs)
        calls.append(result)
        return result

    with replaced(obj, name, staticmethod(wrapper) if isinstance(obj, type) else wrapper):
        yield calls


@contextlib.contextmanager
def torch_threads_kept() -> Iterator[None]:
    """tools/make_tiny_models.py sets one torch thread (determinism); the stages get theirs back."""
    import torch

    n = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(n)


@contextlib.contextmanager
def placeholder_modules(*names: str) -> Iterator[None]:
    """Inside the block, an empty placeholder answers ``import <name>`` for each of ``names`` that
    is not installed, and is removed after it (so no library later takes it for installed).

    For the ASR code's imports whose use the smoke never reaches: ``faster_whisper.audio`` imports
    PyAV (``av``, not carried: 34 MiB) for ``decode_audio`` (the smoke's audio is a numpy array),
    tools/step2_transcript_base.py imports ``srt`` (an sdist only) for the subtitles it writes in
    ``run``, which the smoke does not call. Any attribute of a placeholder raises AttributeError."""
    stubs = {}
    for name in names:
        if importlib.util.find_spec(name) is None:
            stub = types.ModuleType(name)

            def missing(attr: str, name: str = name):
                raise AttributeError(f"{name}.{attr}: {name} is not installed (bench/gpu_smoke.py placeholder)")

            stub.__getattr__ = missing
            stubs[name] = sys.modules[name] = stub
    try:
        yield
    finally:
        for name, stub in stubs.items():
            if sys.modules.get(name) is stub:
                del sys.modules[name]


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Inside the block, file descriptor 1 writes to stderr: what the libraries print (the
    tokenizers trainer's progress comes from Rust, past ``sys.stdout``) stays out of the table."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def module_device(module: Any) -> str:
    """'cuda' / 'cpu': where the torch module's first parameter lives."""
    return next(module.parameters()).device.type


def step_policy(step: str, allow_cpu: bool) -> Any:
    """The device policy of cuda step ``step`` (reelset.device.DevicePolicy, as the harness builds
    it): GPU required unless ``allow_cpu``."""
    from reelset.device import DevicePolicy
    from reelset.schemas.base import StepSpec

    return DevicePolicy.from_spec(StepSpec(step=step, dataset=DATASET, device="cuda", config={"device": {"allow_cpu": allow_cpu}}))


def require_device(ctx: Context, res: StageResult, library: str) -> str:
    """The device the stage's library picks under the stage's policy (``ctx.policy``; 'cuda' /
    'cpu'); :class:`NoCuda` naming the stage, the device found and the reason when CUDA is
    required but absent."""
    from reelset import ReelsetError

    try:
        return ctx.policy.pick(library)
    except ReelsetError as exc:
        res.device = "cpu"
        raise NoCuda(f"stage {res.stage} ({res.step}) needs a CUDA device, but the device found is the CPU: {exc} "
                     f"Run it on a CUDA machine, or pass --allow-cpu to run the stages on the CPU on purpose.") from exc


def model_ref(name: str, path: Path) -> Any:
    """A ModelRef for a tiny model built here."""
    from reelset.schemas.base import ModelRef

    return ModelRef(name=name, repo="reelset:bench/gpu_smoke.py", revision="built", path=str(path))


def validate(res: StageResult, path: Path, schema: type) -> Any:
    """Read ``path`` back and validate it by ``schema`` (reelset.step.read_artifact); recorded in ``res``."""
    from reelset.step import read_artifact

    res.artifact, res.schema = str(path), schema.__name__
    art = read_artifact(path, schema)
    res.schema_valid = True
    return art


# --------------------------------------------------------------------------- synthetic inputs
def pcm_of(audio):
    """float32 samples in [-1, 1] → int16 (what ``media.decode_audio_16k(pcm16=True)`` returns)."""
    import numpy as np

    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


def speech_like(seconds: float = AUDIO_S, rate: int = 16000, seed: int = SEED):
    """Voiced-speech-like audio, float32 (n,) at ``rate`` Hz: a harmonic tone on a gliding pitch
    (110-170 Hz), gated into 4 Hz syllables with a 0.5 s pause every 2.5 s, plus faint noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(140 + 30 * np.sin(2 * np.pi * 0.5 * t)) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    gate = (np.sin(2 * np.pi * 4 * t) > -0.2) * (t % 2.5 < 2.0)
    return (0.1 * voiced * gate + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def synthetic_frames(n: int, height: int, width: int, seed: int):
    """``n`` RGB frames (n, height, width, 3) uint8: moving colour ramps plus noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for k in range(n):
        rgb = np.stack([(x + 3 * k) % width / width, (y + 2 * k) % height / height,
                        0.5 + 0.5 * np.sin((x + y + 4 * k) / 7)], axis=-1)
        frames.append(np.clip(rgb * 200 + rng.integers(0, 40, rgb.shape), 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_clip(path: Path, frames, fps: float, audio_rate: int | None = None, seed: int = SEED) -> None:
    """A clip as ``.npz``: ``frames`` (F, H, W, 3) uint8, ``fps`` and, with ``audio_rate``, stereo
    float32 ``audio`` (2, F / fps * rate) at that rate."""
    import numpy as np

    data = {"frames": frames, "fps": np.float64(fps)}
    if audio_rate:
        mono = speech_like(len(frames) / fps, audio_rate, seed)
        data.update(audio=np.stack([mono, 0.8 * mono]), audio_rate=np.int64(audio_rate))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)


def read_clip(path: Path) -> tuple[Any, float]:
    """Stands in for ``reelset.train.read_frames`` (PyAV): (frames, fps) of an ``.npz`` clip."""
    import numpy as np

    with np.load(path) as data:
        return data["frames"], float(data["fps"])


def read_clip_with_audio(path: Path, audio: bool, audio_rate: int) -> tuple[Any, float, Any]:
    """Stands in for ``reelset.families.ltx2.model._read_clip`` (PyAV): frames, fps and, when ``audio``, the
    stereo track resampled (linear) to ``audio_rate`` Hz, else None."""
    import numpy as np

    with np.load(path) as data:
        frames, fps = data["frames"], float(data["fps"])
        wave = None
        if audio and "audio" in data:
            src, rate = data["audio"], int(data["audio_rate"])
            n = int(src.shape[1] * audio_rate / rate)
            t = np.arange(n) * rate / audio_rate
            wave = np.stack([np.interp(t, np.arange(src.shape[1]), ch) for ch in src]).astype(np.float32)
    return frames, fps, wave


def sample_clip_frames(clip: Path, duration: float, cfg: Any, folder: Path) -> tuple[list[Path], float]:
    """Stands in for ``step2_caption.sample_frames`` (ffmpeg): the ``.npz`` clip's frames at
    ``min(fps, max_frames / duration)`` frames per second (at most ``max_frames``) as JPEGs in
    ``folder``: (files, rate)."""
    from PIL import Image

    frames, fps = read_clip(clip)
    rate = min(cfg.fps, cfg.max_frames / max(duration, 1e-3))
    folder.mkdir(parents=True)
    picks = sorted({min(len(frames) - 1, int(k * fps / rate)) for k in range(cfg.max_frames) if k / rate < duration})
    files = []
    for k, i in enumerate(picks or [0]):
        files.append(folder / f"{k + 1:04d}.jpg")
        Image.fromarray(frames[i]).save(files[-1], quality=90)
    return files, rate


# --------------------------------------------------------------------------- tiny models
WHISPER_SPECIAL = ["<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
                   "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
WHISPER_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>, appended by the converter after <|notimestamps|>


def make_tiny_whisper(out: Path) -> Path:
    """A random-weight English-only Whisper in CTranslate2 format, in ``out/ct2`` (returned).

    ``WhisperForConditionalGeneration``: 2 encoder + 2 decoder layers of width 64 (4 heads, FFN
    128), 80 mel bins, 30 s windows (1500 encoder positions), weights from
    ``torch.manual_seed(SEED)``; a byte-level BPE tokenizer trained here on
    tools/make_tiny_models.py's CORPUS to 400 tokens, Whisper's special tokens after them with
    ``<|notimestamps|>`` last, so the 1501 timestamp tokens the converter appends follow it (what
    faster-whisper's tokenizer assumes); the vocabulary (< 51865) makes CTranslate2 treat it as
    English-only. Converted by ``ctranslate2.converters.TransformersConverter`` (float32 weights;
    CTranslate2 converts to float16/int8 at load) with ``tokenizer.json`` and
    ``preprocessor_config.json`` beside ``model.bin``, as faster-whisper reads them."""
    import torch
    from ctranslate2.converters import TransformersConverter
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    from make_tiny_models import CORPUS

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS.splitlines(), trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    bpe.add_special_tokens(WHISPER_SPECIAL)
    eot_token = WHISPER_SPECIAL[0]
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=eot_token, eos_token=eot_token, pad_token=eot_token)
    eot, sot = tok.convert_tokens_to_ids("<|endoftext|>"), tok.convert_tokens_to_ids("<|startoftranscript|>")
    torch.manual_seed(SEED)
    config = WhisperConfig(
        vocab_size=len(tok) + WHISPER_TIMESTAMPS, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
        decoder_start_token_id=sot, suppress_tokens=[], begin_suppress_tokens=[eot])
    hf = out / "hf"
    WhisperForConditionalGeneration(config).eval().save_pretrained(hf)
    tok.save_pretrained(hf)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(hf)
    TransformersConverter(str(hf), copy_files=["tokenizer.json", "preprocessor_config.json"]).convert(str(out / "ct2"))
    return out / "ct2"


def tiny_model(ctx: Context, name: str, build: Callable[[Path], None]) -> Path:
    """The tiny model ``name`` (a nix/models.toml name), built once into ``ctx.work/name`` by
    ``build(out)`` (a recipe of tools/make_tiny_models.py) with torch's thread count kept."""
    if name not in ctx.models:
        out = ctx.work / name
        out.mkdir()
        with torch_threads_kept():
            build(out)
        ctx.models[name] = out
    return ctx.models[name]


def tiny_diffusion(ctx: Context, family: str) -> Path:
    """The tiny diffusers pipeline of ``family`` (its recipe, reelset/families/<family>/tiny.py), built once."""
    from reelset import families

    return tiny_model(ctx, f"tiny-{family}", families.get(family).tiny.make)


# --------------------------------------------------------------------------- stages
@dataclass
class Context:
    """What the stages share: the work folder, the policy, the training steps, where to look for
    CUDA 12 cuBLAS, and what earlier stages made (tiny models and latents by family)."""

    work: Path
    allow_cpu: bool
    steps: int
    cublas_dirs: list[Path]
    models: dict[str, Path] = field(default_factory=dict)
    latents: dict[str, Path] = field(default_factory=dict)
    policy: Any = None  # the running stage's reelset.device.DevicePolicy (run_stage)


def preload_cublas12(extra: list[Path]) -> str | None:
    """Make ``libcublas.so.12`` loadable for CTranslate2 (it dlopens it by name at the first GEMM):
    already loadable → 'found by the loader'; else the first folder holding it among ``extra``,
    ``nvidia/cublas/lib`` under sys.path and ``/usr/local/cuda-12*/lib64`` is preloaded
    (libcublasLt first, RTLD_GLOBAL: ld.so then matches the soname) → that folder; None when none has it."""
    try:
        ctypes.CDLL("libcublas.so.12")
        return "found by the loader"
    except OSError:
        pass
    folders = [*extra, *(Path(p) / "nvidia" / "cublas" / "lib" for p in sys.path if p),
               *map(Path, sorted(glob.glob("/usr/local/cuda-12*/lib64")))]
    for folder in folders:
        if (folder / "libcublas.so.12").is_file():
            for lib in ("libcublasLt.so.12", "libcublas.so.12"):
                ctypes.CDLL(str(folder / lib), mode=ctypes.RTLD_GLOBAL)
            return str(folder)
    return None


def stage_asr(ctx: Context, res: StageResult) -> None:
    """step2-transcript-base's GPU part: the step's own ``transcribe`` (module docstring)."""
    with placeholder_modules("av", "srt"):
        import step2_transcript_base
    from reelset import media
    from reelset.asr import decode as asr_decode
    from reelset.asr import whisper as asr_whisper
    from reelset.schemas.transcript import AsrConfig, GuardConfig, TranscriptArtifact
    from reelset.step import Timer, write_json

    device = require_device(ctx, res, "ctranslate2")
    t0 = time.perf_counter()
    model_dir = make_tiny_whisper(ctx.work / "tiny-whisper")
    audio = speech_like()
    res.prepare_s = round(time.perf_counter() - t0, 3)
    cublas = None
    if device == "cuda":
        cublas = preload_cublas12(ctx.cublas_dirs)
        res.notes.append(f"libcublas.so.12: {cublas or 'not found'}")
    guards = {k: v for k, v in ASR_GUARDS.items() if k in GuardConfig.model_fields}
    cfg = AsrConfig.model_validate({**ASR_CFG, "guards": guards})
    vad = contextlib.nullcontext()
    if importlib.util.find_spec("onnxruntime") is None:
        vad = replaced(asr_decode, "speech_timestamps", lambda audio, cfg: [])
        res.notes.append("onnxruntime missing: no Silero VAD regions")
    timer = Timer()
    try:
        with (replaced(media, "decode_audio_16k", lambda src, pcm16=False, **_: pcm_of(audio) if pcm16 else audio), vad, spied(asr_whisper, "load_whisper") as loaded,
              Measure() as m):
            fields = step2_transcript_base.transcribe(Path(f"{VIDEO_ID}.synthetic"), model_dir, cfg, timer, ctx.policy)
    except Exception as exc:
        if device == "cuda" and cublas is None:
            raise StageError(f"{type(exc).__name__}: {exc} — CTranslate2 {installed_version('ctranslate2')} is a CUDA 12 "
                             "build and libcublas.so.12 is not on this machine: install nvidia-cublas-cu12==12.9.3.13 "
                             "(554 MiB, more than a device call carries) or give --cublas12 DIR") from exc
        raise
    res.wall_s, res.phases, res.device_peak_mib = m.wall_s, timer.timings, m.device_peak_mib
    res.notes.append("torch_peak_mib not measurable: CTranslate2 allocates outside torch (device_peak_mib counts it)")
    ct2 = loaded[0][0].model
    res.device = ct2.device
    if fields["device"] == "cuda" and fields["compute_type"] != "float16":
        raise StageError(f"CTranslate2 ran in {fields['compute_type']} on CUDA, not float16")
    art = TranscriptArtifact(video_id=VIDEO_ID, has_audio=True, model=model_ref("tiny-whisper", model_dir), **fields)
    out = ctx.work / "asr"
    out.mkdir()
    write_json(out / "transcript.json", art)
    art = validate(res, out / "transcript.json", TranscriptArtifact)
    res.counts = {"segments": len(art.segments), "words": sum(len(s.words) for s in art.segments),
                  "flagged_segments": sum(bool(s.flags) for s in art.segments), "speech_regions": len(art.speech_regions),
                  "batch_size": art.batch_size, "compute_type": art.compute_type, "ct2_compute_type": ct2.compute_type}


def caption_inputs(root: Path) -> dict[str, str]:
    """step1-scenes, step2-scene-context and step2-bible outputs for :data:`CLIPS` synthetic clips
    (96x64, 1.5 s at 12 fps, ``.npz``) of video :data:`VIDEO_ID`; the folders by step name."""
    from reelset.schemas.bible import Bible, BibleArtifact, BibleTerm, Character
    from reelset.schemas.context import ClipContext, SceneContextArtifact
    from reelset.schemas.scenes import Scene, ScenesArtifact, VideoInfo
    from reelset.step import write_json

    fps, n, w, h = 12.0, 18, 96, 64
    dirs = {s: root / s for s in ("step1-scenes", "step2-scene-context", "step2-bible")}
    for d in dirs.values():
        d.mkdir(parents=True)
    scenes, contexts = [], []
    for i in range(CLIPS):
        clip_id = f"{VIDEO_ID}-s{i + 1:04d}"
        write_clip(dirs["step1-scenes"] / "clips" / f"{clip_id}.npz", synthetic_frames(n, h, w, SEED + i), fps)
        start, end = i * n, (i + 1) * n
        scenes.append(Scene(index=i, clip_id=clip_id, start_frame=start, end_frame=end, frame_count=n, start_s=start / fps,
                            end_s=end / fps, clip=f"clips/{clip_id}.npz", thumbnail=f"thumbnails/{clip_id}.jpg", width=w, height=h))
        contexts.append(ClipContext(clip_id=clip_id, start_s=start / fps, end_s=end / fps, characters=["Archer"],
                                    character_evidence={"Archer": ["speaker"]}, place=None, lines=[],
                                    context="Archer talks to Lana in the office."))
    source = VideoInfo(file=f"{VIDEO_ID}.npz", container="npz", codec="rawvideo", width=w, height=h, sample_aspect_ratio="1:1",
                       display_width=w, display_height=h, fps=fps, fps_rational="12/1", vfr=False, duration_s=CLIPS * n / fps, has_audio=False)
    write_json(dirs["step1-scenes"] / "scenes.json", ScenesArtifact(
        video_id=VIDEO_ID, source=source, analysis_fps=fps, total_frames=CLIPS * n, detector={"name": "synthetic"}, scenes=scenes))
    write_json(dirs["step2-scene-context"] / "context.json",
               SceneContextArtifact(video_id=VIDEO_ID, trigger_word=TRIGGER, clips=contexts))
    bible = Bible(series="Smoke", trigger_word=TRIGGER, caption_style=["Describe what is visible."],
                  characters=[Character(name="Archer", description="a man in a dark suit"),
                              Character(name="Lana", description="a woman in a white blouse")])
    terms = [BibleTerm(text=c.name, canonical=c.name, kind="character", role="name") for c in bible.characters]
    write_json(dirs["step2-bible"] / "bible.json", BibleArtifact(source="bible.yaml", source_sha256="0" * 64, bible=bible, terms=terms))
    return {k: str(v) for k, v in dirs.items()}


def stage_caption(ctx: Context, res: StageResult) -> None:
    """step2-caption's GPU part (module docstring)."""
    import make_tiny_models

    require_device(ctx, res, "torch")
    t0 = time.perf_counter()
    model_dir = tiny_model(ctx, "tiny-qwen2.5-vl", make_tiny_models.make_qwen25_vl)
    inputs = caption_inputs(ctx.work / "caption-inputs")
    res.prepare_s = round(time.perf_counter() - t0, 3)

    import step2_caption
    from reelset import media, vlm
    from reelset.schemas.base import StepSpec
    from reelset.schemas.captions import CaptionsArtifact
    from reelset.step import context

    spec = StepSpec(step=res.step, dataset=DATASET, device="cuda", video_id=VIDEO_ID, inputs=inputs,
                    models={"vlm": model_ref("tiny-qwen2.5-vl", model_dir)},
                    config={"caption": CAPTION_CFG, "device": {"allow_cpu": ctx.allow_cpu}})
    out = ctx.work / "caption"
    out.mkdir()
    run_ctx = context(spec, out, step2_caption.STEP, policy=ctx.policy)  # as the harness builds it
    timer = run_ctx.timer
    with (replaced(step2_caption, "sample_frames", sample_clip_frames),
          replaced(media, "program_version", lambda name: f"{name}: not run (frames from .npz)"),
          spied(vlm, "load") as loaded, Measure() as m):
        step2_caption.run(run_ctx)
    record_measure(res, m, timer)
    res.device = module_device(loaded[0].model)
    art = validate(res, out / "captions.json", CaptionsArtifact)
    if not art.decoding.startswith("JSON-schema constrained") or not all(c.constrained for c in art.clips):
        raise StageError(f"captions were not decoded under the JSON grammar: {art.decoding}")
    res.counts = {"clips": len(art.clips), "ok": sum(c.status == "ok" for c in art.clips),
                  "fallback": sum(c.status == "fallback" for c in art.clips), "new_tokens": sum(c.new_tokens for c in art.clips),
                  "dtype": str(loaded[0].dtype).removeprefix("torch.")}


def stage_omni(ctx: Context, res: StageResult) -> None:
    """The audio-visual multimodal pass's model code (module docstring)."""
    from PIL import Image

    import make_tiny_models

    require_device(ctx, res, "torch")
    t0 = time.perf_counter()
    model_dir = tiny_model(ctx, "tiny-qwen2.5-omni-thinker", make_tiny_models.make_qwen25_omni_thinker)
    pictures = ctx.work / "omni-frames"
    pictures.mkdir()
    frames = synthetic_frames(1 + OMNI_SEGMENTS * OMNI_CFG["frames"], 64, 96, SEED)
    paths = []
    for i, frame in enumerate(frames):
        paths.append(pictures / f"f{i:02d}.png")
        Image.fromarray(frame).save(paths[-1])
    seconds = 2.0
    audio = speech_like(seconds * OMNI_SEGMENTS)
    res.prepare_s = round(time.perf_counter() - t0, 3)

    from reelset import answers, vlm
    from reelset.schemas.disambiguate import ModelSegmentAnswer, segment_answer_schema
    from reelset.step import Timer, write_json

    timer = Timer()
    with Measure() as m:
        with timer.phase("load"):
            model = vlm.load(model_dir, ctx.policy)
            grammar, decoding = vlm.answer_grammar(model, ModelSegmentAnswer, True,
                                                   segment_answer_schema(["Archer", "Lana"], OMNI_CFG["max_text_chars"]))
        convs = []
        for k in range(OMNI_SEGMENTS):
            clip = audio[int(k * seconds * vlm.AUDIO_RATE):int((k + 1) * seconds * vlm.AUDIO_RATE)]
            seg_frames = paths[1 + k * OMNI_CFG["frames"]:1 + (k + 1) * OMNI_CFG["frames"]]
            convs.append(vlm.chat(f"Picture 1: Archer. Who speaks in segment {k + 1}, and what is said? Answer in JSON.",
                                  images=[paths[0]], videos=[seg_frames], audios=[clip], max_pixels=OMNI_CFG["max_pixels"],
                                  fps=OMNI_CFG["frames"] / seconds, system="You answer with one JSON object."))
        calls: list[dict] = []
        generate = model.model.generate

        def recorded(*args, **kwargs):
            calls.append(kwargs)
            return generate(*args, **kwargs)

        with timer.phase("generate"), replaced(model.model, "generate", recorded):
            gens = vlm.generate(model, convs, max_new_tokens=OMNI_CFG["max_new_tokens"], grammar=grammar)
    record_measure(res, m, timer)
    res.device = module_device(model.model)
    if grammar is None or not model.hears_audio:
        raise StageError(f"the tiny Omni thinker did not load as an audio-visual model under the grammar: {decoding}")
    kwargs = calls[0]
    audio_id = model.processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    audio_tokens = [row.count(audio_id) for row in kwargs["input_ids"].tolist()]
    if "input_features" not in kwargs or min(audio_tokens) < 1:
        raise StageError(f"the audio did not reach the model: audio tokens per prompt {audio_tokens}")
    parsed = [answers.parse_json(g.text, ModelSegmentAnswer, hit_limit=g.hit_limit) for g in gens]
    bad = [p.reason for p in parsed if p.value is None]
    if bad:
        raise StageError(f"{len(bad)}/{len(parsed)} answers unusable under the grammar: {bad[0]}")
    out = ctx.work / "omni"
    out.mkdir()
    write_json(out / "answer.json", parsed[0].value)
    validate(res, out / "answer.json", ModelSegmentAnswer)
    res.counts = {"segments": len(gens), "audio_tokens": sum(audio_tokens), "prompt_tokens": sum(g.prompt_tokens for g in gens),
                  "new_tokens": sum(g.new_tokens for g in gens), "dtype": str(model.dtype).removeprefix("torch.")}


def record_measure(res: StageResult, m: Measure, timer: Any) -> None:
    """Copy a torch stage's :class:`Measure` and phase times into ``res``."""
    res.wall_s, res.phases = m.wall_s, timer.timings
    res.torch_peak_mib, res.device_peak_mib = m.torch_peak_mib, m.device_peak_mib


def make_package(root: Path, family: str) -> Path:
    """A step3 package (manifest.json + ``dataset/videos/<clip>.npz``) of :data:`CLIPS` synthetic
    clips of size :data:`CLIP`, every clip kept; LTX-2's with 16 kHz stereo audio."""
    from reelset.schemas.manifest import PackagedClip, PackageManifest
    from reelset.step import write_json

    w, h, f, fps = CLIP["width"], CLIP["height"], CLIP["frames"], CLIP["fps"]
    clips = []
    for i in range(CLIPS):
        clip_id = f"{VIDEO_ID}-s{i + 1:04d}"
        rel = f"dataset/videos/{clip_id}.npz"
        write_clip(root / rel, synthetic_frames(f, h, w, SEED + i), fps, 16000 if family == "ltx2" else None, SEED + i)
        clips.append(PackagedClip(item_id=f"{clip_id}-w00", clip_id=clip_id, video_id=VIDEO_ID, window=0, fate="kept", caption=f"{TRIGGER} a person walks through a door",
                                  caption_source="model", file=rel, bucket=f"{w}x{h}x{f}" if family == "ltx2" else f"{w}x{h}",
                                  frames=f, width=w, height=h, fps=fps))
    write_json(root / "manifest.json", PackageManifest(
        trainer=family, dataset=DATASET, config={}, trigger_word=TRIGGER, trigger_prepended=True, package_dir="dataset",
        files=[], reviewed_accepted=CLIPS, reviewed_rejected=0, kept=CLIPS, dropped=0, frames_written=CLIPS * f,
        source_frames_trimmed=0, clips=clips))
    return root


def stage_latents(family: str) -> Callable[[Context, StageResult], None]:
    """step4-<family>-preprocess's GPU part (module docstring)."""

    def run(ctx: Context, res: StageResult) -> None:
        require_device(ctx, res, "torch")
        t0 = time.perf_counter()
        model_dir = tiny_diffusion(ctx, family)
        pkg = make_package(ctx.work / f"package-{family}", family)
        res.prepare_s = round(time.perf_counter() - t0, 3)

        import importlib

        import step4_preprocess
        from reelset import families
        from reelset.schemas.base import StepSpec
        from reelset.schemas.latents import LatentIndex
        from reelset.step import context

        declared = families.get(family)
        fam = importlib.import_module(declared.model_ref.split(":")[0])  # the module of the model class
        model_cls = type(declared.model())
        decoder = ("_read_clip", read_clip_with_audio) if family == "ltx2" else ("read_frames", read_clip)
        spec = StepSpec(step=res.step, dataset=DATASET, device="cuda", inputs={declared.package_step: str(pkg)},
                        models={"base": model_ref(f"tiny-{family}", model_dir)},
                        config={f"{family}_preprocess": {"max_text_tokens": MAX_TEXT_TOKENS}, "device": {"allow_cpu": ctx.allow_cpu}})
        out = ctx.work / f"latents-{family}"
        out.mkdir()
        run_ctx = context(spec, out, step4_preprocess.declare(declared), policy=ctx.policy)
        timer = run_ctx.timer
        with replaced(fam, *decoder), spied(model_cls, "load_pipeline") as loaded, Measure() as m:
            step4_preprocess.run(run_ctx)
        record_measure(res, m, timer)
        res.device = module_device(loaded[0].vae)
        idx = validate(res, out / "latents.json", LatentIndex)
        missing = [f for c in idx.clips for f in c.files.values() if not (out / f).is_file()]
        if len(idx.clips) != CLIPS or missing:
            raise StageError(f"latents.json lists {len(idx.clips)} clips of {CLIPS}; files missing: {missing}")
        res.counts = {"clips": len(idx.clips), "audio_latents": sum("audio_latents" in c.files for c in idx.clips),
                      "latent_shape": idx.clips[0].shapes["latents/latents"]}
        ctx.latents[family] = out

    return run


def stage_train(family: str) -> Callable[[Context, StageResult], None]:
    """One step5-<family>-train segment of ``ctx.steps`` LoRA steps (module docstring)."""

    def run(ctx: Context, res: StageResult) -> None:
        require_device(ctx, res, "torch")

        import step5_train_segment
        from reelset import families
        from reelset.schemas.base import StepSpec
        from reelset.schemas.train import TrainSegment
        from reelset.step import context

        res.prepare_s = 0.0
        model_cls = type(families.get(family).model())
        spec = StepSpec(step=res.step, dataset=DATASET, device="cuda",
                        inputs={f"step4-{family}-preprocess": str(ctx.latents[family])},
                        models={"base": model_ref(f"tiny-{family}", tiny_diffusion(ctx, family))},
                        config={f"{family}_train": TRAIN_CFG, "segment": {"index": 0, "start": 0, "end": ctx.steps},
                                "device": {"allow_cpu": ctx.allow_cpu}})
        out = ctx.work / f"train-{family}"
        out.mkdir()
        run_ctx = context(spec, out, policy=ctx.policy)  # no declaration: the segment reads its own section
        timer = run_ctx.timer
        with spied(model_cls, "load_pipeline") as loaded, Measure() as m:
            step5_train_segment.run(run_ctx)
        record_measure(res, m, timer)
        res.device = module_device(loaded[0].transformer)
        seg = validate(res, out / "segment.json", TrainSegment)
        losses = [p.loss for p in seg.losses]
        if len(losses) != ctx.steps or not all(math.isfinite(v) for v in losses) or not (out / seg.lora_file).is_file():
            raise StageError(f"segment.json has {len(losses)} losses of {ctx.steps} (finite: "
                             f"{all(math.isfinite(v) for v in losses)}), LoRA file {seg.lora_file} present: {(out / seg.lora_file).is_file()}")
        train_s = timer.timings.get("train") or 0.0
        res.counts = {"steps": len(losses), "it_per_s": round(len(losses) / train_s, 2) if train_s else None,
                      "trainable_parameters": seg.trainable_parameters, "loss_first": round(losses[0], 5),
                      "loss_last": round(losses[-1], 5), "device": seg.device}

    return run


STAGE_FUNCS: dict[str, Callable[[Context, StageResult], None]] = {
    "asr": stage_asr, "caption": stage_caption, "omni": stage_omni, "latents-ltx2": stage_latents("ltx2"), "latents-wan21": stage_latents("wan21"),
    "train-ltx2": stage_train("ltx2"), "train-wan21": stage_train("wan21")}


def run_stage(name: str, ctx: Context, missing: dict[str, list[str]]) -> StageResult:
    """Run one stage under its step's device policy; never raises (the result says what failed)."""
    res = StageResult(stage=name, step=STEP_OF[name])
    if missing.get(name):
        res.status = "missing-wheels"
        res.error = f"stage {name}: missing {', '.join(missing[name])} (bench/gpu_smoke_wheels.txt)"
        return res
    ctx.policy = step_policy(res.step, ctx.allow_cpu)
    try:
        STAGE_FUNCS[name](ctx, res)
        if res.device != "cuda" and not ctx.allow_cpu:
            raise StageError(f"ran on {res.device}, not cuda")
        res.status = "ok"
    except NoCuda as exc:
        res.status, res.error = "no-cuda", str(exc)
    except Exception as exc:  # noqa: BLE001 - a smoke run reports every failure and goes on
        res.status = "failed"
        res.error = f"stage {name} ({res.step}): {type(exc).__name__}: {str(exc).strip()[:1500]}"
    finally:
        res.rss_peak_mib = rss_peak_mib()
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    return res


# --------------------------------------------------------------------------- environment
def canonical(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requires_closure(roots: tuple[str, ...] | list[str]) -> set[str]:
    """Canonical names of the installed distributions ``roots`` and all they require (markers
    evaluated without extras), as installed here."""
    from packaging.requirements import Requirement

    dists = {canonical(d.metadata["Name"]): d for d in importlib.metadata.distributions()}
    seen: set[str] = set()
    todo = [canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen or name not in dists:
            continue
        seen.add(name)
        for line in dists[name].requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonical(req.name))
    return seen


def box_distributions(wheels: list[Wheel]) -> set[str]:
    """Canonical names of what the smoke may import on a lent box: :data:`BOX_BASE` and the wheel
    list's ``box`` packages with all they require (as installed here), and the carried wheels."""
    box = requires_closure([*BOX_BASE, *(w.name for w in wheels if w.where == "box")])
    return box | {canonical(w.name) for w in wheels if w.where == "carry"}


def imported_distributions() -> dict[str, list[str]]:
    """Distributions whose modules this process imported (canonical name → top-level modules),
    the standard library and the repo's own modules left out; a module of no distribution is
    listed as 'module:<name>'."""
    mapping = importlib.metadata.packages_distributions()
    stdlib = tuple(os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib"))
    found: dict[str, list[str]] = {}
    for name, module in list(sys.modules.items()):
        if "." in name or name in sys.stdlib_module_names or name in ("__main__", "sitecustomize", "usercustomize"):
            continue
        where = os.path.realpath(getattr(module, "__file__", None) or "")
        in_stdlib = where.startswith(stdlib) and not {"site-packages", "dist-packages"} & set(Path(where).parts)
        if not getattr(module, "__file__", None) or where.startswith(str(REPO)) or in_stdlib:
            continue
        for dist in mapping.get(name, [f"module:{name}"]):
            found.setdefault(canonical(dist), []).append(name)
    return {k: sorted(v) for k, v in sorted(found.items())}


def stack() -> str:
    """Which Python stack runs the smoke: ``store env <path>`` when this interpreter is the steps'
    store env of requirements.lock (a ``/nix/store`` prefix holding ``reelset-lock.sha256``: what
    the cuda steps run, ``--env``), else ``this interpreter <path> (not the steps' store env: …)``
    — the box's own wheels, whose versions may differ from the lock's."""
    prefix = Path(os.path.realpath(sys.prefix))
    if str(prefix).startswith("/nix/store/") and (prefix / "reelset-lock.sha256").is_file():
        return f"store env {prefix}"
    return f"this interpreter {sys.executable} (not the steps' store env: the box's own wheels; --env runs the lock's)"


def store_env(given: str) -> Path:
    """The steps' store env for ``--env``: ``given`` when it is a path, else (``auto``) built
    with Nix from this checkout (``nix build --impure .#host.python-env``). RuntimeError with
    the reason when there is no Nix or the build fails."""
    if given != "auto":
        if not (Path(given) / "bin" / "python").exists():
            raise RuntimeError(f"{given}: no bin/python: not a store env of requirements.lock "
                               "(nix build --impure .#host.python-env makes one)")
        return Path(given)
    nix = shutil.which("nix")
    if nix is None:
        raise RuntimeError("no nix on PATH: --env auto builds the store env with Nix; give --env PATH, or run "
                           "without --env (the box's own wheels)")
    proc = subprocess.run([nix, "--extra-experimental-features", "nix-command flakes", "build", "--impure", "--no-link",
                           "--json", f"{REPO}#host.python-env"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nix build .#host.python-env failed: {proc.stderr.strip()[-600:]}")
    return Path(json.loads(proc.stdout)[0]["outputs"]["out"])


def environment() -> dict[str, Any]:
    """Interpreter (:func:`stack`), torch / CUDA / GPU and CTranslate2 facts of this machine."""
    import torch

    from reelset import device as devices

    env: dict[str, Any] = {"stack": stack(), "python": platform.python_version(), "platform": platform.platform(), "cpu": devices.cpu_model(),
                           "cpus": os.cpu_count(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
                           "cuda_available": torch.cuda.is_available(), "gpu": None, **devices.driver_info()}
    if env["cuda_available"]:
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_mib"] = mib(torch.cuda.get_device_properties(0).total_memory)
    for name in ("transformers", "diffusers", "peft", "accelerate", "ctranslate2", "faster-whisper", "xgrammar", "onnxruntime"):
        env[name] = installed_version(name)
    if importlib.util.find_spec("ctranslate2") is not None:
        import ctranslate2

        env["ctranslate2_cuda_devices"] = ctranslate2.get_cuda_device_count()
    return env


def plan(requested: str | None) -> list[str]:
    """The stages to run in :data:`STAGES` order: ``requested`` (comma list; None = all) plus the
    latents stage each training stage needs. ValueError for an unknown name."""
    names = STAGES if not requested else [s.strip() for s in requested.split(",") if s.strip()]
    unknown = [s for s in names if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    wanted = set(names) | {NEEDS[s] for s in names if s in NEEDS}
    return [s for s in STAGES if s in wanted]


def table(results: list[StageResult]) -> str:
    """The figures as a fixed-width text table."""
    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

    head = ("stage", "step", "status", "device", "wall s", "prep s", "torch MiB", "device MiB", "RSS MiB", "schema")
    rows = [head] + [(r.stage, r.step, r.status, fmt(r.device), fmt(r.wall_s), fmt(r.prepare_s), fmt(r.torch_peak_mib),
                      fmt(r.device_peak_mib), fmt(r.rss_peak_mib),
                      f"{r.schema} {'valid' if r.schema_valid else 'INVALID'}" if r.schema else "-") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the stages, print the table, write ``--out``; the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    ap.add_argument("--allow-cpu", action="store_true",
                    help="run the stages on the CPU where no CUDA device is visible (tests); default: CUDA required")
    ap.add_argument("--stages", help=f"comma list of stages (default all: {','.join(STAGES)}); training adds its latents stage")
    ap.add_argument("--steps", type=int, default=TRAIN_STEPS, help=f"LoRA steps per training stage (default {TRAIN_STEPS})")
    ap.add_argument("--work", type=Path, help="work folder, kept (default: a temporary folder, removed)")
    ap.add_argument("--cublas12", type=Path, action="append", default=[],
                    help="folder holding libcublas.so.12 for CTranslate2 on CUDA (repeatable)")
    ap.add_argument("--env", nargs="?", const="auto", metavar="PATH",
                    help="run in the steps' store env (PATH, or built with Nix from this checkout when no PATH is "
                         "given): the stack the cuda steps run; default: this interpreter")
    args = ap.parse_args(argv)
    if args.env is not None:
        try:
            env_path = store_env(args.env)
        except RuntimeError as exc:
            print(f"[gpu-smoke] error: --env: {exc}", file=sys.stderr)
            return 1
    if args.env is not None and os.path.realpath(env_path) != os.path.realpath(sys.prefix):
        rest, args_left = [], list(argv if argv is not None else sys.argv[1:])
        while args_left:  # the same arguments without --env [PATH]
            arg = args_left.pop(0)
            if arg == "--env":
                if args_left and not args_left[0].startswith("-"):
                    args_left.pop(0)
            elif not arg.startswith("--env="):
                rest.append(arg)
        print(f"[gpu-smoke] running in the steps' store env {env_path}", file=sys.stderr, flush=True)
        return subprocess.run([str(env_path / "bin" / "python"), "-B", "-s", str(Path(__file__).resolve()), *rest]).returncode
    try:
        stages = plan(args.stages)
    except ValueError as exc:
        ap.error(str(exc))
    if args.steps < 1:
        ap.error("--steps must be >= 1")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))

    t0 = time.perf_counter()
    wheels = read_wheels()
    status = check_wheels(wheels)
    absent = {s["name"] for s in status if not s["importable"]}
    missing = {st: [f"{w.name}=={w.version}" for w in wheels if w.name in absent and w.needed_by(st) == "required"]
               for st in stages}
    for s in status:
        if not s["importable"]:
            users = [st for st in stages if next(w for w in wheels if w.name == s["name"]).needed_by(st)]
            print(f"[gpu-smoke] missing wheel: {s['name']}=={s['wanted']} ({s['where']}, {s['mib']} MiB; "
                  f"needed by {', '.join(users) or 'no stage run now'})", file=sys.stderr)
    if any(missing.values()):
        print("[gpu-smoke] install them: python3 -m pip install --no-deps <wheels> (docs/gpu-smoke.md)", file=sys.stderr)
    try:
        env = environment()
    except ImportError as exc:
        print(f"[gpu-smoke] error: {exc}: torch and the repo's own modules must import (docs/gpu-smoke.md)", file=sys.stderr)
        return 1
    print(f"[gpu-smoke] stack: {env['stack']}", file=sys.stderr)
    print(f"[gpu-smoke] python {env['python']}, torch {env['torch']} (CUDA {env['torch_cuda']}), device: "
          f"{env['gpu'] or 'no CUDA device'}; stages: {', '.join(stages)}", file=sys.stderr)

    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(work=work, allow_cpu=args.allow_cpu, steps=args.steps, cublas_dirs=list(args.cublas12))
    results: list[StageResult] = []
    passed: set[str] = set()
    stop: str | None = None
    try:
        for name in stages:
            if stop or (name in NEEDS and NEEDS[name] not in passed):
                why = stop or f"needs stage {NEEDS[name]}, which did not pass"
                results.append(StageResult(stage=name, step=STEP_OF[name], error=f"not run: {why}"))
                continue
            print(f"[gpu-smoke] stage {name} ({STEP_OF[name]}) …", file=sys.stderr, flush=True)
            with stdout_to_stderr():  # stdout holds the table only
                res = run_stage(name, ctx, missing)
            results.append(res)
            if res.status == "ok":
                passed.add(name)
            line = f"[gpu-smoke] stage {name}: {res.status}" + (f", {res.device}, {res.wall_s} s" if res.status == "ok" else "")
            print(line + (f": {res.error}" if res.error else ""), file=sys.stderr, flush=True)
            if res.status == "no-cuda":
                stop = f"stage {name} found no CUDA device"
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    imported = imported_distributions()
    allowed = box_distributions(wheels)
    report = {
        "tool": "bench/gpu_smoke.py", "allow_cpu": args.allow_cpu, "steps": args.steps, "environment": env,
        "wheels": status, "stages": [asdict(r) for r in results],
        "ok": all(r.status == "ok" for r in results), "total_s": round(time.perf_counter() - t0, 3),
        "repo_modules": sorted(n for n, m in sys.modules.items() if (getattr(m, "__file__", None) or "").startswith(str(TOOLS))),
        "imported_distributions": sorted(imported),
        "imported_outside_box_and_wheels": sorted(d for d in imported if d not in allowed),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"total {report['total_s']:.1f} s; {'all stages passed' if report['ok'] else 'FAILED'}"
          + (f"; figures in {args.out}" if args.out else ""))
    for r in results:
        if r.status != "ok":
            print(f"FAIL {r.stage}: {r.error}", file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
