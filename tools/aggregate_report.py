"""Aggregate with a report: ``tools/aggregate.py`` plus ``index.html`` linking every member's report.

Used for what users open (``.#<video step>`` over its shards' reports, ``.#all`` / ``.#host.demo``
over every step's report); never read by a step, so report code may change without rebuilding
anything but reports. Input and output as ``tools/aggregate.py``, plus ``index.html``.

Run by hand: ``python tools/aggregate_report.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

import aggregate
from reelset import report
from reelset.reports import aggregate as page_of
from reelset.schemas.base import StepSpec
from reelset.step import StepResult, Timer, main


def run(spec: StepSpec, out: Path, timer: Timer) -> StepResult:
    result = aggregate.run(spec, out, timer)
    meta = result.meta(spec)
    page = page_of.page(out, meta)
    report.render(out, page.title, meta, page.body, page.files, **page.context)
    return result


if __name__ == "__main__":
    raise SystemExit(main(None, run, Path(__file__)))
