"""Speaker (voice) embeddings: one L2-normalised vector per stretch of 16 kHz mono speech.

Two encoders behind one function, :func:`load_encoder` (chosen by the model directory's files,
the way the step2-speakers ``speakers.model`` role of models.toml names it):

- **GE2E** (``pretrained.pt``, as shipped in the ``resemblyzer`` 0.1.4 wheel, Apache-2.0;
  Wan et al. 2018, "Generalized End-to-End Loss for Speaker Verification"): a 3-layer LSTM
  (40 → 256) + linear 256 → 256 + ReLU over 40-band mel power spectrograms (25 ms Hann window,
  10 ms hop, 16 kHz), run on 1.6 s partial utterances (160 frames) 1.3 per second; the
  utterance embedding is the normalised mean of the partials' embeddings (256 dims). The
  network, the mel front end and the slicing are resemblyzer's ``VoiceEncoder`` /
  ``audio.wav_to_mel_spectrogram`` (librosa's ``melspectrogram`` defaults: centred frames,
  zero padding, Slaney mel scale and area norm) re-implemented here on torch and transformers'
  ``audio_utils``, so neither librosa nor webrtcvad (resemblyzer's dependencies) is needed: the
  wheel is installed ``--no-deps`` for its weights only. Input is volume-normalised to
  −30 dBFS (raised only), as resemblyzer's ``preprocess_wav`` does.
- **WavLM x-vector** (a transformers ``WavLMForXVector`` folder: ``config.json`` +
  ``model.safetensors`` / ``pytorch_model.bin``, e.g. microsoft/wavlm-base-plus-sv; Chen et
  al. 2022, "WavLM"): the raw waveform, zero-mean unit-variance normalised per utterance as
  its ``Wav2Vec2FeatureExtractor`` does (``do_normalize``), into the model; the x-vector
  (``config.xvector_output_dim``, 512 for base-plus-sv) is L2-normalised.

Shapes: audio ``float32[n_samples]`` at :data:`SAMPLE_RATE` Hz in [-1, 1]; embeddings
``float32[dim]`` with unit L2 norm, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reelset import ReelsetError
from reelset.device import DevicePolicy

SAMPLE_RATE = 16000  # Hz, both encoders
# GE2E front end (resemblyzer hparams.py): 25 ms window, 10 ms hop, 40 mel bands, 1.6 s partials
GE2E_N_FFT = 400
GE2E_HOP = 160
GE2E_MELS = 40
GE2E_PARTIAL_FRAMES = 160
GE2E_PARTIALS_PER_S = 1.3  # resemblyzer embed_utterance(rate=1.3)
GE2E_MIN_COVERAGE = 0.75  # a last partial is kept when >= 75 % of it is audio
GE2E_TARGET_DBFS = -30.0


class GE2E(torch.nn.Module):
    """resemblyzer's VoiceEncoder network: LSTM(40, 256, 3 layers) → Linear(256, 256) → ReLU → L2 norm.

    ``forward(mels: float32[batch, frames, 40]) -> float32[batch, 256]``."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(GE2E_MELS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-12)


def _mel_filters() -> np.ndarray:
    """float32[201, 40]: librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) transposed (Slaney scale and norm)."""
    from transformers.audio_utils import mel_filter_bank
    return mel_filter_bank(num_frequency_bins=GE2E_N_FFT // 2 + 1, num_mel_filters=GE2E_MELS, min_frequency=0.0,
                           max_frequency=SAMPLE_RATE / 2, sampling_rate=SAMPLE_RATE, norm="slaney",
                           mel_scale="slaney").astype(np.float32)


def ge2e_mel(wav: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """float32[frames, 40] mel power spectrogram of ``wav`` (float32[n] at 16 kHz): librosa's
    melspectrogram(n_fft=400, hop_length=160, center=True, pad_mode='constant', power=2)."""
    x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
    spec = torch.stft(x, GE2E_N_FFT, GE2E_HOP, window=torch.hann_window(GE2E_N_FFT, periodic=True), center=True,
                      pad_mode="constant", return_complex=True).abs().pow(2)  # [201, frames]
    return (spec.T.numpy() @ filters).astype(np.float32)


def normalize_volume(wav: np.ndarray, target_dbfs: float = GE2E_TARGET_DBFS) -> np.ndarray:
    """Raise ``wav`` to ``target_dbfs`` RMS (never lower it): resemblyzer's normalize_volume(increase_only=True)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    if rms <= 0:
        return wav
    change = target_dbfs - 20 * np.log10(rms)
    return wav if change < 0 else (wav * 10 ** (change / 20)).astype(np.float32)


def partial_slices(n_samples: int) -> list[slice]:
    """Mel-frame slices of the 1.6 s partials of an utterance of ``n_samples`` (resemblyzer's
    compute_partial_slices(rate=1.3, min_coverage=0.75)); always at least one."""
    n_frames = int(np.ceil((n_samples + 1) / GE2E_HOP))
    step = int(np.round((SAMPLE_RATE / GE2E_PARTIALS_PER_S) / GE2E_HOP))
    out = [slice(i, i + GE2E_PARTIAL_FRAMES) for i in range(0, max(1, n_frames - GE2E_PARTIAL_FRAMES + step + 1), step)]
    last = out[-1]
    coverage = (n_samples - last.start * GE2E_HOP) / (GE2E_PARTIAL_FRAMES * GE2E_HOP)
    if coverage < GE2E_MIN_COVERAGE and len(out) > 1:
        out = out[:-1]
    return out


@dataclass
class Encoder:
    """A loaded speaker encoder: ``kind`` ('ge2e' | 'wavlm-xvector'), ``dim`` (embedding size),
    ``device`` ('cuda' | 'cpu'); :meth:`embed` turns one utterance into a unit vector."""

    kind: str
    dim: int
    device: str
    model: torch.nn.Module
    filters: np.ndarray | None = None

    @torch.inference_mode()
    def embed(self, wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(utterance float32[dim], windows float32[k, dim]) of ``wav`` (float32[n] at 16 kHz,
        n > 0), all unit L2 norm. Windows are the 1.6 s partials at 1.3 per second
        (:func:`partial_slices`, k >= 1). GE2E: the utterance is the unit mean of the windows
        (resemblyzer's embed_utterance); WavLM: the x-vector of the whole utterance."""
        slices = partial_slices(len(wav))
        need = slices[-1].stop * GE2E_HOP
        padded = np.pad(wav, (0, max(0, need - len(wav))))
        if self.kind == "ge2e":
            mel = ge2e_mel(normalize_volume(padded), self.filters)
            batch = torch.from_numpy(np.stack([mel[s] for s in slices])).to(self.device)
            windows = self.model(batch).float().cpu().numpy()
            return _unit(windows.mean(0)), windows
        chunks = np.stack([padded[s.start * GE2E_HOP:s.stop * GE2E_HOP] for s in slices])
        windows = self._xvector(chunks)
        return self._xvector(wav[None])[0], windows

    def _xvector(self, batch: np.ndarray) -> np.ndarray:
        """Unit x-vectors float32[b, dim] of equal-length waveforms float32[b, n] (WavLM)."""
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        x = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-7)
        return _unit(self.model(input_values=x.to(self.device)).embeddings.float().cpu().numpy())


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def load_encoder(model_dir: Path, device: str | DevicePolicy) -> Encoder:
    """The encoder in ``model_dir`` on ``device`` ("cuda" | "cpu", or the step's device policy
    that picks, reelset.device.DevicePolicy.pick): GE2E when it holds ``pretrained.pt`` (resemblyzer's
    checkpoint, ``{"model_state": …}``), WavLM x-vector when its ``config.json`` says
    ``WavLMForXVector``. ReelsetError naming the folder otherwise."""
    model_dir = Path(model_dir)
    if isinstance(device, DevicePolicy):
        device = device.pick("torch")
    if (model_dir / "pretrained.pt").is_file():
        net = GE2E()
        state = torch.load(model_dir / "pretrained.pt", map_location="cpu", weights_only=True)["model_state"]
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing:
            raise ReelsetError(f"{model_dir / 'pretrained.pt'}: not a GE2E (resemblyzer) checkpoint: missing {missing}")
        return Encoder("ge2e", 256, device, net.eval().to(device), _mel_filters())
    config = model_dir / "config.json"
    if config.is_file():
        archs = json.loads(config.read_text()).get("architectures") or []
        if "WavLMForXVector" in archs:
            from transformers import WavLMForXVector
            net = WavLMForXVector.from_pretrained(model_dir, local_files_only=True).eval().to(device)
            return Encoder("wavlm-xvector", int(net.config.xvector_output_dim), device, net)
        raise ReelsetError(f"{config}: architectures {archs} is no speaker encoder reelset knows (WavLMForXVector)")
    raise ReelsetError(f"{model_dir}: no speaker encoder: expected pretrained.pt (GE2E, resemblyzer) or "
                       f"config.json of a WavLMForXVector")
