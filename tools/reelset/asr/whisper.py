"""The CTranslate2 Whisper model of the ASR steps: loading it on the device the step's policy
allows (:func:`load_whisper`, reelset/device.py), which CPU kernels CTranslate2 picked
(:func:`ct2_cpu_config`), and the two ways of decoding chosen clips of the audio — faster-whisper's
batched pipeline (:func:`decode_clips`) and its sequential decoder with Whisper's temperature
fallback (:func:`decode_sequential`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel

from reelset import ReelsetError, cpu_kernels
from reelset.asr.windows import SAMPLE_RATE, Window
from reelset.device import DevicePolicy
from reelset.hallucination import normalize
from reelset.log import log
from reelset.schemas.transcript import AsrConfig

# Default windows per batch: a batch of 30 s windows costs ~0.5 GB of activations with
# large-v3 in float16, so 16 fit a 24 GB card beside the weights; on the CPU larger batches
# stop paying off beyond the core count (measured with tiny.en on 2 cores: 8 ≈ 16).
DEFAULT_BATCH = {"cuda": 16, "cpu": 8}


def pick_device(policy: DevicePolicy) -> tuple[str, str]:
    """('cuda', 'float16') when CTranslate2 sees a CUDA device, else ('cpu', 'int8') if the
    step's device ``policy`` allows the CPU (ReelsetError otherwise, see reelset/device.py)."""
    if policy.pick("ctranslate2") == "cuda":
        return "cuda", "float16"
    return "cpu", "int8"


def default_batch_size(cfg: AsrConfig, device: str) -> int:
    """``[asr] batch_size``, or :data:`DEFAULT_BATCH` for ``device`` ('cpu' / 'cuda')."""
    return cfg.batch_size or DEFAULT_BATCH[device]


def load_whisper(model_dir: Path, cfg: AsrConfig, policy: DevicePolicy) -> tuple[WhisperModel, str, str]:
    """Load the CTranslate2 Whisper model in ``model_dir``: (model, device, compute_type).

    Picks CUDA when present, else CPU if the step's device ``policy`` allows it (reelset/device.py;
    ``DevicePolicy()`` outside a step), noting the CPU kernels into it; seeds CTranslate2's sampling with
    ``cfg.seed`` (faster-whisper's temperature fallback samples). Raises ReelsetError when ``model_dir``
    has no ``model.bin``.
    """
    if not (model_dir / "model.bin").is_file():
        raise ReelsetError(f"{model_dir}: not a CTranslate2 Whisper model directory (no model.bin)")
    device, compute_type = pick_device(policy)
    ctranslate2.set_random_seed(cfg.seed)
    log(f"ASR on {device} ({compute_type}); "
        f"{'CUDA device found' if device == 'cuda' else 'no CUDA device visible, using CPU'}")
    with ct2_cpu_config() as kernels:
        model = WhisperModel(str(model_dir), device=device, compute_type=compute_type,
                             cpu_threads=cfg.cpu_threads, num_workers=1)
    if device == "cpu" and kernels:
        log("CTranslate2 CPU kernels: " + ", ".join(f"{k} {v}" for k, v in kernels.items()))
        for k, v in kernels.items():
            policy.note(f"ctranslate2_{k}", v)
    if device == "cpu":  # what pins the numeric kernels (reelset.cpu_kernels), as this process got it
        for k, v in cpu_kernels.in_effect().items():
            policy.note(f"env_{k}", v or "unset")
        policy.note("ctranslate2_intra_threads", str(cfg.cpu_threads))
        if cpu_kernels.unpinned():
            log(f"warning: {', '.join(cpu_kernels.unpinned())} not pinned (reelset/cpu_kernels.py): the transcript "
                "may differ from another CPU's; a Nix build pins them")
    return model, device, compute_type


# CTranslate2's system-configuration log lines (src/cpu/backend.cc, src/utils.cc log_system_config)
_CT2_LINES = {"isa": re.compile(r"Selected ISA: (\S+)"), "use_mkl": re.compile(r"Use Intel MKL: (\S+)"),
              "sgemm": re.compile(r"SGEMM backend: (\S+)"), "gemm_s8": re.compile(r"GEMM_S8 backend: (\S+)")}
_ct2_config: dict[str, str] = {}


@contextmanager
def ct2_cpu_config() -> Iterator[dict[str, str]]:
    """Inside the block, CTranslate2's first model load in this process logs which CPU kernels it
    picked; on exit the yielded dict holds them: ``isa`` (AVX512 / AVX2 / AVX / GENERIC,
    ``CT2_FORCE_CPU_ISA``), ``use_mkl`` (true on GenuineIntel CPUs, else false: oneDNN;
    ``CT2_USE_MKL``), ``sgemm`` and ``gemm_s8`` (MKL / DNNL …). These decide the int8 arithmetic,
    so the words tiny.en hears on the CPU (bench/bench_asr_variants.py). CTranslate2 has no API
    for them and logs them once per process at INFO level on stderr (C++ spdlog), so the block
    points file descriptor 2 at a temporary file and parses it; later loads reuse the first
    answer."""
    found: dict[str, str] = dict(_ct2_config)
    if _ct2_config:
        yield found
        return
    import logging
    import os
    import sys
    import tempfile

    level = ctranslate2.get_log_level()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            ctranslate2.set_log_level(logging.INFO)
            yield found
        finally:
            ctranslate2.set_log_level(level)
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read()
    for line in text.splitlines():  # anything else CTranslate2 said goes to stderr as before
        if "[ctranslate2]" in line and "[info]" in line:
            continue
        print(line, file=sys.stderr)
    for key, pattern in _CT2_LINES.items():
        m = pattern.search(text)
        if m:
            found[key] = m.group(1)
    _ct2_config.update(found)


def decode_clips(model: WhisperModel, audio: np.ndarray, clips: list[tuple[float, float]], cfg: AsrConfig,
                 batch_size: int, hotwords: str | None, initial_prompt: str | None) -> list[Window]:
    """faster-whisper's batched pipeline over ``clips`` ([start, end] seconds, each <= 30 s,
    no VAD), temperature 0, word timestamps: one Window per clip (empty ones included), in
    ``clips`` order, words in the source's time."""
    if not clips:
        return []
    pipeline = BatchedInferencePipeline(model)
    fps = model.frames_per_second
    by_seek = {int(a * fps): Window(text="", avg_logprob=0.0, no_speech_prob=1.0, words=[], spans=[(a, b)])
               for a, b in clips}
    segments, _ = pipeline.transcribe(
        audio, language=cfg.language, beam_size=cfg.beam_size, word_timestamps=True, batch_size=batch_size,
        vad_filter=False, clip_timestamps=[{"start": float(a), "end": float(b)} for a, b in clips],
        hotwords=hotwords, initial_prompt=initial_prompt, without_timestamps=True)
    for s in segments:
        win = by_seek.get(s.seek)
        if win is None:  # the pipeline's seek is int(start * fps) of its clip
            win = min(by_seek.values(), key=lambda w: abs(w.spans[0][0] - s.start))
        if not win.words:
            win.avg_logprob, win.no_speech_prob = s.avg_logprob, s.no_speech_prob
        win.text = f"{win.text} {s.text.strip()}".strip()
        win.words += [(w.word.strip(), round(w.start, 3), round(w.end, 3), min(1.0, max(0.0, w.probability)))
                      for w in (s.words or []) if normalize(w.word)]
    return [by_seek[int(a * fps)] for a, _ in clips]


SLICE_MARGIN_S = 1.0  # audio kept around a window decoded again (its log-mel frames need their neighbours)


def decode_sequential(model: WhisperModel, audio: np.ndarray, clips: list[float], cfg: AsrConfig, hotwords: str | None,
                initial_prompt: str | None) -> tuple[list, float]:
    """faster-whisper's sequential decoder on ``clips`` ([start, end, start, end, …] seconds):
    timestamp tokens, Whisper's temperature fallback (seeded), no conditioning on earlier text.
    Returns (segments, offset s): segment and word times are relative to ``offset``.

    Only the audio of the clips (plus :data:`SLICE_MARGIN_S` each side, cut on the 10 ms hop of
    the log-mel frames) goes to the decoder: ``WhisperModel.transcribe`` computes the features of
    all the audio it is given, which for a whole episode was ~0.5 GB of STFT per window decoded
    again (bench/RESULTS.md, the 22-minute episode)."""
    hop = SAMPLE_RATE // 100
    first = max(0, int((clips[0] - SLICE_MARGIN_S) * 100)) * hop
    last = min(audio.shape[0], (int((clips[-1] + SLICE_MARGIN_S) * 100) + 1) * hop)
    offset = first / SAMPLE_RATE
    g = cfg.guards
    segs, _ = model.transcribe(
        audio[first:last], language=cfg.language, beam_size=cfg.beam_size, word_timestamps=True, vad_filter=False,
        clip_timestamps=[round(t - offset, 3) for t in clips], condition_on_previous_text=False,
        compression_ratio_threshold=g.compression_ratio, log_prob_threshold=g.log_prob, no_speech_threshold=g.no_speech,
        hotwords=hotwords, initial_prompt=initial_prompt)
    return list(segs), offset
