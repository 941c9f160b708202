"""The ground floor every reelset module may import: progress lines and phase times.

Nothing here imports another reelset module, so the harness (:mod:`reelset.step`), the device
policy (:mod:`reelset.device`) and the step libraries (asr, train, package) all log the same way
without importing one another (issue 40: no import circle). A step writes its times to the build
log only, never into ``$out`` (docs/architecture.md, "Reproducibility")::

    timer = Timer()
    with timer.phase("detect"):
        ...
    log(timings_line(timer.timings))   # read back by parse_timings(nix log text)
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

import orjson


class Timer:
    """Collects wall time per named phase (seconds) for the build log (never for ``$out``)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 3)


def log(message: str) -> None:
    """Progress line on stderr (shown in the Nix build log)."""
    print(f"[reelset] {message}", file=sys.stderr, flush=True)


TIMINGS_PREFIX = "[reelset] timings (s): "


def timings_line(timings: dict[str, float]) -> str:
    """The build-log line holding a step's phase times (seconds), e.g.
    ``[reelset] timings (s): {"detect": 0.31, "total": 3.6}``."""
    return TIMINGS_PREFIX + orjson.dumps(timings).decode()


def last_json_line(log_text: str, prefix: str) -> dict[str, float] | None:
    """The ``{name: number}`` object of the last line of ``log_text`` holding ``prefix`` followed by
    valid JSON (lines that do not parse are skipped), or None when there is none."""
    found = None
    for line in log_text.splitlines():
        at = line.find(prefix)
        if at >= 0:
            try:
                found = {str(k): float(v) for k, v in orjson.loads(line[at + len(prefix):]).items()}
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue
    return found


def parse_timings(log_text: str) -> dict[str, float] | None:
    """Phase → seconds from a build log (the last :func:`timings_line` in it), or None when the
    log has none (a build from before the line existed, or one that failed)."""
    return last_json_line(log_text, TIMINGS_PREFIX)


RESOURCES_PREFIX = "[reelset] resources: "


def parse_resources(log_text: str) -> dict[str, float] | None:
    """Peak resident memory from a build log (the last ``[reelset] resources: {json}`` line that
    :func:`main` prints), e.g. ``{"peak_rss_mb": 812.4, "children_peak_rss_mb": 95.1}``: MB (MiB)
    of the step's own process and of its largest waited-for child process (ffmpeg, …), or None
    when the log has no such line (an older build, or a failed one). Linux caveat: a child's
    ``ru_maxrss`` starts at the parent's peak RSS when it was spawned (exec keeps the old
    high-water mark), so ``children_peak_rss_mb`` is max(a child's own peak, the tool's peak at
    spawn time); only a value above ``peak_rss_mb`` is certainly a child's own."""
    return last_json_line(log_text, RESOURCES_PREFIX)
