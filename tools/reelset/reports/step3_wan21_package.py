"""Report of step3-wan21-package (index.html of tools/step3_wan21_package.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page
from reelset.reports.package import page_for


def note(m) -> str:
    """Where the Wan 2.1 trainers find this package."""
    zips = [f for f in m.files if f.endswith(".zip")]
    return (f"DiffSynth-Studio: --dataset_base_path {m.package_dir} --dataset_metadata_path "
            f"{m.package_dir}/metadata.csv; musubi-tuner / diffusion-pipe: the .toml files "
            f"(paths relative to {m.package_dir}/)." + (f" {zips[0]} holds the same files." if zips else ""))


def page(out: Path, meta) -> Page:
    return page_for("step3-wan21-package", out, meta, note)
