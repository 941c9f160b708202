"""step2-speakers on espeak-ng speech (issue 30): how well the voices separate, attribution
accuracy per segment, and the step's seconds per minute of audio on this machine.

1. Voices: six sentences per voice of tests/speech_media.py SPEAKER_VOICES, Pam's voice of
   tests/test_speakers.py (en-gb-scotland+m1, pitch 40) and the issue's two male voices of one
   pitch (en-us+m3, en+m1), each sentence embedded alone by two embeddings: GE2E (reelset.voice,
   resemblyzer's weights) and a log-mel statistics baseline (mean and standard deviation over
   frames of the 40-band log-mel spectrogram GE2E reads, centred on the mean over all sentences:
   what a speaker embedding must beat). Per voice: mean and minimum cosine between its own
   sentences; per pair: mean and maximum cosine across. A pair is separable by a threshold
   when its maximum is below both voices' minimum.
2. Step: a dialogue of ``--lines`` lines (the four characters of tests/test_speakers.py in
   turn, the stranger every fifth line; 1.2 s pauses) through step2-transcript-base (tiny.en, not
   timed here), one step2_voice_reference.py run per character (its first line) and
   step2_speakers.py, as CLIs in fresh processes. Accuracy: each segment (or run) belongs to the
   script line it overlaps most; right when named after that line's character; Pam (a reference
   from another video, never speaking) must get nothing; the stranger's segments must stay
   unknown. Time: the step's wall seconds (process start, imports, model load, decode, embedding,
   clustering, writing) and its ``embed_and_cluster`` phase, per minute of audio.

The step runs ``--repeat`` times (the fastest is reported, each run's wall time and the load
average before it are kept: the machine is shared).

Usage: ``.venv/bin/python bench/bench_speakers.py [--lines 60] [--repeat 3] [--out bench/speakers.json]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools")]

from conftest import CPU_OK, PYTHON, ge2e_model, transcript_spec  # noqa: E402
from reelset import voice  # noqa: E402
from speech_media import SPEAKER_VOICES, Line, dialogue_script, espeak_voice, make_speech_video  # noqa: E402

PAM_VOICE = "en-gb-scotland+m1@40"
SAME_PITCH_MALES = ["en-us+m3", "en+m1"]
CHARACTERS = ["Archer", "Lana", "Cyril", "Malory"]


def speak(voice_name: str, text: str, wav: Path) -> np.ndarray:
    subprocess.run(["espeak-ng", *espeak_voice(voice_name), "-s", "150", "-w", str(wav), text], check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1",
                    str(wav.with_suffix(".16k.wav"))], check=True)
    with wave.open(str(wav.with_suffix(".16k.wav"))) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768


def logmel_stats(wav: np.ndarray, filters: np.ndarray) -> np.ndarray:
    mel = np.log(voice.ge2e_mel(wav, filters) + 1e-6)
    return np.concatenate([mel.mean(0), mel.std(0)])


def voices_table(tmp: Path) -> dict:
    names = SPEAKER_VOICES + [PAM_VOICE] + SAME_PITCH_MALES
    texts = [ln.text for ln in dialogue_script(6)]
    enc = voice.load_encoder(Path(ge2e_model()["path"]), "cpu")
    ge2e, stats = {}, {}
    for v in names:
        wavs = [speak(v, t, tmp / f"{re.sub(r'[^a-z0-9]', '_', v)}-{i}.wav") for i, t in enumerate(texts)]
        ge2e[v] = np.stack([enc.embed(w)[0] for w in wavs])
        stats[v] = np.stack([logmel_stats(w, enc.filters) for w in wavs])
    centre = np.concatenate(list(stats.values())).mean(0)
    base = {v: (e - centre) / np.linalg.norm(e - centre, axis=1, keepdims=True) for v, e in stats.items()}
    out = {}
    for label, emb in (("ge2e", ge2e), ("logmel_stats", base)):
        within = {}
        for v in names:
            s = emb[v] @ emb[v].T
            tri = s[np.triu_indices(len(s), 1)]
            within[v] = {"mean": round(float(tri.mean()), 3), "min": round(float(tri.min()), 3)}
        between = {}
        for a, b in itertools.combinations(names, 2):
            s = emb[a] @ emb[b].T
            between[f"{a} | {b}"] = {"mean": round(float(s.mean()), 3), "max": round(float(s.max()), 3),
                                     "separable": bool(s.max() < min(within[a]["min"], within[b]["min"]))}
        out[label] = {"within": within, "between": between}
    return out


def run_cli(script: str, spec: dict, out: Path, tmp: Path) -> tuple[float, dict]:
    spec_file = tmp / f"{out.name}.spec.json"
    spec_file.write_text(json.dumps(spec))
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, str(REPO / "tools" / script), "--spec", str(spec_file), "--out", str(out)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{script} failed:\n{proc.stderr}")
    timings = next((json.loads(ln.split("timings (s): ", 1)[1]) for ln in proc.stderr.splitlines() if "timings (s): " in ln), {})
    return wall, timings


def step_run(tmp: Path, n_lines: int, repeat: int) -> dict:
    order = [None if i % 5 == 4 else CHARACTERS[(i - i // 5) % 4] for i in range(n_lines)]
    texts = [ln.text for ln in dialogue_script(n_lines)]
    voice_of = dict(zip(CHARACTERS, SPEAKER_VOICES[:4], strict=True))
    lines = [Line(voice=voice_of[c] if c else SPEAKER_VOICES[4], text=t) for c, t in zip(order, texts, strict=True)]
    video = tmp / "dialogue.mp4"
    timed = make_speech_video(lines, video, pause_s=1.2)
    audio_s = timed[-1].end_s + 1.0
    other = make_speech_video([Line(voice=PAM_VOICE, text="Pam walked home with Carol at the station before noon.")],
                              tmp / "pam.mp4", pause_s=0.0)
    run_cli("step2_transcript_base.py", transcript_spec(video, "talk01"), tmp / "transcript", tmp)
    model = ge2e_model()
    inputs = {"step2-transcript-base": str(tmp / "transcript")}
    ref_walls = []
    refs = [(c, video, "talk01", timed[order.index(c)]) for c in CHARACTERS] + [("Pam", tmp / "pam.mp4", "pam01", other[0])]
    for i, (c, src, vid, line) in enumerate(refs):
        spec = {"step": "step2-speakers", "dataset": "bench", "device": "cuda", "video_id": vid, "video": str(src),
                "models": {"speakers": model}, "config": {"voice": {"character": c, "start": line.start_s, "end": line.end_s,
                                                                    "where": f"bible.yaml: characters[{i}].voice_references[0]"},
                                                          "device": CPU_OK}}
        wall, _ = run_cli("step2_voice_reference.py", spec, tmp / f"voice-{c}", tmp)
        ref_walls.append(wall)
        inputs[f"voice/{c}/{vid}"] = str(tmp / f"voice-{c}")
    spec = {"step": "step2-speakers", "dataset": "bench", "device": "cuda", "video_id": "talk01", "video": str(video),
            "config": {"speakers": {}, "device": CPU_OK}, "inputs": inputs, "models": {"speakers": model}}
    runs = []  # (wall, timings, load average before) of each run; the fastest is reported
    for _ in range(repeat):
        load = Path("/proc/loadavg").read_text().split()[0]
        shutil.rmtree(tmp / "speakers", ignore_errors=True)
        wall, timings = run_cli("step2_speakers.py", spec, tmp / "speakers", tmp)
        runs.append((wall, timings, load))
    wall, timings, _ = min(runs, key=lambda r: r[0])
    art = json.loads((tmp / "speakers" / "speakers.json").read_text())
    rows, right, theirs, pam, stranger, stranger_unknown = [], 0, 0, 0, 0, 0
    for s in art["segments"]:
        overlaps = [max(0.0, min(s["end"], ln.end_s) - max(s["start"], ln.start_s)) for ln in timed]
        k = int(np.argmax(overlaps))
        if overlaps[k] <= 0:
            continue
        who = order[k]
        pam += s["speaker"] == "Pam"
        if who is None:
            stranger += 1
            stranger_unknown += s["speaker"] is None
        else:
            theirs += 1
            right += s["speaker"] == who
        rows.append({"start": s["start"], "end": s["end"], "truth": who or "stranger", "speaker": s["speaker"],
                     "status": s["status"], "confidence": s["confidence"], "text": s["text"]})
    minutes = audio_s / 60
    return {"lines": n_lines, "audio_s": round(audio_s, 1), "segments": len(art["segments"]),
            "character_segments": theirs, "named_right": right, "accuracy": round(right / theirs, 4) if theirs else None,
            "named_pam": pam, "stranger_segments": stranger, "stranger_unknown": stranger_unknown,
            "statuses": {st: sum(s["status"] == st for s in art["segments"]) for st in
                         ("named", "unknown", "mixed", "too_short", "not_speech")},
            "voices": [{k: v[k] for k in ("id", "name", "closest", "similarity", "margin", "seconds")} for v in art["voices"]],
            "step_wall_s": round(wall, 2), "step_timings_s": timings,
            "step_wall_s_per_audio_minute": round(wall / minutes, 2),
            "embed_and_cluster_s_per_audio_minute": round(timings.get("embed_and_cluster", 0.0) / minutes, 2),
            "step_runs": [{"wall_s": round(w, 2), "embed_and_cluster_s": t.get("embed_and_cluster"), "load_avg_1min_before": ld}
                          for w, t, ld in runs],
            "voice_reference_wall_s": [round(w, 2) for w in ref_walls], "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the step (the fastest is reported)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "speakers.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-speakers-") as tmp:
        result = {"voices": voices_table(Path(tmp)), "step": step_run(Path(tmp), args.lines, args.repeat),
                  "load_avg_end": Path("/proc/loadavg").read_text().split()[:3]}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    s = result["step"]
    print(f"{s['audio_s']} s of audio, {s['segments']} segments: {s['named_right']}/{s['character_segments']} named right "
          f"({s['accuracy']}), Pam {s['named_pam']}, stranger unknown {s['stranger_unknown']}/{s['stranger_segments']}; "
          f"step {s['step_wall_s']} s = {s['step_wall_s_per_audio_minute']} s per minute of audio "
          f"(embed+cluster {s['embed_and_cluster_s_per_audio_minute']} s/min)")
    for label, t in result["voices"].items():
        bad = [p for p, v in t["between"].items() if not v["separable"]]
        print(f"{label}: pairs not separable by a threshold: {bad}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
