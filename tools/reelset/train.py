"""Latents and LoRA training shared by every model family (step4-*-preprocess, step5-*-train).

The model-specific parts are the family's (:mod:`reelset.families`): its declaration names the
config models and the *model code*, a :class:`reelset.families.model.FamilyModel` (e.g.
:class:`reelset.families.ltx2.model.LTX2Model`, :class:`reelset.wan.WanModel`)
whose methods step4/step5 call (``load_pipeline``, ``encode_clip``, ``save_record``,
``load_record``, ``training_inputs``, ``sample_sigmas``, ``training_loss``, ``generate``; constants
``PIPELINE_CLASS``, ``DEFAULT_TARGET_MODULES``, ``FILE_SUFFIX``). A step loads only its own family
(narrow sources: nix/steps.nix adds the family's files).

Everything here is the generic part: choosing the device, checking a training config
against the package and the transformer *before* any weights are loaded, the segment loop
(peft LoRA + accelerate + AdamW, per-step seeds so a resumed run draws the same numbers as
an uninterrupted one), checkpoints, progress lines, the loss plot and sample videos.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from pathlib import Path

from reelset import ReelsetError
from reelset.device import DevicePolicy
from reelset.families.model import FamilyModel
from reelset.log import log
from reelset.schemas.latents import LatentClip, LatentIndex
from reelset.schemas.train import TrainConfig

LORA_DIR = "lora"
LORA_FILE = "pytorch_lora_weights.safetensors"  # diffusers' save_lora_weights file name
OPTIMIZER_FILE = "optimizer.pt"
# Progress: a line at least every PRINT_EVERY_S seconds while training, and a heartbeat every
# HEARTBEAT_S seconds while anything else runs (model loading), so a builder's
# max-silent-time never kills a healthy run.
PRINT_EVERY_S = 10.0
HEARTBEAT_S = 25.0


def device_and_dtype(policy: DevicePolicy):
    """(torch.device, compute dtype): ``cuda:0`` with bfloat16 when a GPU is visible, else
    ``cpu`` with float32 (bf16 matmuls on a CPU are slow and imprecise) if the step's device
    ``policy`` allows the CPU (ReelsetError otherwise, see reelset/device.py)."""
    import torch

    if policy.pick("torch") == "cuda":
        return torch.device("cuda:0"), torch.bfloat16
    return torch.device("cpu"), torch.float32


def lora_digest(path: Path) -> str:
    """sha256 (hex) of a safetensors file's *content*: its metadata (canonical JSON) and every
    tensor (name, dtype, shape, bytes) in name order. Not the file's sha256: safetensors writes
    a header whose metadata order varies from process to process, so equal LoRAs can differ
    in bytes."""
    import torch
    from safetensors import safe_open

    digest = hashlib.sha256()
    with safe_open(str(path), "pt") as fh:
        digest.update(json.dumps(fh.metadata() or {}, sort_keys=True).encode())
        for name in sorted(fh.keys()):
            t = fh.get_tensor(name).contiguous()
            digest.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def canonical_safetensors(path: Path) -> None:
    """Rewrite the JSON header of safetensors file ``path`` with sorted keys (tensor entries and
    ``__metadata__``), padded with spaces to a multiple of 8 bytes, the tensor bytes unchanged:
    the safetensors writer serializes the header from a hash map whose order varies from process
    to process, which made equal LoRAs differ in bytes (and ``nix build --rebuild`` fail).
    Format (safetensors README): u64 little-endian header length N, N bytes of JSON, data; the
    data offsets in the header are relative to the data, so a new N keeps them valid."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    if isinstance(header.get("__metadata__"), dict):
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])


class Heartbeat:
    """Context manager: prints ``<what>… (<n> s)`` every :data:`HEARTBEAT_S` seconds until it
    exits, for long silent phases (loading a 40 GB checkpoint from a slow disk)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(HEARTBEAT_S):
            log(f"{self.what}… ({time.monotonic() - t0:.0f} s)")

    def __enter__(self) -> Heartbeat:
        log(f"{self.what}")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def read_frames(path: Path):
    """Decode a packaged clip with PyAV: (frames (F, H, W, 3) uint8 RGB ndarray, frame rate in frames/s).
    Raises ValueError naming the file when it cannot be decoded, has no video or no frames."""
    from fractions import Fraction

    import av
    import numpy as np

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream")
            vstream = container.streams.video[0]
            rate = vstream.average_rate or vstream.guessed_rate
            if not rate:
                raise ValueError(f"{path}: video stream has no frame rate")
            fps = float(Fraction(rate))
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except ValueError:
        raise
    except (av.error.FFmpegError, OSError) as e:
        raise ValueError(f"{path}: unreadable video: {e}") from e
    if not frames:
        raise ValueError(f"{path}: video stream has no frames")
    return np.stack(frames), fps


# --------------------------------------------------------------------------- config checks
def select_clips(index: LatentIndex, cfg: TrainConfig, where: str) -> list[LatentClip]:
    """The clips of ``index`` in ``cfg.buckets`` (all clips when unset), in index order.

    Raises ReelsetError naming ``where`` (the config section) when a bucket is not one of the
    package's buckets or when no clip is left."""
    have = sorted({c.bucket for c in index.clips})
    if cfg.buckets:
        unknown = [b for b in cfg.buckets if b not in have]
        if unknown:
            raise ReelsetError(f"{where}: buckets {unknown} are not buckets of the package (its clips are in "
                               f"{have or 'no bucket: the package has no clips'}); set `buckets` to some of those, or "
                               f"leave it out to train on all")
        clips = [c for c in index.clips if c.bucket in cfg.buckets]
    else:
        clips = list(index.clips)
    if not clips:
        raise ReelsetError(f"{where}: no clips to train on: the package {index.package} kept no clip")
    return clips


def transformer_module_names(model_dir: Path, component: str = "transformer") -> set[str]:
    """Module names of the model's transformer ``component`` (a pipeline folder's subfolder:
    "transformer", Wan 2.2 A14B's "transformer_2"), built on the meta device from
    ``<model_dir>/<component>/config.json`` (accelerate ``init_empty_weights``): no weights are
    read. Raises ReelsetError when the folder has no diffusers transformer config."""
    import diffusers
    from accelerate import init_empty_weights

    cfg_file = model_dir / component / "config.json"
    try:
        config = json.loads(cfg_file.read_text())
        cls = getattr(diffusers, config["_class_name"])
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ReelsetError(f"{cfg_file}: not a diffusers transformer config ({exc}); is the model a diffusers pipeline folder?") from exc
    with init_empty_weights():
        model = cls.from_config(cls.load_config(str(cfg_file.parent)))
    return {name for name, _ in model.named_modules() if name}


def check_target_modules(targets: list[str], names: set[str], where: str) -> None:
    """Every target must name at least one module (peft list semantics: the full name or its
    ``.``-suffix). ReelsetError listing the unknown ones and the transformer's leaf names."""
    unknown = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if unknown:
        leaves = sorted({n.split(".")[-1] for n in names if not n.split(".")[-1].isdigit()})
        raise ReelsetError(f"{where}: target_modules {unknown} match no module of the transformer; "
                           f"module names it has: {', '.join(leaves[:60])}")


def expert_of(fam, chain: str | None, where: str):
    """The expert (:class:`reelset.families.model.Expert`) that a segment of chain ``chain`` trains
    (``config.segment.chain``, nix/pipeline.nix): the family's only expert when ``chain`` is None.
    ReelsetError naming ``where`` and the family's experts otherwise."""
    if chain is None:
        if len(fam.experts) == 1:
            return fam.experts[0]
        raise ReelsetError(f"{where}: {fam.label} has experts {[e.name for e in fam.experts]}: a segment must name one "
                           "(config.segment.chain, set by nix/pipeline.nix)")
    try:
        return fam.expert(chain)
    except ReelsetError as exc:
        raise ReelsetError(f"{where}: {exc}") from exc


# --------------------------------------------------------------------------- batching
def shape_groups(clips: list[LatentClip]) -> dict[tuple, list[str]]:
    """Item ids grouped by the shapes of their tensors (a batch must stack), in item order."""
    groups: dict[tuple, list[str]] = {}
    for c in clips:
        key = tuple(sorted((k, tuple(v)) for k, v in c.shapes.items()))
        groups.setdefault(key, []).append(c.item_id)
    return groups


def step_seed(seed: int, step: int) -> int:
    """The seed of optimizer step ``step``: batch choice, noise and sigmas depend only on
    (seed, step), so a run split into segments equals an uninterrupted one."""
    return (seed * 1_000_003 + step) % (2**63)


def batch_for_step(groups: dict[tuple, list[str]], step: int, seed: int, batch_size: int) -> list[str]:
    """Item ids of step ``step``: a group chosen with probability proportional to its size,
    then ``min(batch_size, len(group))`` distinct items of it (deterministic in seed, step)."""
    rng = random.Random(step_seed(seed, step))  # noqa: S311 (reproducible sampling, not security)
    keys = list(groups)
    weights = [len(groups[k]) for k in keys]
    group = groups[rng.choices(keys, weights)[0]]
    return rng.sample(group, min(batch_size, len(group)))


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of step ``step``: linear warmup over ``warmup_steps``, then constant
    (independent of ``steps`` so that raising ``steps`` keeps every finished segment)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    return cfg.learning_rate


def load_tensors(root: Path, clip: LatentClip, family: FamilyModel, pipe, device, dtype) -> dict:
    """The training tensors of one clip: every file of ``clip.files`` read with the family's
    ``load_record``, turned into :func:`training_loss` inputs by its ``training_inputs`` (on
    ``device``, floating tensors in ``dtype``; LTX-2 runs the text connectors there).
    ReelsetError naming the file when one is missing or unreadable, or lacks a key."""
    records = {}
    for kind, rel in clip.files.items():
        path = root / rel
        try:
            records[kind] = family.load_record(path)
        except Exception as exc:  # torch.load / safetensors raise several types
            raise ReelsetError(f"{path}: cannot read the {kind} of item {clip.item_id}: {exc}") from exc
    try:
        return family.training_inputs(pipe, records, device=device, dtype=dtype)
    except KeyError as exc:
        raise ReelsetError(f"{root}: item {clip.item_id}: a file lacks the key {exc} "
                           f"(files {', '.join(clip.files.values())}); rebuild the preprocess step") from exc


class Progress:
    """Training progress lines: ``step s/[start,end) loss L it/s R ETA …`` at least every
    :data:`PRINT_EVERY_S` seconds (and on the first and last step)."""

    def __init__(self, label: str, start: int, end: int) -> None:
        self.label, self.start, self.end = label, start, end
        self.t0 = time.monotonic()
        self.last = 0.0

    def update(self, step: int, loss: float) -> None:
        now = time.monotonic()
        done = step + 1 - self.start
        if done == 1 or step + 1 == self.end or now - self.last >= PRINT_EVERY_S:
            rate = done / max(now - self.t0, 1e-9)
            eta = (self.end - step - 1) / rate if rate else 0.0
            log(f"{self.label}: step {step + 1}/{self.end} (segment [{self.start},{self.end})) loss {loss:.5f} "
                f"{rate:.2f} it/s ETA {eta:.0f} s")
            self.last = now


# --------------------------------------------------------------------------- samples
def write_sample(path: Path, frames, fps: float, audio=None, sample_rate: int | None = None) -> None:
    """Write ``frames`` (uint8 ndarray (F, H, W, 3)) as H.264 yuv420p MP4 at ``fps`` frames per
    second, plus ``audio`` (float32 (channels, samples) in [-1, 1]) as AAC when given (PyAV)."""
    from fractions import Fraction

    import av
    import numpy as np

    f, h, w, _ = frames.shape
    with av.open(str(path), "w") as container:
        vs = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = w + (w % 2), h + (h % 2), "yuv420p"
        as_ = None
        if audio is not None and sample_rate:
            as_ = container.add_stream("aac", rate=int(sample_rate))
            as_.layout = "stereo" if audio.shape[0] >= 2 else "mono"
        for i in range(f):
            img = np.ascontiguousarray(np.pad(frames[i], ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in vs.encode():
            container.mux(packet)
        if as_ is not None:
            chans = 2 if audio.shape[0] >= 2 else 1
            data = np.clip(audio[:chans], -1, 1).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=as_.layout.name)
            frame.sample_rate = int(sample_rate)
            for packet in as_.encode(frame):
                container.mux(packet)
            for packet in as_.encode():
                container.mux(packet)


def loss_plot(path: Path, series: dict[str, list[tuple[int, float]]], boundaries: list[int], title: str) -> None:
    """PNG of the per-step loss of each series (name -> (step, loss) pairs: one run, or one per
    expert of Wan 2.2 A14B) and its moving average over 10 steps, segment boundaries as dotted
    lines (matplotlib, Agg backend). One series is labelled "loss"; several by their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    for name, losses in series.items():
        steps = [s for s, _ in losses]
        values = [v for _, v in losses]
        own = "" if len(series) == 1 else f"{name}: "
        ax.plot(steps, values, lw=0.8, alpha=0.5, label=f"{own}loss")
        if len(values) >= 10:
            avg = [sum(values[max(0, i - 9):i + 1]) / len(values[max(0, i - 9):i + 1]) for i in range(len(values))]
            ax.plot(steps, avg, lw=1.5, label=f"{own}mean of 10 steps")
    for b in boundaries:
        ax.axvline(b, ls=":", lw=0.8, color="grey")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("flow-matching MSE")
    ax.set_title(title)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
