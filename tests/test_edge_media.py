"""Edge media made with ffmpeg in the test: VFR, anamorphic, MKV with subtitles and an attachment,
no audio, truncated and empty files, a text file. Each is processed correctly or fails clearly."""

from __future__ import annotations

import subprocess

import orjson
import pytest

from conftest import ffmpeg, run_tool, scenes_spec, transcript_spec
from reelset.media import count_frames, probe_video
from reelset.schemas.scenes import ScenesArtifact
from reelset.schemas.transcript import TranscriptArtifact

SPEECH = "Hello Archer. Lana is waiting in Moscow."


def two_shots(out, *extra_out, size="320x240", rate=25, seconds=2, audio=True, speech_wav=None, sar="1"):
    """A two-shot video (testsrc2 then smptebars, hard cut at `seconds`) with a tone or speech."""
    n = rate * seconds
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate},trim=end_frame={n}",
            "-f", "lavfi", "-i", f"smptebars=size={size}:rate={rate},trim=end_frame={n}"]
    fc = f"[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p,setsar={sar}[v]"
    maps = ["-map", "[v]"]
    if speech_wav is not None:
        args += ["-i", str(speech_wav)]
        fc += f";[2:a]apad,atrim=0:{2 * seconds}[a]"
        maps += ["-map", "[a]"]
    elif audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={2 * seconds}"]
        maps += ["-map", "2:a"]
    ffmpeg(*args, "-filter_complex", fc, *maps, "-c:v", "libx264", "-preset", "ultrafast", *extra_out, str(out))
    return out


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), SPEECH], check=True)
    return wav


def scenes(video, tmp_path, **cfg) -> ScenesArtifact:
    proc = run_tool("step1_scenes.py", scenes_spec(video, **cfg), tmp_path / "scenes", tmp_path)
    assert proc.returncode == 0, proc.stderr
    return ScenesArtifact.model_validate(orjson.loads((tmp_path / "scenes" / "scenes.json").read_bytes()))


def test_variable_frame_rate_is_retimed_to_one_frame_grid(tmp_path):
    # 2 s at 30 fps then 2 s at 15 fps, timestamps kept as they are (VFR) in Matroska
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30,trim=end_frame=60", "-c:v", "libx264", str(a))
    ffmpeg("-f", "lavfi", "-i", "smptebars=size=320x240:rate=15,trim=end_frame=30", "-c:v", "libx264", str(b))
    lst = tmp_path / "list.txt"
    lst.write_text(f"file '{a}'\nfile '{b}'\n")
    vfr = tmp_path / "vfr.mkv"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy", str(vfr))
    info, _ = probe_video(vfr)
    assert info.vfr
    art = scenes(vfr, tmp_path)
    assert art.source.vfr
    assert len(art.scenes) == 2
    grid = art.analysis_fps
    assert abs(art.scenes[1].start_s - 2.0) <= 1.5 / grid, art.scenes[1]
    assert abs(art.total_frames - 4.0 * grid) <= 2
    for s in art.scenes:
        assert count_frames(tmp_path / "scenes" / s.clip) == s.frame_count


def test_anamorphic_video_becomes_square_pixels(tmp_path):
    src = two_shots(tmp_path / "ana.mp4", size="720x480", sar="32/27")
    art = scenes(src, tmp_path)
    assert art.source.sample_aspect_ratio == "32:27" and art.source.display_width == 854
    clip = tmp_path / "scenes" / art.scenes[0].clip
    probe = orjson.loads(subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-select_streams", "v:0",
                                         str(clip)], capture_output=True, check=True).stdout)["streams"][0]
    assert (probe["width"], probe["height"]) == (854, 480)
    assert probe.get("sample_aspect_ratio", "1:1") == "1:1"
    assert len(art.scenes) == 2


def test_mkv_with_subtitles_and_attachment(tmp_path, speech_wav):
    base = two_shots(tmp_path / "base.mkv", speech_wav=speech_wav)
    ass = tmp_path / "subs.ass"
    ass.write_text("[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\nStyle: Default,Arial,20\n\n"
                   "[Events]\nFormat: Layer, Start, End, Style, Text\nDialogue: 0,0:00:00.50,0:00:02.00,Default,Hello\n")
    font = tmp_path / "font.ttf"
    font.write_bytes(b"\0\1\0\0fake-font-bytes")
    mkv = tmp_path / "episode.mkv"
    ffmpeg("-i", str(base), "-i", str(ass), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "ass",
           "-attach", str(font), "-metadata:s:t", "mimetype=application/x-truetype-font", str(mkv))
    art = scenes(mkv, tmp_path)
    assert set(art.source.other_streams) >= {"subtitle", "attachment"}
    assert len(art.scenes) == 2
    out = tmp_path / "transcript"
    proc = run_tool("step2_transcript_base.py", transcript_spec(mkv), out, tmp_path)
    assert proc.returncode == 0, proc.stderr
    t = TranscriptArtifact.model_validate(orjson.loads((out / "transcript.json").read_bytes()))
    text = " ".join(s.text for s in t.segments).lower()
    assert t.has_audio and "moscow" in text


def test_video_without_audio(tmp_path):
    src = two_shots(tmp_path / "silent.mp4", audio=False)
    art = scenes(src, tmp_path)
    assert not art.source.has_audio and len(art.scenes) == 2
    out = tmp_path / "transcript"
    proc = run_tool("step2_transcript_base.py", transcript_spec(src), out, tmp_path)
    assert proc.returncode == 0, proc.stderr
    t = TranscriptArtifact.model_validate(orjson.loads((out / "transcript.json").read_bytes()))
    assert t.has_audio is False and t.segments == [] and t.model is None
    assert (out / "transcript.srt").read_text() == ""


@pytest.mark.parametrize("case", ["truncated", "empty", "text"])
def test_undecodable_files_fail_clearly_and_leave_no_output(tmp_path, case):
    bad = tmp_path / f"bad-{case}.mp4"
    if case == "truncated":  # moov atom at the end (no faststart): the first half has no index
        full = two_shots(tmp_path / "full.mp4")
        bad.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    elif case == "empty":
        bad.write_bytes(b"")
    else:
        bad.write_text("this is not a video\n" * 50)
    for script, spec in (("step1_scenes.py", scenes_spec(bad)), ("step2_transcript_base.py", transcript_spec(bad))):
        out = tmp_path / f"out-{script}"
        proc = run_tool(script, spec, out, tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert str(bad) in proc.stderr and "not a decodable video" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert not out.exists() and not list(tmp_path.glob(f"out-{script}.partial-*"))
