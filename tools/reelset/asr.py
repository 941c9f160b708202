"""faster-whisper loading shared by the ASR steps (step2-transcript-base, step2-transcript-disambiguate)."""

from __future__ import annotations

from pathlib import Path

import ctranslate2
from faster_whisper import WhisperModel

from reelset import ReelsetError
from reelset import device as devices
from reelset.schemas.transcript import AsrConfig
from reelset.step import log


def pick_device() -> tuple[str, str]:
    """('cuda', 'float16') when CTranslate2 sees a CUDA device, else ('cpu', 'int8') if the
    step's device policy allows the CPU (ReelsetError otherwise, see reelset/device.py)."""
    if devices.pick("ctranslate2") == "cuda":
        return "cuda", "float16"
    return "cpu", "int8"


def load_whisper(model_dir: Path, cfg: AsrConfig) -> tuple[WhisperModel, str, str]:
    """Load the CTranslate2 Whisper model in ``model_dir``: (model, device, compute_type).

    Picks CUDA when present, else CPU if the step's device policy allows it (reelset/device.py); seeds CTranslate2's sampling with
    ``cfg.seed`` (faster-whisper's temperature fallback samples). Raises ReelsetError when ``model_dir``
    has no ``model.bin``.
    """
    if not (model_dir / "model.bin").is_file():
        raise ReelsetError(f"{model_dir}: not a CTranslate2 Whisper model directory (no model.bin)")
    device, compute_type = pick_device()
    # temperature fallback samples: a fixed seed makes decoding reproducible
    ctranslate2.set_random_seed(cfg.seed)
    log(f"ASR on {device} ({compute_type}); "
        f"{'CUDA device found' if device == 'cuda' else 'no CUDA device visible, using CPU'}")
    model = WhisperModel(str(model_dir), device=device, compute_type=compute_type,
                         cpu_threads=cfg.cpu_threads, num_workers=1)
    return model, device, compute_type
