"""Report of a Wan family's package step (index.html of tools/step3_wan_package.py's output:
step3-wan21-package, …)."""

from __future__ import annotations

from pathlib import Path

from reelset.export import export_commands
from reelset.reports import Page
from reelset.reports.package import page_for, write_extras  # noqa: F401 (render_report calls it)


def page(out: Path, meta) -> Page:
    def note(m) -> str:
        """Where the family's trainers find this package."""
        zips = [f for f in m.files if f.endswith(".zip")]
        commands = export_commands(meta.step)
        return (("Export for a trainer (absolute paths, writable caches): " + " · ".join(commands) + ". " if commands else "")
                + f"The .toml files inside {m.package_dir}/ use paths relative to {m.package_dir}/."
                + (f" {zips[0]} holds the same files." if zips else ""))

    return page_for(meta.step, out, meta, note)
