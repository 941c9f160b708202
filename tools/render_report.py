"""render-report: the ``index.html`` of one step output, as a derivation of its own.

Reports exist for people, so they never run inside the derivation that computes an artifact:
editing a template, the CSS or this tool rebuilds reports (and the aggregates that link them),
never ASR, captioning or training.

Input (spec, env ``reelsetSpec``): ``step``, ``dataset``, ``inputs.data`` (the compute output, a
store path), ``config.report.module`` (the report module, ``reelset/reports/<module>.py``:
named like the step's tool) and, for a package step, ``config.card`` (the dataset card's facts
from Nix: description, episode files and sha256, model pins; reelset/card.py).

Output (``$out``): ``index.html`` plus one symlink per top-level entry of the compute output
(``scenes.json``, ``clips/``, ``meta.json``, …), so ``result/scenes.json`` and the report's
relative links work from the report's store path as they would from the compute output.

Run by hand: ``python tools/render_report.py --spec spec.json --out DIR`` (writes ``DIR`` only on
success: the step harness's :func:`reelset.step.atomic_output`). Exit status: 0 ok, 2 bad spec or input (message on stderr), 1 unexpected error.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from reelset import ReelsetError, report
from reelset.schemas.base import StepMeta
from reelset.step import atomic_output, invocation, read_artifact


def render(data: Path, module: str, work: Path, config: dict | None = None) -> None:
    """Write ``work/index.html`` for compute output ``data`` with ``reelset.reports.<module>`` and
    link every entry of ``data`` into ``work``; a module's ``write_extras(data, work, config)``
    gets the spec's config (e.g. ``card``: the dataset card's facts). Raises ReelsetError naming
    the missing file."""
    if not (data / "meta.json").is_file():
        raise ReelsetError(f"{data}: no meta.json (is this a reelset step output?)")
    meta = read_artifact(data / StepMeta.FILE, StepMeta)
    try:
        mod = importlib.import_module(f"reelset.reports.{module}")
    except ModuleNotFoundError as exc:
        raise ReelsetError(f"render-report: no report module reelset/reports/{module}.py ({exc})") from exc
    for entry in sorted(data.iterdir()):
        if entry.name != "index.html":
            os.symlink(entry, work / entry.name)
    if hasattr(mod, "write_extras"):  # files made only for people (e.g. a contact sheet)
        mod.write_extras(data, work, config or {})
    page = mod.page(data, meta)
    report.render(work, page.title, meta, page.body, page.files, **page.context)


def main(argv: list[str] | None = None) -> int:
    try:
        call = invocation("render-report", __doc__.split("\n")[0], argv)
        if "data" not in call.spec.inputs:
            raise ReelsetError("render-report: the spec needs inputs.data (the step output to report on)")
        module = call.spec.config.get("report", {}).get("module")
        if not module:
            raise ReelsetError("render-report: the spec needs config.report.module")
        with atomic_output(call.out, call.in_nix) as work:
            render(Path(call.spec.inputs["data"]), module, work, call.spec.config)
        return 0
    except ReelsetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
