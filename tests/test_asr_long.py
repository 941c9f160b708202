"""step2-transcript-base on long inputs made here (espeak-ng + ffmpeg lavfi) with tiny.en:
batched VAD-chunked decoding, sentence segments, hallucination guards, progress lines.

Media (tests/speech_media.py), made once per module and transcribed once each by the tool's CLI:
- a multi-voice dialogue of 54 known sentences (four espeak-ng voices), once with 0.8 s
  pauses between sentences (~4 min) and once with none (~3.1 min);
- a 40-sentence monologue without pauses (~137 s, one voice);
- two lists of sentences read without pauses by other voices, pitches and speeds (~135 s each, issue 37);
- music-like tones, a steady tone and noise only (60 s), decoded with and without VAD.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import jiwer
import numpy as np
import orjson
import pytest
import srt

from conftest import Built, run_tool, transcript_spec
from reelset import cpu_kernels
from reelset.asr import decode as asr_decode
from reelset.asr import guards as asr_guards
from reelset.asr import redecode as asr_redecode
from reelset.asr import segments as asr_segments
from reelset.asr import whisper as asr_whisper
from reelset.asr import windows as asr_windows
from reelset.device import DevicePolicy
from reelset.hallucination import PHANTOM_PHRASES, normalize, repetition_spans
from reelset.schemas.transcript import AsrConfig, GuardConfig, TranscriptArtifact
from speech_media import (
    OTHER_VOICE_LISTS,
    VOICES,
    Line,
    dialogue_script,
    list_script,
    make_nonspeech_video,
    make_speech_video,
    refrain_script,
)
from speech_scoring import norm, sentence_scores

# Bounds measured over the machine-dependent variants of bench/bench_asr_variants.py (bench/asr_variants.json,
# bench/RESULTS.md "issue 23"): CTranslate2 on MKL or oneDNN, ISA AVX2/AVX, 1/2/4 threads, Silero VAD with
# onnxruntime's basic optimisation, numpy's OpenBLAS with its Haswell kernels. tiny.en on espeak-ng speech:
WER_BOUND = 0.22  # measured 0.121-0.174 (names are most of the errors)
SENTENCE_WER = 0.5  # a sentence is heard right when at most half its words are wrong (two names of ~10 words)
# A sentence may be mis-heard (its names heard as other words: substitutions, e.g. "Lana had dinner with
# Krieger" → "Longer had been a wind creature" with OpenBLAS's Haswell kernels); measured: at most 1 of 54
# per file. It is never lost: its span holds about as many words as were said (measured 0.83-1.22) and
# few of its words are deleted (measured ≤ 0.17).
MISHEARD_MAX = 3
WORD_RATIO = (0.6, 1.6)
DELETED_MAX = 0.34
# Each long-form test runs twice (issue 37): under the CPU kernel pins every Nix build of the ASR steps
# carries (reelset.cpu_kernels.PINNED: the bytes a user gets, on any AVX2 CPU), and under the kernels an
# AMD CPU without AVX-512 picks by itself (CTranslate2 and oneDNN at AVX2, oneDNN instead of MKL; numpy
# and OpenBLAS as this machine picks them), so that an assertion that holds on one machine only fails in
# CI, not on a user's first run (issues 23, 37). The bounds above hold across bench/asr_variants_pinned.json.
DISPATCH = {"pinned": cpu_kernels.PINNED,
            "amd-like": {"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def dispatch_env(name: str) -> dict:
    """Process environment for the dispatch ``name``; skips where the CPU lacks AVX2."""
    if "avx2" not in Path("/proc/cpuinfo").read_text():
        pytest.skip(f"dispatch {name} needs an AVX2 CPU")
    return {**os.environ, **DISPATCH[name]}


@dataclass
class Run:
    """One tool run: its output folder, stderr, the spoken lines (empty for non-speech), the artifact."""

    out: Path
    stderr: str
    lines: list[Line]
    t: TranscriptArtifact


MEDIA = {  # name → (lines, pause between lines in s) or None for non-speech
    "dialogue_pauses": (dialogue_script(54), 0.8),
    "dialogue_no_pauses": (dialogue_script(54), 0.0),
    "monologue": (dialogue_script(40, VOICES[:1]), 0.0),
    # repeated phrasing (issue 26): a 40-item list read without pauses (~3 min), a verse/refrain song (~85 s)
    "list": (list_script(40), 0.0),
    "refrain": (refrain_script(12), 0.0),
    # issue 37: lists of sentences read without pauses by other voices, pitches and speeds (~135 s each):
    # (lines, pause s, espeak-ng words/min)
    **{name: (dialogue_script(n, [voice]), 0.0, speed) for name, (voice, n, speed) in OTHER_VOICE_LISTS.items()},
    "nonspeech": None,
}
# repeated phrasing: measured (MKL and oneDNN+Haswell) list 38/40 sentences heard, WER 0.21-0.22; refrain 24/24, 0.05
REPEATED_HEARD_MIN = 0.9  # issue 26: >= 90 % of the sentences
REPEATED_WER = {"list": 0.3, "refrain": 0.15}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Built:
    """name (a MEDIA key, or 'nonspeech_no_vad': the same file with ``[asr] vad = false``; with
    ``@<dispatch>`` appended: transcribed under that :data:`DISPATCH`) → its transcription by the
    step2-transcript-base CLI, made on first use."""
    root = tmp_path_factory.mktemp("asr-long")
    timed: dict[str, list[Line]] = {}

    def make(key: str) -> Run:
        name, _, dispatch = key.partition("@")
        base = name.removesuffix("_no_vad")
        video = root / f"{base}.mp4"
        if base not in timed:
            if MEDIA[base] is None:
                make_nonspeech_video(video)
                timed[base] = []
            else:
                timed[base] = make_speech_video(MEDIA[base][0], video, pause_s=MEDIA[base][1],
                                                speed=MEDIA[base][2] if len(MEDIA[base]) > 2 else 150)
        out = root / f"out-{name}-{dispatch or 'pinned'}"
        asr_cfg = {"vad": False} if name != base else {}
        proc = run_tool("step2_transcript_base.py", transcript_spec(video, name.replace("_", "-"), **asr_cfg), out, root,
                        env=dispatch_env(dispatch or "pinned"))
        assert proc.returncode == 0, proc.stderr
        t = TranscriptArtifact.model_validate(orjson.loads((out / "transcript.json").read_bytes()))
        return Run(out, proc.stderr, timed[base], t)

    return Built(make)


def assert_every_sentence_heard(run: Run) -> None:
    """Every sentence of the script is present (none lost), and at most :data:`MISHEARD_MAX` are mis-heard."""
    sc = sentence_scores(run.t, run.lines)
    lost = [(line.text, said, round(r, 2), round(d, 2)) for line, said, r, d
            in zip(run.lines, sc.heard, sc.word_ratio, sc.deleted_share, strict=True)
            if not WORD_RATIO[0] <= r <= WORD_RATIO[1] or d > DELETED_MAX]
    assert not lost, f"sentences lost (text, heard, words heard/said, share deleted): {lost}"
    misheard = [(line.text, said) for line, said, w in zip(run.lines, sc.heard, sc.sentence_wer, strict=True)
                if w > SENTENCE_WER]
    assert len(misheard) <= MISHEARD_MAX, misheard


def lines_per_segment(segments, lines: list[Line]) -> list[int]:
    """How many spoken lines each segment's words lie in (by their midpoints)."""
    def line_of(t: float) -> int:  # the line being spoken (or just spoken) at t seconds
        return max((i for i, ln in enumerate(lines) if ln.start_s <= t), default=0)
    return [len({line_of((w.start + w.end) / 2) for w in s.words}) for s in segments]


def assert_one_line_each(segments, lines: list[Line]) -> None:
    """Segments are sentences: each lies (by its words' midpoints) in one spoken line, bar a few cut
    by a 30 s window boundary; none spans three lines; about one segment a line."""
    spans = lines_per_segment(segments, lines)
    assert max(spans) <= 2 and sum(n == 1 for n in spans) >= 0.9 * len(spans), spans
    assert len(lines) <= len(segments) <= 1.2 * len(lines), (len(lines), len(segments))


@pytest.mark.parametrize("dispatch", DISPATCH)
@pytest.mark.parametrize("name", ["dialogue_pauses", "dialogue_no_pauses"])
def test_dialogue_wer_every_sentence_one_segment_each(runs, name, dispatch):
    run = runs[name if dispatch == "pinned" else f"{name}@{dispatch}"]
    assert run.lines[-1].end_s >= 180, "the dialogue must last at least 3 minutes"
    sc = sentence_scores(run.t, run.lines)
    print(f"\n{name} ({dispatch}): {run.lines[-1].end_s:.0f} s, WER {sc.wer:.3f}, {len(run.t.segments)} segments for "
          f"{len(run.lines)} sentences, worst sentence WER {max(sc.sentence_wer):.2f}")
    assert sc.wer <= WER_BOUND, (sc.wer, " ".join(s.text for s in run.t.segments))
    assert_every_sentence_heard(run)
    assert not [s for s in run.t.segments if s.flags], "clean speech flagged as hallucination"
    assert_one_line_each(run.t.segments, run.lines)
    # subtitles are the segments
    subs = list(srt.parse((run.out / "transcript.srt").read_text()))
    assert [s.content for s in subs] == [s.text for s in run.t.segments]


def unpunctuated_windows(t: TranscriptArtifact) -> list[asr_windows.Window]:
    """The decoding windows behind ``t``'s segments (a window's segments follow each other and carry
    its scores), their words stripped of punctuation: the dialogue as Whisper often writes it."""
    windows: list[asr_windows.Window] = []
    for s in t.segments:
        if not windows or (windows[-1].avg_logprob, windows[-1].no_speech_prob) != (s.avg_logprob, s.no_speech_prob):
            windows.append(asr_windows.Window(text="", avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob, words=[]))
        windows[-1].words += [(bare(w.word), w.start, w.end, w.probability) for w in s.words if bare(w.word)]
    for win in windows:
        win.text = " ".join(w[0] for w in win.words)
    return windows


@pytest.mark.parametrize("dispatch", DISPATCH)
def test_dialogue_without_punctuation_one_segment_each(runs, dispatch):
    """The dialogue read with 0.8 s pauses, its words as the step decoded them but without
    punctuation, segmented again by the step's segmenter (issue 37: Whisper wrote no full stop over
    four lines, and an 11.7 s segment held them all): the pauses alone end the segments, one a
    line. Without the pause rule the same words run over several lines, so the check can fail."""
    run = runs["dialogue_pauses" if dispatch == "pinned" else f"dialogue_pauses@{dispatch}"]
    windows = unpunctuated_windows(run.t)
    assert not any(re.search(r"[.?!,]", w[0]) for win in windows for w in win.words)
    cfg = AsrConfig()
    segments = asr_segments.sentence_segments(windows, run.t.speech_regions, cfg)
    spans = lines_per_segment(segments, run.lines)
    print(f"\nwithout punctuation ({dispatch}): {len(segments)} segments for {len(run.lines)} lines, longest "
          f"{max(s.end - s.start for s in segments):.1f} s, at most {max(spans)} lines in one")
    assert_one_line_each(segments, run.lines)
    assert not [s for s in segments if s.flags]
    run_on = asr_segments.sentence_segments(windows, run.t.speech_regions, cfg.model_copy(update={"split_pause_s": 1000.0}))
    assert max(lines_per_segment(run_on, run.lines)) >= 3
    assert max(s.end - s.start for s in run_on) <= cfg.max_segment_s


@pytest.mark.parametrize("name", ["dialogue_pauses", "dialogue_no_pauses", "monologue"])
def test_word_timestamps_monotone_and_inside_vad_speech(runs, name):
    t = runs[name].t
    words = [w for s in t.segments for w in s.words]
    assert t.speech_regions and words
    for a, b in pairwise(words):
        assert a.start <= a.end <= b.start + 1e-3, (a, b)
    for a, b in pairwise(t.segments):
        assert a.end <= b.start + 1e-3 and a.start <= a.end, (a, b)
    tolerance = 0.25  # seconds: word edges may reach into the VAD padding
    for w in words:
        assert any(start - tolerance <= w.start and w.end <= end + tolerance for start, end in t.speech_regions), w


@pytest.mark.parametrize("dispatch", DISPATCH)
def test_monologue_without_pauses_has_no_loop_and_every_sentence(runs, dispatch):
    run = runs["monologue" if dispatch == "pinned" else f"monologue@{dispatch}"]
    tokens = [norm(w.word) for s in run.t.segments for w in s.words]
    # no n-gram (1-8 words) said three times back to back anywhere (checked here, not by the guard)
    for n in range(1, 9):
        for i in range(len(tokens) - 3 * n + 1):
            assert not (tokens[i:i + n] == tokens[i + n:i + 2 * n] == tokens[i + 2 * n:i + 3 * n]), tokens[i:i + 3 * n]
    assert_every_sentence_heard(run)
    assert not [s for s in run.t.segments if s.flags]
    assert max(s.end - s.start for s in run.t.segments) <= AsrConfig().max_segment_s


def test_a_lost_sentence_fails_the_presence_check(runs):
    """The bounds tolerate a mis-heard sentence, never a lost one: the monologue's transcript with
    one sentence's words removed, or cut to its first half, fails the check."""
    run = runs["monologue"]
    assert_every_sentence_heard(run)
    line = run.lines[7]

    def inside(w) -> bool:
        return line.start_s - 0.3 <= (w.start + w.end) / 2 <= line.end_s + 0.3

    def edited(keep) -> Run:
        t = run.t.model_copy(deep=True)
        for seg in t.segments:
            seg.words = [w for i, w in enumerate(seg.words) if not inside(w) or keep(i, w, seg.words)]
            seg.text = " ".join(w.word for w in seg.words)
        return Run(run.out, run.stderr, run.lines, t)

    half = (line.start_s + line.end_s) / 2
    for cut in (lambda i, w, ws: False, lambda i, w, ws: w.end <= half):
        with pytest.raises(AssertionError, match="sentences lost"):
            assert_every_sentence_heard(edited(cut))
    # a loop in a sentence's place is a repetition: the n-gram check of the monologue test and the
    # no-flags-on-clean-speech assertions catch it, not this one



def test_same_input_gives_byte_identical_transcript(runs, tmp_path):
    run = runs["monologue"]
    video = run.out.parent / "monologue.mp4"
    again = tmp_path / "again"
    proc = run_tool("step2_transcript_base.py", transcript_spec(video, "monologue"), again, tmp_path,
                    env=dispatch_env("pinned"))
    assert proc.returncode == 0, proc.stderr
    for name in ("transcript.json", "transcript.srt", "transcript.vtt"):
        assert (again / name).read_bytes() == (run.out / name).read_bytes(), name
    # meta.json records the pins the run got (reelset.cpu_kernels)
    versions = orjson.loads((again / "meta.json").read_bytes())["versions"]
    assert {k: versions[f"env_{k}"] for k in cpu_kernels.PINNED} == cpu_kernels.PINNED, versions
    assert versions["ctranslate2_isa"] == "AVX2" and versions["ctranslate2_use_mkl"] == "false"
    assert versions["ctranslate2_intra_threads"] == str(AsrConfig().cpu_threads)


@pytest.mark.parametrize("name", ["nonspeech", "nonspeech_no_vad"])
def test_music_tones_and_noise_give_no_unflagged_words(runs, name):
    t = runs[name].t
    unflagged = [s.text for s in t.segments if not s.flags]
    print(f"\n{name}: {len(t.segments)} segments, flagged: {[(s.text, [f.check for f in s.flags]) for s in t.segments]}")
    assert not unflagged, unflagged
    if name.endswith("no_vad"):  # every 30 s window decoded: the guards, not the VAD, keep the text out
        assert t.segments and t.vad["enabled"] is False


def test_progress_lines_on_stderr(runs, monkeypatch, capsys):
    stderr = runs["dialogue_pauses"].stderr
    final = [ln for ln in stderr.splitlines() if re.search(r"ASR: [\d.]+ / [\d.]+ s of audio \(100 %\).*RTF [\d.]+, ETA 0 s", ln)]
    assert final, stderr
    # the heartbeat: a line every PROGRESS_EVERY_S while decoding runs (shortened here)
    monkeypatch.setattr(asr_decode, "PROGRESS_EVERY_S", 0.05)
    with asr_decode.Progress("ASR", 100.0) as p:
        p.done_s = 25.0
        time.sleep(0.3)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "ASR: 25.0 / 100.0 s of audio (25 %)" in ln]
    assert len(lines) >= 3 and "ETA" in lines[0] and "RTF" in lines[0], lines


@pytest.mark.parametrize("dispatch", DISPATCH)
@pytest.mark.parametrize("name", ["list", "refrain"])
def test_repeated_phrasing_is_speech_not_a_loop(runs, name, dispatch):
    """A list read without pauses and a song's refrain compress like a loop (ratio 2.4-5.3):
    the compression ratio only triggers a second look; >= 90 % of the sentences come back, none
    flagged, no speech lost (issue 26)."""
    run = runs[name if dispatch == "pinned" else f"{name}@{dispatch}"]
    sc = sentence_scores(run.t, run.lines)
    heard = sum(w <= SENTENCE_WER for w in sc.sentence_wer)
    print(f"\n{name} ({dispatch}): {heard}/{len(run.lines)} sentences, WER {sc.wer:.3f}, "
          f"{len(run.t.segments)} segments, speech without words {run.t.speech_without_words}")
    assert heard >= REPEATED_HEARD_MIN * len(run.lines), [(ln.text, h) for ln, h, w in
                                                            zip(run.lines, sc.heard, sc.sentence_wer, strict=True) if w > SENTENCE_WER]
    assert sc.wer <= REPEATED_WER[name], sc.wer
    assert not [(s.text, s.flags) for s in run.t.segments if s.flags]
    assert not run.t.speech_without_words
    # it compresses like a loop (Whisper's 2.4 threshold), yet nothing was discarded or flagged
    from faster_whisper.transcribe import get_compression_ratio
    assert get_compression_ratio(" ".join(s.text for s in run.t.segments)) > AsrConfig().guards.compression_ratio


# issue 37: sentences heard of the lists read by other voices (WER <= 0.5), measured pinned / AMD-like:
# voices_f2 43 / 45 and 44 / 45, voices_m2 40 / 42 and 41 / 42 (the rest mis-heard names, none lost)
OTHER_VOICES_HEARD_MIN = 0.9


@pytest.mark.parametrize("dispatch", DISPATCH)
@pytest.mark.parametrize("name", OTHER_VOICE_LISTS)
def test_lists_read_by_other_voices_lose_no_sentence_to_a_loop(runs, name, dispatch):
    """A list of sentences read without pauses by a voice, pitch and speed the other media do not
    use (issue 37: tiny.en looped over 28 s of such a window and its sentences were flagged): >= 90 %
    of the sentences heard, none lost, no loop left, nothing flagged, no speech without words."""
    run = runs[name if dispatch == "pinned" else f"{name}@{dispatch}"]
    sc = sentence_scores(run.t, run.lines)
    heard = sum(w <= SENTENCE_WER for w in sc.sentence_wer)
    print(f"\n{name} ({dispatch}): {run.lines[-1].end_s:.0f} s, {heard}/{len(run.lines)} sentences, WER {sc.wer:.3f}, "
          f"{len(run.t.segments)} segments")
    assert 120 <= run.lines[-1].end_s <= 150
    assert heard >= OTHER_VOICES_HEARD_MIN * len(run.lines), [(ln.text, h) for ln, h, w in
                                                                zip(run.lines, sc.heard, sc.sentence_wer, strict=True) if w > SENTENCE_WER]
    assert not repetition_spans([normalize(w.word) for s in run.t.segments for w in s.words], AsrConfig().guards)
    assert not [(s.text, s.flags) for s in run.t.segments if s.flags]
    assert not run.t.speech_without_words


def test_a_loop_is_repaired_from_its_start(runs):
    """A window whose words turn into a loop halfway (the first pass's words up to a line's start,
    then "acha told" x21 over the rest, as tiny.en decoded such a list in issue 37) is decoded again
    from the loop's start in pieces of <= 5 s: the words before the loop stay as they were, the loop
    is gone, and the sentences it covered are heard."""
    from conftest import TINY_EN
    from reelset import media

    run = runs["voices_f2"]
    audio = media.decode_audio_16k(run.out.parent / "voices_f2.mp4")
    cfg = AsrConfig()
    model, _, _ = asr_whisper.load_whisper(TINY_EN, cfg, DevicePolicy())
    lines = run.lines[8:16]
    a, b, mid = lines[0].start_s, lines[-1].end_s, lines[3].start_s
    spans = [(max(r0, a), min(r1, b)) for r0, r1 in run.t.speech_regions if min(r1, b) > max(r0, a)]
    before = [(w.word, w.start, w.end, w.probability) for s in run.t.segments for w in s.words if a <= w.start and w.end <= mid]
    assert len(before) >= 15
    step = (b - mid) / 42
    loop = [(w, round(mid + k * step, 3), round(mid + (k + 0.8) * step, 3), 0.9) for k, w in enumerate(["Acha", "told"] * 21)]
    win = asr_windows.Window(text=" ".join(w[0] for w in before + loop), avg_logprob=-0.3, no_speech_prob=0.1, words=before + loop,
                     spans=spans)
    assert asr_guards.window_failed(win, cfg.guards) == "'acha told' repeated 21 times"
    k0, k1, pieces = asr_redecode.redecode_plan(audio, win, cfg.guards, asr_redecode.LOOP_PIECE_S)
    assert (k0, k1) == (len(before), len(before) + 42) and before[-1][2] - 0.01 <= pieces[0][0] <= mid + 1.0
    assert all(sum(min(e, q) - max(s, p) for s, e in spans if min(e, q) > max(s, p)) <= asr_redecode.LOOP_PIECE_S + 0.01
               for p, q in pieces)
    windows = [win]
    assert asr_redecode.repair_loops(model, audio, windows, [0], cfg, 8, None, None) == 1
    got = windows[0]
    assert got.words[:len(before)] == before and asr_guards.loop_words(got, cfg.guards) == 0
    t = run.t.model_copy(update={"segments": asr_segments.sentence_segments([got], spans, cfg)})
    assert not [sg for sg in t.segments if sg.flags]
    sc = sentence_scores(t, lines[3:])
    assert sum(w <= SENTENCE_WER for w in sc.sentence_wer) >= 4, sc.heard  # measured 5 of 5
    # a window without a loop is planned whole
    plain = asr_windows.Window(text="", avg_logprob=-0.3, no_speech_prob=0.1, words=before, spans=spans)
    assert asr_redecode.redecode_plan(audio, plain, cfg.guards, 10.0) == (0, len(before), asr_windows.sub_windows(audio, spans))


@pytest.mark.parametrize("name", [m for m in MEDIA] + ["nonspeech_no_vad"])
def test_no_speech_is_lost_silently(runs, name):
    """The invariant of issue 26 on every test medium: each 10 ms of VAD speech lies near a word
    (±0.3 s, a word counting at most 1.2 s), inside a flagged segment, or in
    ``speech_without_words``, which meta.json counts — checked on a 10 ms grid, apart from the
    tool's interval code."""
    run = runs[name]
    t = run.t
    grid = np.zeros(int(t.audio_duration_s * 100) + 2, dtype=np.int8)  # 1: speech, 0: accounted for
    for a, b in t.speech_regions:
        grid[int(a * 100):int(b * 100)] = 1
    def clear(a: float, b: float) -> None:
        grid[max(0, int(a * 100)):max(0, int(np.ceil(b * 100)))] = 0
    for seg in t.segments:
        for w in seg.words:
            clear(w.start - 0.3, min(w.end, w.start + 1.2) + 0.3)
        if seg.flags:
            clear(seg.start, seg.end)
    for a, b in t.speech_without_words:
        clear(a, b)
    runs_left = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], grid, [0]])))) [::2] / 100
    assert (runs_left < AsrConfig().guards.uncovered_min_s).all(), runs_left.max()
    meta = orjson.loads((run.out / "meta.json").read_bytes())
    assert meta["counts"]["speech_without_words_runs"] == len(t.speech_without_words)
    assert meta["counts"]["speech_without_words_ms"] == round(1000 * sum(b - a for a, b in t.speech_without_words))


def test_an_empty_second_decoding_never_replaces_words(runs, monkeypatch):
    """A window with words that fails a check is looked at again; when every second (and third)
    decoding comes back empty, the first decoding stays (issue 26: before, an empty decoding
    passed every check and erased the window)."""
    from conftest import TINY_EN
    from reelset import media

    run = runs["monologue"]
    audio = media.decode_audio_16k(run.out.parent / "monologue.mp4")
    cfg = AsrConfig()
    model, _, _ = asr_whisper.load_whisper(TINY_EN, cfg, DevicePolicy())
    spans = [(run.lines[2].start_s, run.lines[4].end_s)]
    said = " ".join(line.text for line in run.lines[2:5]).split()
    step = (spans[0][1] - spans[0][0]) / len(said)
    words = [(w, spans[0][0] + k * step, spans[0][0] + (k + 0.8) * step, 0.9) for k, w in enumerate(said)]
    first = asr_windows.Window(text=" ".join(said), avg_logprob=-1.8, no_speech_prob=0.1, words=words, spans=spans)
    assert asr_guards.window_failed(first, cfg.guards)  # log-probability below -1.0
    empty = asr_windows.Window(text="", avg_logprob=0.0, no_speech_prob=1.0, words=[], spans=spans)
    assert not asr_guards.better(empty, first, cfg.guards)
    monkeypatch.setattr(asr_redecode, "decode_clips", lambda m, a, clips, *args: [asr_windows.Window(text="", avg_logprob=0.0, no_speech_prob=1.0,
                                                                                      words=[], spans=[c]) for c in clips])
    monkeypatch.setattr(asr_redecode, "decode_sequential", lambda *args: ([], 0.0))
    windows = [first]
    assert asr_redecode.redecode_failed(model, audio, windows, cfg, None, None) == 1
    assert windows[0] is first and windows[0].words == words


# --------------------------------------------------------------------------- guards, on their own
def test_repetition_spans_find_loops_not_speech():
    cfg = GuardConfig()
    loop = normalize("Acha toes, Acha toes, Acha toes, Acha toes, Acha toes").split()
    assert repetition_spans(["he", "said", *loop, "then"], cfg) == [(2, 12, "acha toes", 5)]
    assert repetition_spans(normalize("No, no, no. I said no.").split(), cfg) == []
    assert repetition_spans(normalize("Thank you. Thank you. Thank you.").split(), cfg) == [(0, 6, "thank you", 3)]


def test_phantom_phrases_match_whole_segments_only():
    def phantom(text: str) -> bool:
        return any(p.fullmatch(normalize(text)) for p in PHANTOM_PHRASES)
    assert phantom("Thank you for watching!") and phantom("Thanks for watching and see you soon.")
    assert phantom("Subtitles by the Amara.org community") and phantom("Please subscribe to my channel.")
    assert not phantom("Thank you.") and not phantom("Archer watched the subtitles by the window.")


def test_sentence_segments_split_and_flag():
    cfg = AsrConfig()
    words = [("Mr.", 0.0, 0.2, 0.9), ("Archer", 0.2, 0.6, 0.9), ("left.", 0.6, 1.0, 0.9), ("Lana", 1.2, 1.5, 0.9),
             ("waits", 1.5, 1.9, 0.9), ("here.", 3.5, 3.8, 0.9), ("Thank", 4.0, 4.2, 0.9), ("you", 4.2, 4.3, 0.9),
             ("for", 4.3, 4.4, 0.9), ("watching!", 4.4, 4.9, 0.9)]
    win = asr_windows.Window(text=" ".join(w[0] for w in words), avg_logprob=-0.3, no_speech_prob=0.1, words=words)
    segs = asr_segments.sentence_segments([win], [(0.0, 5.0)], cfg)
    assert [s.text for s in segs] == ["Mr. Archer left.", "Lana waits", "here.", "Thank you for watching!"]
    assert [[f.check for f in s.flags] for s in segs] == [[], [], [], ["phantom_phrase"]]
    # a loop in one window flags every segment it reaches; silence-looking windows are flagged too
    loop = [(f"{w}{'.' if i % 2 else ''}", i * 0.4, i * 0.4 + 0.3, 0.5) for i, w in enumerate(["Thank", "you"] * 4)]
    segs = asr_segments.sentence_segments([asr_windows.Window(text="", avg_logprob=-1.5, no_speech_prob=0.9, words=loop)], [(0.0, 1.0)], cfg)
    assert len(segs) == 4 and all({"repetition", "no_speech"} <= {f.check for f in s.flags} for s in segs)
    assert {f.check for f in segs[-1].flags} >= {"outside_speech"}
    # a long unpunctuated run is cut at its clause marks, at most max_segment_s long
    run = [(f"w{i}{',' if i % 10 == 9 else ''}", i * 0.5, i * 0.5 + 0.4, 0.9) for i in range(60)]
    segs = asr_segments.sentence_segments([asr_windows.Window(text="", avg_logprob=-0.2, no_speech_prob=0.1, words=run)], [(0.0, 30.0)], cfg)
    assert all(s.end - s.start <= cfg.max_segment_s for s in segs) and all(s.text.endswith(",") for s in segs[:-1])


def bare(word: str) -> str:
    """``word`` without punctuation: how Whisper often writes dialogue (issue 37)."""
    return re.sub(r"[^\w'’-]+", "", word)


def test_pauses_end_segments_without_punctuation():
    """Three lines said with pauses and transcribed without punctuation (issue 37): a gap of at
    least ``split_pause_s`` between two words ends a segment, and so does a VAD silence that long
    between them when the timestamps stretch a word over it; a speaker's shorter pauses do not; a
    run-on longer than ``max_segment_s`` is cut at its longest inner pause."""
    cfg = AsrConfig()
    pause = cfg.split_pause_s

    def said(text: str, t: float, gap: float = 0.08) -> list[tuple]:  # one line: 0.3 s words, ``gap`` between
        return [(w, round(t + k * (0.3 + gap), 3), round(t + k * (0.3 + gap) + 0.3, 3), 0.9) for k, w in enumerate(text.split())]

    def segment(words: list, regions: list) -> list[str]:
        win = asr_windows.Window(text=" ".join(w[0] for w in words), avg_logprob=-0.2, no_speech_prob=0.05, words=words)
        return [s.text for s in asr_segments.sentence_segments([win], regions, cfg)]

    one = said("Ray is waiting for Archer in Berlin during the storm", 0.0, gap=pause - 0.2)  # slow, but one line
    two = said("Carol called Mallory in Moscow on Monday", one[-1][2] + pause + 0.05)
    three = said("I should walk home with Carol at the station at dawn", two[-1][2] + pause + 0.2)
    words = one + two + three
    assert all(bare(w[0]) == w[0] for w in words)
    lines = ["Ray is waiting for Archer in Berlin during the storm", "Carol called Mallory in Moscow on Monday",
             "I should walk home with Carol at the station at dawn"]
    assert segment(words, [(0.0, words[-1][2])]) == lines
    # the timestamps stretch each line's last word over the pause after it: the VAD's silences cut
    # (Silero pads its regions by 0.4 s each side: regions 0.1 s apart bound a 0.9 s silence)
    stretched = [(w, a, (words[k + 1][1] - 0.1 if k + 1 < len(words) and words[k + 1][0] in ("Carol", "I") else b), p)
                 for k, (w, a, b, p) in enumerate(words)]
    assert all(b - a < pause for a, b in zip([w[2] for w in stretched], [w[1] for w in stretched[1:]], strict=False))
    assert segment(stretched, [(0.0, stretched[-1][2])]) == [" ".join(lines)]  # no pause seen: one run-on
    regions = [(0.0, two[0][1] - 0.4), (two[0][1] - 0.3, three[0][1] - 0.4), (three[0][1] - 0.3, three[-1][2])]
    assert [round(n, 3) for _, n in asr_segments.vad_silences(regions, cfg)] == [0.9, 0.9]
    assert segment(stretched, regions) == lines
    # touching regions: a silence of at least vad_min_silence_ms (0.5 s) only, a speaker's pause: no end there
    touching = [(0.0, two[0][1] - 0.3), (two[0][1] - 0.3, three[0][1] - 0.3), (three[0][1] - 0.3, three[-1][2])]
    assert cfg.vad_min_silence_ms / 1000 < pause and segment(stretched, touching) == [" ".join(lines)]
    # a run-on over max_segment_s whose pauses all stay under split_pause_s is cut where the speaker
    # paused longest, not at a comma elsewhere
    first = "one two three four five six, seven eight nine ten eleven twelve thirteen fourteen"
    run = said(first, 0.0, gap=0.35)
    run += said("fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty", run[-1][2] + pause - 0.1,
                gap=0.35)
    assert run[-1][2] - run[0][1] > cfg.max_segment_s
    assert segment(run, [(0.0, run[-1][2])]) == [first, "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty"]


def test_a_spoken_loop_is_flagged(tmp_path):
    """The same short phrase said again and again (real speech, real ASR): the repetition guard
    flags it; this is what a decoding loop looks like in the transcript."""
    video = tmp_path / "loop.mp4"
    lines = [Line(voice=VOICES[1], text="Archer left the keys with Lana this morning.")] + [
        Line(voice=VOICES[0], text="Thank you.") for _ in range(6)]
    make_speech_video(lines, video, pause_s=0.0)
    proc = run_tool("step2_transcript_base.py", transcript_spec(video, "loop"), tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    t = TranscriptArtifact.model_validate(orjson.loads((tmp_path / "out" / "transcript.json").read_bytes()))
    flagged = [s for s in t.segments if any(f.check == "repetition" for f in s.flags)]
    assert flagged and all("thank you" in normalize(s.text) for s in flagged), [(s.text, s.flags) for s in t.segments]
    clean = [s.text for s in t.segments if not s.flags]
    assert len(clean) == 1 and normalize(clean[0]).startswith("archer left the key"), clean  # tiny.en: "key with land on"
    assert "flagged" in proc.stderr


def test_flagged_segments_never_reach_scene_context():
    """step2-scene-context: a flagged segment's words go to dropped_lines, not to lines or the
    context string the captioner reads."""
    from conftest import DEMO_DIR
    from reelset.bible import make_artifact
    from reelset.schemas.disambiguate import CorrectedSegment, CorrectedWord, DisambiguatedTranscript, SpeakerAttribution
    from reelset.schemas.transcript import SegmentFlag
    from step2_scene_context import clip_context

    def seg(i: int, start: float, text: str, flags: list[SegmentFlag]) -> CorrectedSegment:
        words = [CorrectedWord(word=w, start=start + k * 0.4, end=start + k * 0.4 + 0.3, probability=0.9, source="base")
                 for k, w in enumerate(text.split())]
        return CorrectedSegment(id=i, start=words[0].start, end=words[-1].end, original=text, text=text, words=words,
                                original_words=[], speaker=SpeakerAttribution(speaker="unknown", confidence=0, source="none"),
                                flags=flags)
    phantom = [SegmentFlag(check="phantom_phrase", detail="made up")]
    t = DisambiguatedTranscript(video_id="v1", bible_sha256="0" * 64, hotwords="", initial_prompt="", conditioned_text=[],
                                passes=[], audit=[], segments=[seg(0, 0.5, "Lana, the package is in Moscow.", []),
                                                               seg(1, 4.0, "Thank you for watching Archer!", phantom)])
    ctx = clip_context("v1-s0001", 0.0, 6.0, t, make_artifact(DEMO_DIR / "bible.yaml"), "v1")
    assert [ln.text for ln in ctx.lines] == ["Lana, the package is in Moscow."]
    assert [(d.text, d.checks) for d in ctx.dropped_lines] == [("Thank you for watching Archer!", ["phantom_phrase"])]
    assert "watching" not in ctx.context and "Archer" not in ctx.characters and ctx.place == "Moscow"


def test_a_region_without_words_fails_its_window():
    """A window whose words cover its speech but one region of it (issue 37: a 4.1 s sentence of a
    27 s window came back without words, unpinned with oneDNN at AVX2) gets a second look; a region
    shorter than ``uncovered_min_s`` or mostly covered does not trigger it."""
    g = GuardConfig()
    lines = iter(line.text for line in dialogue_script(5))

    def words_in(a: float, b: float) -> list[tuple]:  # the next line of the dialogue, said over [a, b] s
        said = next(lines).split()
        step = (b - a) / len(said)
        return [(w, round(a + k * step, 3), round(a + (k + 0.8) * step, 3), 0.9) for k, w in enumerate(said)]

    spans = [(0.0, 8.0), (8.5, 16.0), (16.5, 20.6), (21.0, 29.0)]
    words = words_in(0.0, 8.0) + words_in(8.5, 16.0) + words_in(21.0, 29.0)
    win = asr_windows.Window(text=" ".join(w[0] for w in words), avg_logprob=-0.2, no_speech_prob=0.05, words=words, spans=spans)
    assert asr_guards.coverage(win, g) >= g.min_coverage * sum(b - a for a, b in spans)  # the old rule sees nothing wrong
    assert asr_guards.bare_regions(win, g) == [(16.5, 20.6)]
    assert asr_guards.window_failed(win, g) == "speech 16.5-20.6 s without words"
    short = asr_windows.Window(text=win.text, avg_logprob=-0.2, no_speech_prob=0.05, words=words,
                       spans=[*spans[:2], (16.5, 17.3), spans[3]])
    assert asr_guards.bare_regions(short, g) == [] and asr_guards.window_failed(short, g) is None
    full = words + words_in(16.5, 20.6)
    assert asr_guards.window_failed(asr_windows.Window(text=" ".join(w[0] for w in full), avg_logprob=-0.2, no_speech_prob=0.05,
                                        words=sorted(full, key=lambda w: w[1]), spans=spans), g) is None


def test_a_failed_window_is_decoded_again(runs):
    """A window that fails Whisper's checks (here: a loop put in place of the batched pass's
    text) is decoded again over its speech regions; the new text passes the guards and says
    the sentences spoken there."""
    from conftest import TINY_EN
    from reelset import media

    run = runs["monologue"]
    audio = media.decode_audio_16k(run.out.parent / "monologue.mp4")
    cfg = AsrConfig()
    model, _, _ = asr_whisper.load_whisper(TINY_EN, cfg, DevicePolicy())
    spans = [(run.lines[2].start_s, run.lines[4].end_s)]
    loop = [(".0", 7.0 + i * 0.1, 7.05 + i * 0.1, 0.9) for i in range(40)]
    windows = [asr_windows.Window(text=" ".join(w[0] for w in loop), avg_logprob=-0.03, no_speech_prob=0.5, words=loop, spans=spans)]
    assert asr_guards.window_failed(windows[0], cfg.guards)
    assert asr_redecode.redecode_failed(model, audio, windows, cfg, None, None) == 1
    win = windows[0]
    assert win.redecoded and asr_guards.window_failed(win, cfg.guards) is None
    said = norm(" ".join(line.text for line in run.lines[2:5]))
    assert jiwer.wer(said, norm(win.text)) <= 0.35, win.text
    assert all(spans[0][0] - 0.5 <= w[1] and w[2] <= spans[0][1] + 0.5 for w in win.words)


def test_window_spans_match_the_pipeline_windows(runs):
    """reelset.asr.windows.window_spans groups VAD regions as faster-whisper's collect_chunks does (same
    seeks), and keeps every region (collect_chunks' metadata drops the first of each window)."""
    from faster_whisper.vad import collect_chunks

    from reelset import media

    audio = media.decode_audio_16k(runs["dialogue_pauses"].out.parent / "dialogue_pauses.mp4")
    ts = asr_windows.speech_timestamps(audio, AsrConfig())
    _, chunks = collect_chunks(audio, ts, max_duration=30)
    spans = asr_windows.window_spans(ts, 100)
    assert sorted(spans) == [int(c["offset"] * 100) for c in chunks] and len(spans) > 5
    assert sum(len(v) for v in spans.values()) == len(ts)


def test_a_window_decoded_again_gets_only_its_own_audio():
    """The second decoding of a window hands faster-whisper only that window's audio (plus 1 s
    each side, on the 10 ms feature hop), with its clip times moved to the slice: the decoder
    computes log-mel features of everything it is given (issue 15: 0.4 GB less peak RSS on a
    22-minute episode)."""
    class Recorder:
        def transcribe(self, audio, **kw):
            self.seen = (audio.shape[0], kw["clip_timestamps"])
            return iter([]), None

    audio = np.zeros(asr_windows.SAMPLE_RATE * 600, dtype=np.float32)  # 10 minutes
    model = Recorder()
    segs, offset = asr_whisper.decode_sequential(model, audio, [300.25, 310.5, 312.0, 320.75], AsrConfig(), None, None)
    n, clips = model.seen
    assert segs == [] and offset == pytest.approx(299.25)
    assert clips == [1.0, 11.25, 12.75, 21.5]
    assert n == (32176 - 29925) * 160  # 299.25 s .. 321.75 s plus one 10 ms hop, in samples
    _, offset = asr_whisper.decode_sequential(model, audio, [0.2, 5.0], AsrConfig(), None, None)
    assert offset == 0.0 and model.seen[1] == [0.2, 5.0]
