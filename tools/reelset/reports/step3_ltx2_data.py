"""Report of step3-ltx2-data (index.html of tools/step3_ltx2_data.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page
from reelset.reports.package import page_for


def note(m) -> str:
    """The LTX-2 trainer's preprocessing command for this package."""
    buckets = ";".join(m.config.get("buckets", []))
    trigger = "" if m.trigger_prepended or not m.trigger_word else f' --lora-trigger "{m.trigger_word}"'
    return f'Preprocess with: process_dataset.py {m.files[0]} --resolution-buckets "{buckets}"{trigger}'


def page(out: Path, meta) -> Page:
    return page_for("step3-ltx2-data", out, meta, note)
