"""step2-transcript-base on the demo video with faster-whisper tiny.en (real model, real speech)."""

from __future__ import annotations

import re
from itertools import pairwise

import jiwer
import orjson
import srt

from conftest import DEMO_SCRIPT
from reelset.schemas.base import StepMeta
from reelset.schemas.transcript import TranscriptArtifact


def load(out) -> TranscriptArtifact:
    return TranscriptArtifact.model_validate(orjson.loads((out / "transcript.json").read_bytes()))


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text.lower())).strip()


def test_transcript_recovers_the_script(demo_transcript):
    t = load(demo_transcript)
    assert t.has_audio and t.language == "en"
    reference = normalize(" ".join(line["text"] for line in DEMO_SCRIPT["lines"]))
    hypothesis = normalize(" ".join(s.text for s in t.segments))
    wer = jiwer.wer(reference, hypothesis)
    assert wer <= 0.35, (wer, hypothesis)
    # names as tiny.en hears them: Archer and Lana come through unaided
    assert "archer" in hypothesis and "lana" in hypothesis


def test_word_timestamps_are_monotone_and_inside_vad_speech(demo_transcript):
    t = load(demo_transcript)
    words = [w for s in t.segments for w in s.words]
    assert len(words) >= 30
    assert t.speech_regions, "VAD found no speech"
    for a, b in pairwise(words):
        assert a.start <= a.end <= b.start + 1e-3, (a, b)
    tolerance = 0.25  # seconds: word edges may reach into the VAD padding
    for w in words:
        assert any(start - tolerance <= w.start and w.end <= end + tolerance for start, end in t.speech_regions), w
    # each spoken line starts within a second of the segment that carries it
    starts = [s.start for s in t.segments]
    for line in DEMO_SCRIPT["lines"]:
        assert min(abs(line["start_s"] - s) for s in starts) < 1.0, line


def test_subtitles_and_meta(demo_transcript):
    t = load(demo_transcript)
    assert abs(t.audio_duration_s - 24.0) < 0.1 and t.batch_size == 8  # the CPU default
    assert t.model is not None and t.model.repo == "Systran/faster-whisper-tiny.en"
    assert t.device == "cpu" and t.compute_type == "int8"
    subs = list(srt.parse((demo_transcript / "transcript.srt").read_text()))
    assert [s.content for s in subs] == [s.text for s in t.segments]
    vtt = (demo_transcript / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT") and t.segments[0].text in vtt
    meta = StepMeta.model_validate(orjson.loads((demo_transcript / "meta.json").read_bytes()))
    assert meta.counts["words"] == sum(len(s.words) for s in t.segments)
    assert meta.device == "cpu" and "timings_s" not in orjson.loads((demo_transcript / "meta.json").read_bytes())


def test_silero_vad_runs_once_and_gives_the_pipelines_own_windows(monkeypatch):
    """The step's VAD regions are handed to faster-whisper's batched pipeline (issue 15: one VAD
    pass per file): inside reelset.asr.decode.transcribe the library's own VAD call is never reached, it is put
    back afterwards, and the windows equal those of the pipeline running its own VAD."""
    from faster_whisper import transcribe as fw_transcribe

    from conftest import DEMO_VIDEO, TINY_EN
    from reelset import media
    from reelset.asr import decode as asr_decode
    from reelset.asr import whisper as asr_whisper
    from reelset.asr import windows as asr_windows
    from reelset.device import DevicePolicy
    from reelset.schemas.transcript import AsrConfig

    cfg = AsrConfig(language="en")
    audio = media.decode_audio_16k(DEMO_VIDEO)
    timestamps = asr_windows.speech_timestamps(audio, cfg)
    model, device, _ = asr_whisper.load_whisper(TINY_EN, cfg, DevicePolicy())
    original = fw_transcribe.get_speech_timestamps
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(fw_transcribe, "get_speech_timestamps", counting)
    reused, _, _ = asr_decode.transcribe(model, audio, timestamps, cfg, asr_whisper.default_batch_size(cfg, device), "test")
    assert calls == [] and fw_transcribe.get_speech_timestamps is counting
    monkeypatch.setattr(asr_decode, "reuse_vad", lambda _timestamps: __import__("contextlib").nullcontext())
    own, _, _ = asr_decode.transcribe(model, audio, timestamps, cfg, asr_whisper.default_batch_size(cfg, device), "test")
    assert calls == [1], "the pipeline's own VAD should have run once here"
    assert reused and reused[0].words and [(w.text, w.words, w.spans) for w in reused] == [(w.text, w.words, w.spans) for w in own]
