"""step2-shot-reference (one frame): extract the frame one bible reference shot names.

One derivation per distinct reference shot (video id + time in seconds) of the bible: its
inputs are that video and that time only, so adding a video, another shot or editing any other
bible text extracts no frame again (nix/pipeline.nix reads the shots from step2-bible's
bible.json at evaluation time).

Input (spec): ``video_id``, ``video`` (the source), ``config.shot.t`` (seconds) and
``config.shot.where`` (the bible field, for messages, e.g. 'bible.yaml: characters[1].reference_shots[0]').

The frame shown at t (the last frame whose presentation time is <= t) is decoded exactly and
written as PNG in square pixels (width x SAR). Errors (exit status 2) name the bible field:
``bible.yaml: characters[3].reference_shots[0].t: 31.5 s is past the end of video demo01 (24.000 s)``.

Output (``$out``): ``frame.json`` (:class:`reelset.schemas.references.ExtractedFrame`), ``frame.png``, ``meta.json``.

Run by hand: ``python tools/step2_reference_frame.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

from reelset import ReelsetError, frames, media
from reelset.schemas.references import ExtractedFrame
from reelset.step import Context, StepResult, main, write_json

STEP = "step2-shot-reference"


def run(ctx: Context) -> StepResult:
    spec, out, timer = ctx.spec, ctx.out, ctx.timer
    shot = spec.config.get("shot") or {}
    if not spec.video or not spec.video_id or not isinstance(shot.get("t"), (int, float)):
        raise ReelsetError(f"{STEP}: a reference-frame spec needs video_id, video and config.shot.t (seconds)")
    t, where = float(shot["t"]), shot.get("where", f"reference shot {spec.video_id} @ {shot['t']} s")
    src = Path(spec.video)
    with timer.phase("probe"):
        info, times = media.probe_video(src)
    last_end = times[-1] + (1 / info.fps if info.fps else 0)
    if t >= min(info.duration_s, last_end):
        raise ReelsetError(f"{where}.t: {t} s is past the end of video {spec.video_id} ({min(info.duration_s, last_end):.3f} s)")
    try:
        idx = frames.frame_at(times, t)
    except ReelsetError as exc:
        raise ReelsetError(f"{where}.t: {exc}") from exc
    height = info.display_height  # the displayed (turned) size
    with timer.phase("extract"):
        frames.extract_frame(src, times[idx], times[idx + 1] if idx + 1 < len(times) else None,
                             out / "frame.png", info.display_width, height, info.orientation_filters)
    write_json(out / "frame.json", ExtractedFrame(video=spec.video_id, t=t, frame_index=idx, frame_t=round(times[idx], 6),
                                                  image="frame.png", width=info.display_width, height=height))
    return StepResult(counts={"frames": 1}, versions={"ffmpeg": media.program_version("ffmpeg")})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
