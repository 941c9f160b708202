"""step1-scenes: ``[scenes]`` of dataset.toml and ``scenes.json`` (writer: tools/step1_scenes.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

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


class AudioTrack(Strict):
    """One audio stream of a source (ffprobe)."""

    index: int = Field(description="Stream index in the file (ffprobe's, as in ffmpeg's 'Stream #0:<index>'); "
                       "`audio = <index>` of a [[videos]] entry chooses it.")
    language: str | None = Field(None, description="Language tag of the stream (e.g. 'eng', 'jpn'); `audio = \"<language>\"` chooses it.")
    default: bool = Field(False, description="The container marks it default (the track players start with).")
    codec: str = Field("unknown", description="Audio codec name.")
    channels: int = Field(0, description="Channel count.")
    title: str | None = Field(None, description="Title tag of the stream, if any.")

    def label(self) -> str:
        """'#2 eng "English" (aac, 2 ch, default)': how messages and reports name the track."""
        extra = ", default" if self.default else ""
        title = f' "{self.title}"' if self.title else ""
        return f"#{self.index} {self.language or 'und'}{title} ({self.codec}, {self.channels} ch{extra})"


class VideoInfo(Strict):
    """What ffprobe says of a source video (first video stream)."""

    file: str = Field(description="File name of the source (no directory).")
    container: str = Field(description="ffprobe format_name.")
    codec: str = Field(description="Video codec name.")
    width: int = Field(description="Coded width in pixels.")
    height: int = Field(description="Coded height in pixels.")
    sample_aspect_ratio: str = Field(description="SAR as 'num:den' ('1:1' for square pixels).")
    rotation: int = Field(0, description="Display matrix: degrees the coded picture is turned counter-clockwise for display, "
                          "as ffmpeg's autorotate turns it (0, 90, 180, 270; phones write 270 for portrait video).")
    mirrored: bool = Field(False, description="Display matrix: the displayed picture is the coded one mirrored (a flip).")
    orientation_filters: list[str] = Field(default_factory=list, description="ffmpeg filters that turn the coded picture "
                                           "into the displayed one (those of ffmpeg's autorotate), e.g. ['transpose=clock'].")
    display_width: int = Field(description="Displayed width in square pixels (after the display matrix; width x SAR, even).")
    display_height: int = Field(description="Displayed height in pixels (after the display matrix, even).")
    field_order: str = Field("progressive", description="Field order the stream declares (ffprobe: progressive, tt, bb, tb, "
                             "bt, or unknown).")
    fps: float = Field(description="Average frame rate, frames per second.")
    fps_rational: str = Field(description="Average frame rate as ffprobe's 'num/den'.")
    vfr: bool = Field(description="True when frame durations vary (variable frame rate).")
    duration_s: float = Field(description="Duration in seconds.")
    has_audio: bool = Field(description="True when the file has an audio stream.")
    audio_tracks: list[AudioTrack] = Field(default_factory=list, description="Every audio stream of the file.")
    audio_stream: int | None = Field(None, description="Stream index of the audio track the clips carry (the video's "
                                     "`audio` in dataset.toml; default: the track marked default, else the first); None without audio.")
    other_streams: list[str] = Field(default_factory=list, description="Codec types of ignored streams (subtitle, attachment, data).")


class Interlace(Strict):
    """How an interlaced source was made progressive (step1): the stream's field order confirmed by
    ffmpeg's ``idet`` on sampled frames."""

    field_order: str = Field(description="Field order the stream declares (ffprobe).")
    idet: dict[str, int] = Field(default_factory=dict, description="idet counts summed over the sampled frames: tff, bff, "
                                 "progressive, undetermined (multi-frame detection), repeated_top, repeated_bottom, "
                                 "neither (repeated fields). Empty when the stream declares progressive frames.")
    action: Literal["none", "deinterlace", "inverse_telecine"] = Field(description="'deinterlace': bwdif, one frame per frame "
                                   "(frame count and times kept); 'inverse_telecine': fieldmatch + decimate (3:2 pulldown "
                                   "undone: 4 frames of every 5, 29.97 → 23.976 fps); 'none': progressive.")
    filter: str = Field("", description="The ffmpeg filter chain applied ('' for none).")


class Crop(Strict):
    """Letterbox / pillarbox bars removed before clips are cut (step1), in displayed pixels
    (after the display matrix, before scaling to square pixels)."""

    setting: str = Field(description="The video's `crop` of dataset.toml: 'auto', 'none' or 'W:H:X:Y'.")
    detected: str | None = Field(None, description="cropdetect's box over the sampled frames as 'W:H:X:Y' (auto only; "
                                 "None when no sample had a non-black picture).")
    applied: str | None = Field(None, description="The crop applied as 'W:H:X:Y' (None: the whole frame).")


class Picture(Strict):
    """What step1 did to the source picture before scenes were detected and clips cut."""

    interlace: Interlace
    crop: Crop
    orientation_filters: list[str] = Field(default_factory=list, description="Display-matrix filters applied (VideoInfo.orientation_filters).")
    filters: str = Field("", description="The whole ffmpeg filter chain applied to the source before scaling "
                         "(deinterlace or inverse telecine, orientation, crop), '' for none.")
    width: int = Field(description="Clip width in pixels (square pixels, even).")
    height: int = Field(description="Clip height in pixels (even).")
    sampled_frames: int = Field(0, description="Frames of the source decoded to detect interlace and bars.")


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
    picture: Picture | None = Field(None, description="Deinterlace, orientation and crop applied to the source (None: made before they were recorded).")
    analysis_fps: float = Field(description="Frame rate of the frame grid scenes are indexed on (the source's; VFR sources are first resampled to it; an inverse-telecined source's is 4/5 of it).")
    total_frames: int = Field(description="Frames on that grid.")
    detector: dict[str, float | int | str] = Field(description="Detector name and settings.")
    scenes: list[Scene]

