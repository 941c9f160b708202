"""Report of step3-ltx2-data (index.html of tools/step3_ltx2_data.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.export import export_commands
from reelset.reports import Page
from reelset.reports.package import page_for, write_extras  # noqa: F401 (render_report calls it)


def note(m) -> str:
    """How a trainer takes this package: the store is read-only and the LTX-2 trainer writes
    ``.precomputed/`` next to ``dataset.json``, so export it first."""
    return ("This folder is read-only (the LTX-2 trainer writes .precomputed next to dataset.json). Export it first: "
            + " · ".join(c + (" --model-path <ltx-2-19b-dev.safetensors> --text-encoder-path <gemma-3 folder>"
                              if c.endswith("ltx2-trainer") else "") for c in export_commands("step3-ltx2-data"))
            + "; the export's TRAIN.md has the trainer's commands.")


def page(out: Path, meta) -> Page:
    return page_for("step3-ltx2-data", out, meta, note)
