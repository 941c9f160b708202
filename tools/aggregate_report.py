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
from reelset.step import Context, StepResult, main


def run(ctx: Context) -> StepResult:
    result = aggregate.run(ctx)
    meta = result.meta(ctx.spec)
    page = page_of.page(ctx.out, meta)
    report.render(ctx.out, page.title, meta, page.body, page.files, **page.context)
    return result


if __name__ == "__main__":
    raise SystemExit(main(None, run, Path(__file__)))
