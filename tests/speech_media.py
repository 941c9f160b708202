"""Long speech test media made on the spot: espeak-ng lines over an ffmpeg lavfi picture.

Used by tests/test_asr_long.py and bench/bench_asr.py. Every file is a function of its
arguments (and the espeak-ng / ffmpeg versions): the script is built from fixed word lists,
no randomness.

- :func:`dialogue_script`: ``n`` sentences with names and places, spoken in turn by
  ``voices`` (espeak-ng voice names), each line a :class:`Line`.
- :func:`make_speech_video`: speaks the lines (espeak-ng, 150 words/min unless told), puts them one after
  another with ``pause_s`` of silence between them (0: no pause at all), returns the lines
  with their real start/end seconds; the picture is a small lavfi test pattern.
- :func:`make_nonspeech_video`: music-like tones, a steady tone and noise only (lavfi).
- :func:`make_dialogue_track`: a long dialogue (minutes) as one WAV, lines spoken until a
  given duration is filled, joined in Python (no ffmpeg mix of hundreds of inputs); used by
  bench/bench_episode.py under its own picture.
Raises ``subprocess.CalledProcessError`` (with stderr) when espeak-ng or ffmpeg fail.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass, replace
from pathlib import Path

NAMES = ["Archer", "Lana", "Cyril", "Malory", "Pam", "Krieger", "Ray", "Carol"]
PLACES = ["Moscow", "London", "Paris", "Berlin", "the harbour", "the office", "the station", "the airport"]
ACTIONS = ["left the keys with", "sent a letter to", "had dinner with", "is waiting for", "called",
           "bought a new car for", "walked home with", "found the old map for"]
TIMES = ["this morning", "last night", "on Monday", "before noon", "after the meeting", "in the rain",
         "at dawn", "during the storm"]
# four voices that differ in pitch and accent (espeak-ng variants: +m = male, +f = female)
VOICES = ["en-us+m3", "en-us+f3", "en+m1", "en-us+f2"]


# five voices the GE2E speaker encoder (reelset.voice, resemblyzer's weights) tells apart:
# between two of them the cosine of sentence embeddings is at most 0.75, within one voice at least
# 0.84 (measured for issue 30, bench/RESULTS.md); "@N" is espeak-ng's pitch (-p, 0-99, default 50)
SPEAKER_VOICES = ["en-us+m3@20", "en-us+f3", "en+m7@70", "en-gb-x-rp+f5@90", "en+grandma"]


# issue 37: lists of sentences read without pauses by voices, pitches and speeds the media above do not
# use (they speak at 150 words/min): name → (voice, sentences of dialogue_script, words/min), ~135 s each
OTHER_VOICE_LISTS = {"voices_f2": ("en-us+f2@60", 45, 175), "voices_m2": ("en+m2@35", 42, 160)}


def espeak_voice(voice: str) -> list[str]:
    """espeak-ng arguments of a voice name with an optional pitch: "en-us+m3@20" → -v en-us+m3 -p 20."""
    name, _, pitch = voice.partition("@")
    return ["-v", name] + (["-p", pitch] if pitch else [])


@dataclass(frozen=True)
class Line:
    """One spoken sentence: who (voice) says what, and when (seconds, set by make_speech_video)."""

    voice: str
    text: str
    start_s: float = 0.0
    end_s: float = 0.0
    overlap: bool = False  # spoken at the same time as the line before (starts with it): overlapping speech


def dialogue_script(n: int, voices: list[str] = VOICES) -> list[Line]:
    """``n`` distinct sentences (names, actions, places, times from the fixed lists above),
    voices taking turns. Sentence i: "<name> <action> <name'> in <place> <time>.\""""
    lines = []
    for i in range(n):
        a, b = NAMES[i % len(NAMES)], NAMES[(i * 3 + 1 + i // 8) % len(NAMES)]
        if a == b:
            b = NAMES[(i + 1) % len(NAMES)]
        place = PLACES[(i * 5 + i // 8) % len(PLACES)]
        where = f"in {place}" if not place.startswith("the ") else f"at {place}"
        text = f"{a} {ACTIONS[(i + i // 8) % len(ACTIONS)]} {b} {where} {TIMES[(i * 3 + i // 8) % len(TIMES)]}."
        lines.append(Line(voice=voices[i % len(voices)], text=text))
    return lines


COLOURS = ["red", "green", "blue", "yellow", "black", "white", "brown", "orange"]
THINGS = ["box", "lamp", "chair", "book", "bottle", "basket", "clock", "kettle"]


def list_script(n: int, voice: str = VOICES[0]) -> list[Line]:
    """``n`` sentences of a list read aloud: every one shares a long phrase and differs at the
    end ("On the shelf in the kitchen right next to the window there is a <colour> <thing>.") —
    the repeated phrasing of a roll call, a recipe or an inventory. Its text compresses 3-5x
    better than dialogue, and tiny.en's batched pass loops on it ("… mirror and mark." six times,
    issue 26)."""
    return [Line(voice=voice, text=f"On the shelf in the kitchen right next to the window there is a "
                                   f"{COLOURS[i % 8]} {THINGS[(i // 8 + i * 3) % 8]}.") for i in range(n)]


def refrain_script(n_verses: int, voices: list[str] = VOICES[:2]) -> list[Line]:
    """A verse and a refrain, ``n_verses`` times: the refrain is the same sentence each time,
    said by the second voice between different verses (a chorus, a catch phrase)."""
    lines = []
    for line in dialogue_script(n_verses, voices[:1]):
        lines += [line, Line(voice=voices[1], text="And the river keeps on running all the way down to the sea.")]
    return lines


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _picture(seconds: float) -> list[str]:
    """ffmpeg input args of a small, cheap-to-encode picture (160x90, 5 fps) of ``seconds``."""
    return ["-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=5:duration={seconds:.3f}"]


def _mux(video_in: list[str], audio_in: list[str], seconds: float, out: Path) -> None:
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", *video_in, *audio_in, "-map", "0:v", "-map", "1:a",
          "-t", f"{seconds:.3f}", "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", "-pix_fmt", "yuv420p",
          "-c:a", "aac", "-b:a", "64k", "-ar", "16000", "-ac", "1", "-fflags", "+bitexact", "-map_metadata", "-1", str(out)])


def make_speech_video(lines: list[Line], out: Path, pause_s: float, lead_s: float = 0.5, tail_s: float = 1.0,
                      speed: int = 150) -> list[Line]:
    """Speak ``lines`` one after another into ``out`` (MP4: H.264 160x90 + AAC 16 kHz mono).

    ``speed``: espeak-ng's words per minute (``-s``).
    ``lead_s`` of silence before the first line, ``pause_s`` between lines (0: none),
    ``tail_s`` after the last; a line with ``overlap`` starts with the line before it (both
    voices at once) and the next line follows the later of the two.
    espeak-ng pads each line with a few ms of silence of its own.
    Returns the lines with their start/end seconds in ``out``."""
    work = out.parent / f"{out.stem}-wav"
    work.mkdir(parents=True, exist_ok=True)
    timed, t = [], lead_s
    concat = []
    for i, line in enumerate(lines):
        wav = work / f"{i:04d}.wav"
        _run(["espeak-ng", *espeak_voice(line.voice), "-s", str(speed), "-w", str(wav), line.text])
        dur = _wav_seconds(wav)
        if line.overlap and timed:
            start = timed[-1].start_s
            t = max(t, start + dur + (pause_s if i + 1 < len(lines) else 0.0))
            timed.append(replace(line, start_s=start, end_s=round(start + dur, 3)))
            concat.append(wav)
            continue
        timed.append(replace(line, start_s=round(t, 3), end_s=round(t + dur, 3)))
        concat.append(wav)
        t += dur + (pause_s if i + 1 < len(lines) else 0.0)
    total = t + tail_s
    # one filter graph: each line resampled, delayed to its start and mixed
    inputs = [arg for wav in concat for arg in ("-i", str(wav))]
    graph = ";".join(f"[{i}:a]aresample=16000,adelay={round(ln.start_s * 1000)}:all=1[a{i}]" for i, ln in enumerate(timed))
    graph += ";" + "".join(f"[a{i}]" for i in range(len(timed))) + f"amix=inputs={len(timed)}:normalize=0:dropout_transition=0,apad,atrim=0:{total:.3f}[out]"
    speech = work / "speech.wav"
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[out]",
          "-ac", "1", "-ar", "16000", str(speech)])
    _mux(_picture(total), ["-i", str(speech)], total, out)
    return timed


# lavfi audio without speech: a melody of sine notes with a bass (music-like), a steady tone,
# pink and brown noise; each part `part_s` seconds
NONSPEECH_PARTS = [
    "aevalsrc='0.3*sin(2*PI*t*(220+110*mod(floor(t*2),5)))+0.2*sin(2*PI*t*(330+55*mod(floor(t*4),7)))"
    "+0.2*sin(2*PI*t*110)':s=16000",
    "sine=frequency=440:sample_rate=16000",
    "anoisesrc=color=pink:amplitude=0.3:sample_rate=16000:seed=1",
    "anoisesrc=color=brown:amplitude=0.5:sample_rate=16000:seed=2",
]


def make_nonspeech_video(out: Path, part_s: float = 15.0) -> float:
    """Music-like tones, a 440 Hz tone, pink noise, brown noise (``part_s`` seconds each) into
    ``out`` (MP4). Returns the duration in seconds."""
    inputs = [arg for src in NONSPEECH_PARTS for arg in ("-f", "lavfi", "-i", f"{src},atrim=0:{part_s}")]
    n = len(NONSPEECH_PARTS)
    total = n * part_s
    wav = out.with_suffix(".wav")
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, "-filter_complex",
          "".join(f"[{i}:a]" for i in range(n)) + f"concat=n={n}:v=0:a=1[out]", "-map", "[out]", "-ac", "1", str(wav)])
    _mux(_picture(total), ["-i", str(wav)], total, out)
    return total


def make_dialogue_track(out: Path, seconds: float, pause_s: float = 0.8, lead_s: float = 0.5, tail_s: float = 1.0,
                        voices: list[str] = VOICES) -> list[Line]:
    """Speak the sentences of :func:`dialogue_script` (``voices`` taking turns) one after another
    into ``out`` (WAV, espeak-ng's 22050 Hz mono 16-bit) until ``seconds`` are filled:
    ``lead_s`` of silence first, ``pause_s`` between lines, at least ``tail_s`` of silence at the
    end, then silence up to exactly ``seconds``. Returns the lines spoken with their start/end
    seconds in ``out``. Raises ValueError when ``seconds`` holds no line, CalledProcessError when
    espeak-ng fails."""
    work = out.parent / f"{out.stem}-wav"
    work.mkdir(parents=True, exist_ok=True)
    timed: list[Line] = []
    pcm: list[bytes] = []
    rate = None
    t = lead_s
    i = 0
    while True:
        line = dialogue_script(i + 1, voices)[i]
        wav = work / f"{i:04d}.wav"
        _run(["espeak-ng", *espeak_voice(line.voice), "-s", "150", "-w", str(wav), line.text])
        with wave.open(str(wav)) as w:
            if (w.getnchannels(), w.getsampwidth()) != (1, 2) or rate not in (None, w.getframerate()):
                raise ValueError(f"{wav}: espeak-ng wrote {w.getnchannels()} channels, {w.getsampwidth()} bytes, "
                                 f"{w.getframerate()} Hz; expected mono 16-bit at one rate")
            rate = w.getframerate()
            data = w.readframes(w.getnframes())
        dur = len(data) / 2 / rate
        if t + dur + tail_s > seconds:
            break
        silence = round((t - sum(len(b) for b in pcm) / 2 / rate) * rate)
        pcm += [b"\0\0" * max(silence, 0), data]
        timed.append(replace(line, start_s=round(t, 3), end_s=round(t + dur, 3)))
        t += dur + pause_s
        i += 1
    if not timed:
        raise ValueError(f"{seconds} s holds no spoken line (lead {lead_s} s, tail {tail_s} s)")
    total = round(seconds * rate)
    written = sum(len(b) for b in pcm) // 2
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(pcm) + b"\0\0" * (total - written))
    return timed
