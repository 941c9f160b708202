"""audio-tracks: the audio streams of one source video, for Nix to check a ``[[videos]]`` entry's
``audio`` at evaluation time (nix/pipeline.nix reads ``tracks.json`` by import from derivation,
only for entries that set ``audio``), before any step builds.

Input (spec): ``video`` (path of the source), ``video_id``.
Output (``$out``): ``tracks.json`` (a list of :class:`reelset.schemas.scenes.AudioTrack`: stream
index, language tag, default mark, codec, channels, title; from the container header, ffprobe
``-show_streams``), ``meta.json``. A file that is not media fails with
``error: <file>: not a decodable video: <reason>`` (exit status 2).

Run by hand: ``python tools/audio_tracks.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

from reelset import ReelsetError, media
from reelset.step import Context, StepResult, main, write_json

STEP = "audio-tracks"


def run(ctx: Context) -> StepResult:
    spec, out, timer = ctx.spec, ctx.out, ctx.timer
    if not spec.video or not spec.video_id:
        raise ReelsetError(f"{STEP}: spec has no video")
    with timer.phase("probe"):
        tracks = media.audio_tracks(media.ffprobe_json(Path(spec.video), "-show_streams").get("streams", []))
    write_json(out / "tracks.json", [t.model_dump(mode="json") for t in tracks])
    return StepResult(counts={"tracks": len(tracks)}, versions={"ffmpeg": media.program_version("ffprobe")})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
