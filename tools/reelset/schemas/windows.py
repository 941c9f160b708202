"""The settings every family's package section shares (``[ltx2]``, ``[wan21]``, …): how step3 turns
each reviewed clip into training windows (writer: reelset/package.py ``plan_windows``), and
whether it may write a clip larger than its source (``upscale``: reelset/package.py ``fit_size``).

Its own module so that the family rule modules that subclass it (ltx2_data, wan21_package) do
not pull the manifest schema into the closure of every step that reads a family's rules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reelset.schemas.base import Strict

WindowMode = Literal["head", "chunk", "slide", "uniform", "dialogue"]


class WindowSettings(Strict):
    """Where a package takes its training windows from each reviewed clip: the keys every family's
    package section (``[ltx2]``, ``[wan21]``, …) shares. ``head``/``chunk``/``slide``/``uniform``
    mean what musubi-tuner's ``frame_extraction`` means (kohya-ss/musubi-tuner
    src/musubi_tuner/dataset/image_video_dataset.py, read at its main branch on 2026-12-07), with the
    window length the family's frame rule gives the clip (the longest bucket / ``max_frames`` that
    fits); ``dialogue`` is reelset's own (windows placed on spoken lines). Frames are counted at the
    package's target fps. Measured on the demo and a long-shot dialogue: docs/datasets.md, "Windows"."""

    windows: WindowMode = Field("dialogue", description=(
        "How each reviewed clip becomes training windows (frames at the target fps; F = the longest window the "
        "family's frame rule allows the clip). 'dialogue' (default): a window opens 0.25 s before each spoken line "
        "not yet covered, the longest that holds the whole line without cutting the next, then the stretches "
        "between are chunked; it kept as many seconds as 'chunk' (demo 20.36 vs 20.32 s of 24 s, long-shot dialogue "
        "39.48 s of 42 s both) and quoted 2.4x the words (bench/bench_windows.py, docs/datasets.md 'Windows'). "
        "'head': one window from the clip's start (musubi-tuner 'head'). 'chunk': back-to-back windows of F frames "
        "from the start, then the rest as the longest shorter window the rule allows (musubi-tuner 'chunk' drops that "
        "rest). 'slide': windows of F frames every `frame_stride` frames (overlapping; musubi-tuner 'slide'). "
        "'uniform': `frame_sample` windows of F frames spread evenly from start to end (musubi-tuner 'uniform')."))
    frame_stride: int = Field(1, ge=1, description="'slide': frames between window starts (musubi-tuner `frame_stride`, default 1).")
    frame_sample: int = Field(1, ge=1, description="'uniform': windows per clip (musubi-tuner `frame_sample`, default 1).")
    max_windows: int | None = Field(None, ge=1, le=99, description="Most windows per clip (unset: no cap). 'dialogue' keeps its line windows first, then the chunks between, each in time order.")
    upscale: bool = Field(False, description=(
        "Allow writing a clip larger than its source. Off (default): a clip whose source (square pixels) is smaller than "
        "its bucket / size on either side is written at that size scaled down to fit the source, same aspect, each side "
        "at the family's multiple next to it and not above the source (e.g. a 480x270 source at 960x544 → 448x256), and "
        "dropped with the reason when not even one multiple fits; the manifest records each item's scale and the size it was scaled from. On: "
        "the configured size as it is, upscaled (soft detail a LoRA learns as blur). docs/datasets.md, 'Written sizes'."))
