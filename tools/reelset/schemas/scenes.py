"""step1-scenes: ``[scenes]`` of dataset.toml and ``scenes.json`` (writer: tools/step1_scenes.py).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from reelset.schemas.base import SCHEMA_VERSION, Strict, X264Preset


class SceneConfig(Strict):
    """``[scenes]`` of dataset.toml: PySceneDetect content detector settings."""

    threshold: float = Field(27.0, gt=0, description="ContentDetector threshold (HSV delta, 0-255 scale); lower finds more cuts.")
    min_scene_len_frames: int = Field(15, ge=1, description="Minimum scene length in frames (at the analysis fps).")
    clip_crf: int = Field(17, ge=0, le=51, description="libx264 CRF of the clips (intermediates for review and packaging; "
                          "no B-frames, so one below the usual 18 for the same quality).")
    clip_preset: X264Preset = Field("veryfast", description="libx264 preset of the clips (speed vs size at that CRF; "
                                             "bench/bench_step1.py measures it).")
    thumbnail_width: int = Field(320, ge=16, description="Thumbnail width in pixels (height keeps the square-pixel aspect).")


class VideoInfo(Strict):
    """What ffprobe says of a source video (first video stream)."""

    file: str = Field(description="File name of the source (no directory).")
    container: str = Field(description="ffprobe format_name.")
    codec: str = Field(description="Video codec name.")
    width: int = Field(description="Coded width in pixels.")
    height: int = Field(description="Coded height in pixels.")
    sample_aspect_ratio: str = Field(description="SAR as 'num:den' ('1:1' for square pixels).")
    display_width: int = Field(description="Width in square pixels (width x SAR, even).")
    fps: float = Field(description="Average frame rate, frames per second.")
    fps_rational: str = Field(description="Average frame rate as ffprobe's 'num/den'.")
    vfr: bool = Field(description="True when frame durations vary (variable frame rate).")
    duration_s: float = Field(description="Duration in seconds.")
    has_audio: bool = Field(description="True when the file has an audio stream.")
    other_streams: list[str] = Field(default_factory=list, description="Codec types of ignored streams (subtitle, attachment, data).")


class Scene(Strict):
    """One detected scene (a shot between two cuts) and its clip."""

    index: int = Field(ge=0, description="0-based scene index in the video.")
    clip_id: str = Field(description="Stable id '<video_id>-s<NNNN>' (1-based).")
    start_frame: int = Field(ge=0, description="First frame (inclusive), at the analysis fps.")
    end_frame: int = Field(description="End frame (exclusive), at the analysis fps.")
    frame_count: int = Field(ge=1, description="end_frame - start_frame; also the clip's frame count.")
    start_s: float = Field(ge=0, description="Start time in seconds (start_frame / fps).")
    end_s: float = Field(description="End time in seconds (end_frame / fps).")
    clip: str = Field(description="Clip path relative to the step output (H.264 MP4, square pixels).")
    thumbnail: str = Field(description="JPEG of the clip's first frame, relative path.")
    width: int = Field(description="Clip width in pixels.")
    height: int = Field(description="Clip height in pixels.")

    @model_validator(mode="after")
    def _consistent(self) -> Scene:
        if self.end_frame - self.start_frame != self.frame_count:
            raise ValueError("frame_count must equal end_frame - start_frame")
        return self


class ScenesArtifact(Strict):
    """``$out/scenes.json`` of step1-scenes (one source video)."""

    FILE: ClassVar[str] = "scenes.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(description="Video id from dataset.toml.")
    source: VideoInfo
    analysis_fps: float = Field(description="Frame rate of the frame grid scenes are indexed on (the source's; VFR sources are first resampled to it).")
    total_frames: int = Field(description="Frames on that grid.")
    detector: dict[str, float | int | str] = Field(description="Detector name and settings.")
    scenes: list[Scene]

