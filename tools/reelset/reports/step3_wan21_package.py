"""Report of step3-wan21-package (index.html of tools/step3_wan21_package.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.export import export_commands
from reelset.reports import Page
from reelset.reports.package import page_for


def note(m) -> str:
    """Where the Wan 2.1 trainers find this package."""
    zips = [f for f in m.files if f.endswith(".zip")]
    return ("Export for a trainer (absolute paths, writable caches): " + " · ".join(export_commands("step3-wan21-package"))
            + f". The .toml files inside {m.package_dir}/ use paths relative to {m.package_dir}/."
            + (f" {zips[0]} holds the same files." if zips else ""))


def page(out: Path, meta) -> Page:
    return page_for("step3-wan21-package", out, meta, note)
