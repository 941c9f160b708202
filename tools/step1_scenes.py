"""step1-scenes: detect scenes (shots between hard cuts) in one source video and cut
frame-accurate clips.

Input (spec): ``video`` (path of the source), ``video_id``, ``config.scenes``
(:class:`reelset.schemas.scenes.SceneConfig`: ContentDetector threshold, minimum scene length in
frames, clip CRF and x264 preset, thumbnail width).

Output (``$out``):
- ``scenes.json`` (:class:`reelset.schemas.scenes.ScenesArtifact`): per scene the half-open frame
  range ``[start_frame, end_frame)`` and seconds on the analysis frame grid, clip and
  thumbnail paths. Scenes tile the video: their frame counts add up to ``total_frames``.
- ``clips/<clip_id>.mp4``: H.264 (yuv420p, square pixels, no B-frames) + AAC when the source
  has audio; frame count = the scene's; first frame = the scene's first frame. All clips of the
  video come from one decode and one encode (:func:`reelset.media.cut_clips`).
- ``thumbs/<clip_id>.jpg``: first frame of each clip (from the same pass).
- ``meta.json``.

Source handling (decided once per video, :func:`reelset.picture.plan`, recorded in scenes.json
``picture``): variable frame rate sources are first re-timed to their (snapped) average fps on a
lossless intermediate so detection and cuts share one frame grid; a stream that declares
interlaced fields is checked with ffmpeg's ``idet`` on sampled frames and inverse-telecined
(``fieldmatch``/``decimate`` on that intermediate: 29.97 → 23.976 fps) when 3:2 pulldown is found,
else deinterlaced (``bwdif``, one frame per frame); the display matrix (rotation, flips) is applied
as ffmpeg's autorotate applies it; letterbox / pillarbox bars found by ``cropdetect`` over sampled
frames are cropped (the video's ``crop`` in dataset.toml: "auto", "none" or "W:H:X:Y"); anamorphic
sources (SAR != 1:1) are scaled to square pixels (width x SAR); subtitle, data and attachment
streams are ignored. A file that is not a decodable video fails
with ``error: <file>: not a decodable video: <reason>`` (exit status 2).

Run by hand: ``python tools/step1_scenes.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import scenedetect
from scenedetect import ContentDetector, SceneManager, open_video

from reelset import ReelsetError, media, picture
from reelset.declare import Step
from reelset.schemas.scenes import Scene, SceneConfig, ScenesArtifact
from reelset.step import Context, StepResult, log, main, write_json

STEP = Step(name="step1-scenes", device="cpu", level="video", script="step1_scenes.py",
            config={"scenes": SceneConfig}, video_keys=["crop", "audio"])

def detect_scenes(path: Path, cfg: SceneConfig) -> tuple[list[tuple[int, int]], int]:
    """PySceneDetect ContentDetector on ``path`` (CFR): ([(start_frame, end_frame)], total frames).

    Ranges are half-open and tile ``[0, total)``; a video without cuts is one scene.
    """
    video = open_video(str(path))
    manager = SceneManager()
    manager.add_detector(ContentDetector(threshold=cfg.threshold, min_scene_len=cfg.min_scene_len_frames))
    manager.detect_scenes(video=video)
    total = video.frame_number
    scene_list = manager.get_scene_list(start_in_scene=True)
    ranges = [(start.frame_num, end.frame_num) for start, end in scene_list]
    if not ranges:
        ranges = [(0, total)]
    return ranges, total


def run(ctx: Context) -> StepResult:
    spec, out, timer = ctx.spec, ctx.out, ctx.timer
    if not spec.video or not spec.video_id:
        raise ReelsetError(f"{STEP}: spec has no video (video-level step)")
    cfg = ctx.config["scenes"]
    src = Path(spec.video)
    crop = str(spec.video_options.get("crop", "auto"))
    with timer.phase("probe"):
        info, _times = media.probe_video(src)
    log(f"{src.name}: {info.width}x{info.height} SAR {info.sample_aspect_ratio} {info.fps_rational} fps"
        f"{' VFR' if info.vfr else ''}, {info.duration_s:.2f} s, audio={info.has_audio}, field order {info.field_order}"
        f"{f', display rotation {info.rotation}' if info.rotation else ''}{', mirrored' if info.mirrored else ''}")
    track = media.choose_audio(info.audio_tracks, spec.video_options.get("audio"), spec.video_entry())
    info.audio_stream = track.index if track else None
    audio = f"0:{track.index}" if track else "0:a:0?"
    if len(info.audio_tracks) > 1:
        log(f"audio tracks: {'; '.join(t.label() for t in info.audio_tracks)}; the clips carry #{track.index}")
    with timer.phase("sample_picture"):
        plan = picture.plan(src, info, crop, where=spec.video_entry())
    pic = plan.record
    log(f"picture: interlace {pic.interlace.action}, crop {pic.crop.applied or 'none'} (detected {pic.crop.detected}), "
        f"filters '{pic.filters}', clips {pic.width}x{pic.height}")
    fps = plan.fps
    with tempfile.TemporaryDirectory(prefix="reelset-scenes-") as tmp:
        analysis = src
        if info.vfr or plan.analysis:
            fps = media.snap_fps(fps) if info.vfr else fps
            analysis = Path(tmp) / "cfr.mkv"
            log(f"{'variable frame rate, ' if info.vfr else ''}{pic.interlace.action}: a lossless {float(fps):.3f} fps "
                f"intermediate before detection")
            with timer.phase("resample_cfr"):
                media.resample_cfr(src, analysis, fps if info.vfr else None, plan.analysis, audio=audio)
        with timer.phase("detect"):
            try:
                ranges, total = detect_scenes(analysis, cfg)
            except ReelsetError:
                raise
            except Exception as exc:  # PySceneDetect/OpenCV raise assorted errors on broken files
                raise ReelsetError(f"{src}: not a decodable video: scene detection failed: {exc}") from exc
        if total == 0:
            raise ReelsetError(f"{src}: not a decodable video: no frame could be decoded")
        log(f"{len(ranges)} scenes in {total} frames")
        (out / "clips").mkdir()
        (out / "thumbs").mkdir()
        width, height = pic.width, pic.height
        ids = [f"{spec.video_id}-s{i + 1:04d}" for i in range(len(ranges))]
        with timer.phase("clips"):
            media.cut_clips(analysis, ranges, [out / "clips" / f"{c}.mp4" for c in ids],
                            [out / "thumbs" / f"{c}.jpg" for c in ids], fps, width, height,
                            cfg.clip_crf, cfg.clip_preset, info.has_audio, cfg.thumbnail_width, filters=plan.picture,
                            audio=audio if analysis == src else "0:a:0?")
        scenes = [Scene(index=i, clip_id=clip_id, start_frame=start, end_frame=end, frame_count=end - start,
                        start_s=round(start / float(fps), 6), end_s=round(end / float(fps), 6),
                        clip=f"clips/{clip_id}.mp4", thumbnail=f"thumbs/{clip_id}.jpg", width=width, height=height)
                  for i, (clip_id, (start, end)) in enumerate(zip(ids, ranges, strict=True))]
    artifact = ScenesArtifact(
        video_id=spec.video_id, source=info, picture=pic, analysis_fps=float(fps), total_frames=total,
        detector={"name": "ContentDetector", "threshold": cfg.threshold,
                  "min_scene_len_frames": cfg.min_scene_len_frames},
        scenes=scenes)
    write_json(out / "scenes.json", artifact)
    return StepResult(counts={"scenes": len(scenes), "frames": total},
                      versions={"scenedetect": scenedetect.__version__, "ffmpeg": media.program_version("ffmpeg")})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
