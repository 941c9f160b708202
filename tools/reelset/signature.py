"""Picture and sound signatures shared by the repeat finders (reelset.repeats: per clip;
reelset.stretches: per 0.5 s step): every frame of a clip decoded once at 9x8 RGB, its 64-bit
difference hash and 3 x 3 region colours, and band energies of 16 kHz mono audio.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from reelset import ReelsetError, media

SLICES = 8  # audio time slices
BANDS_HZ = (0, 500, 1500, 3000, 8000)  # edges of the 4 audio bands
SILENCE_DB = -100.0


def decode_frames(clip: Path) -> np.ndarray:
    """Every frame of the clip (at its own rate) scaled to 9x8 RGB by area averaging, shape (n, 8, 9, 3)
    uint8: one decode serves the clip's fingerprint and its share of the video's timeline
    (reelset.stretches). Raises ReelsetError naming the clip when ffmpeg fails or finds no frame."""
    proc = subprocess.run([media.tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(clip), "-map", "0:v:0",
                           "-vf", "scale=9:8:flags=area,format=rgb24", "-f", "rawvideo", "-"],
                          capture_output=True)
    if proc.returncode != 0:
        raise ReelsetError(f"{clip}: fingerprint decode failed: {proc.stderr.decode(errors='replace').strip()[-500:]}")
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    n = len(data) // (8 * 9 * 3)
    if n == 0:
        raise ReelsetError(f"{clip}: no video frame to fingerprint")
    return data[: n * 8 * 9 * 3].reshape(n, 8, 9, 3)


def dhash(rgb: np.ndarray) -> str:
    """64-bit difference hash (hex) of one 9x8 RGB image: bit = a pixel brighter than its left neighbour."""
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def region_colors(rgb: np.ndarray) -> list[int]:
    """Mean R, G, B (0-255) of each of the 3 x 3 regions of one 9x8 RGB image: 27 integers, row by row."""
    out = []
    for band in np.array_split(rgb.astype(np.float32), 3, axis=0):
        for cell in np.array_split(band, 3, axis=1):
            out += [int(round(float(c))) for c in cell.reshape(-1, 3).mean(axis=0)]
    return out


def audio_signature(samples: np.ndarray, rate: int = 16000) -> list[float]:
    """SLICES x 4 band log energies (dB, rounded to 0.1) of mono ``samples``; silence → SILENCE_DB."""
    out = []
    for part in np.array_split(samples.astype(np.float32), SLICES):
        if len(part) < 2:
            out += [SILENCE_DB] * (len(BANDS_HZ) - 1)
            continue
        power = np.abs(np.fft.rfft(part)) ** 2 / len(part)
        freqs = np.fft.rfftfreq(len(part), 1 / rate)
        for lo, hi in zip(BANDS_HZ, BANDS_HZ[1:], strict=False):
            e = float(power[(freqs >= lo) & (freqs < hi)].sum())
            out.append(round(max(SILENCE_DB, 10 * np.log10(e + 1e-12)), 1))
    return out


def band_power(samples: np.ndarray, rate: int = 16000) -> np.ndarray:
    """Mean power per sample of each audio band (BANDS_HZ) of ``samples`` (mono float), shape (4,)."""
    x = samples.astype(np.float32)
    power = np.abs(np.fft.rfft(x)) ** 2 / (len(x) * len(x))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return np.array([power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(BANDS_HZ, BANDS_HZ[1:], strict=False)])


def find_root(parent: list[int], x: int) -> int:
    """The representative of ``x`` in the union-find forest ``parent`` (index → parent index),
    halving the path on the way (shared by the clip groups of reelset.repeats and the stretch
    occurrences of reelset.stretches)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x
