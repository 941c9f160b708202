"""What every ``reelset export`` writes with: writable copies of store files, placeholders for
paths the user did not give, the trigger-word note of TRAIN.md, and the trainer commits the
formats were checked against (:data:`CHECKED`). Shared by reelset.export (packages, latents) and
reelset.export_stills (step3-stills); neither imports the other's exporters through it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from reelset import ReelsetError, media
from reelset.schemas.manifest import PackagedClip, PackageManifest

CHECKED = {"ltx2-trainer": "Lightricks/LTX-2 @ 400fd31 (packages/ltx-trainer)",
           "ltxv-trainer": "Lightricks/LTX-Video-Trainer @ 31b1273",
           "musubi": "kohya-ss/musubi-tuner @ 30c658c",
           "diffusion-pipe": "tdrussell/diffusion-pipe @ 8f83dbf",
           "diffsynth": "modelscope/DiffSynth-Studio @ fed7b18",
           "ai-toolkit": "ostris/ai-toolkit @ 27a03a9"}


FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int): share the source's blocks (btrfs, XFS, bcachefs)


def place(src: Path, dst: Path) -> str:
    """``dst`` becomes a writable copy (mode 0644) of ``src``: a reflink (FICLONE ioctl: shared blocks,
    copy-on-write, instant) where the file system supports it, else a plain copy. Never a hard
    link: a store file is read-only and shared by every user of the store; a trainer or script
    that rewrites an exported file in place (as root, a hard link's 0444 would not stop it) must
    change only the copy. Returns "reflink" or "copy"."""
    import fcntl

    dst.parent.mkdir(parents=True, exist_ok=True)
    how = "copy"
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            how = "reflink"
        except OSError:
            shutil.copyfileobj(fin, fout, 1 << 20)
    os.chmod(dst, 0o644)
    return how


def kept_items(m: PackageManifest) -> list[PackagedClip]:
    """The kept items of package manifest ``m``; ReelsetError when it kept none (nothing to export)."""
    kept = [c for c in m.clips if c.fate == "kept"]
    if not kept:
        raise ReelsetError(f"the package of dataset {m.dataset} kept no clip: nothing to export")
    return kept


def placeholder(value: str | None, what: str) -> str:
    """``value`` as an absolute path, or ``<what>`` when the user gave none."""
    return str(Path(value).resolve()) if value else f"<{what}>"


def trigger_note(trigger: str | None) -> str:
    """TRAIN.md's paragraph on the trigger word (reelset.captiontext.caption_for: once, first)."""
    if not trigger:
        return "The bible has no trigger word: captions are as reviewed."
    return (f"Every caption contains the trigger word `{trigger}` exactly once, so no trigger flag is passed "
            f"(`--lora-trigger` / `--id-token` would add it a second time). Use `{trigger}` in your prompts.")


def has_audio(path: Path) -> bool:
    """Whether the media file at ``path`` has an audio stream (ffprobe)."""
    info, _ = media.probe_video(path)
    return info.has_audio


def write_yaml(path: Path, data: dict) -> None:
    """``data`` as YAML at ``path`` (keys in the given order)."""
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
