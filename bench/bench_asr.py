"""step2-transcript-base on long inputs: before (a git revision's sequential tool) → after
(this checkout's batched tool), and bare faster-whisper ``BatchedInferencePipeline``.

Inputs, made here with tests/speech_media.py (espeak-ng + ffmpeg lavfi): the 40-sentence
monologue without pauses (~137 s, one voice), the 40-item list read without pauses (~176 s,
one voice, every sentence sharing a long phrase: repeated phrasing, issue 26) and a
170-sentence dialogue of four voices with 0.4 s pauses (~11 min). Each command runs in a fresh process under ``/usr/bin/time -v``: wall
seconds, peak RSS (MB), RTF = wall / audio seconds, segments, sentences recovered (a script
sentence counts when the words whose midpoints fall in its time span have WER <= 0.5,
jiwer), repetition loops left in unflagged text (reelset.hallucination.repetition_spans),
and the ratio of this checkout's tool to the bare pipeline with the same settings (tiny.en
int8, beam 5, word timestamps, batch 8, Silero VAD min silence 500 ms, 30 s windows).
Rounds are paired (before, after, bare back to back, ``--repeat`` times, load average recorded
before each); the table keeps each command's fastest run, the ratio after / bare is also given per
round and as the median of the rounds. The step's phase times (its ``[reelset] timings`` log
line: decode_audio, vad_regions, load_model, asr and, inside it, redecode) show where its
overhead over the bare pipeline goes.

Usage: ``.venv/bin/python bench/bench_asr.py [--before main] [--repeat 1] [--out bench/asr.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools")]

import jiwer  # noqa: E402

from conftest import PYTHON, transcript_spec  # noqa: E402
from reelset.hallucination import normalize, repetition_spans  # noqa: E402
from reelset.log import parse_timings  # noqa: E402
from reelset.schemas.transcript import GuardConfig  # noqa: E402
from speech_media import VOICES, dialogue_script, list_script, make_speech_video  # noqa: E402
from speech_scoring import norm  # noqa: E402

BARE = """
import json, sys
from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio
from faster_whisper.vad import VadOptions
model = WhisperModel(sys.argv[2], device="cpu", compute_type="int8", cpu_threads=4, num_workers=1)
audio = decode_audio(sys.argv[1], sampling_rate=16000)
segments, _ = BatchedInferencePipeline(model).transcribe(
    audio, language="en", beam_size=5, word_timestamps=True, batch_size=8,
    vad_parameters=VadOptions(min_silence_duration_ms=500, max_speech_duration_s=30))
out = [{"text": s.text.strip(), "flags": [], "words": [{"word": w.word.strip(), "start": w.start, "end": w.end} for w in s.words]}
       for s in segments]
json.dump({"segments": out}, open(sys.argv[3], "w"))
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Run ``cmd`` under /usr/bin/time -v (in ``env``, default this process's environment): (wall s,
    peak RSS MB, CPU s = user + system, stderr); raises on failure. CPU seconds move far less than
    wall seconds with the machine's load."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    h, m, s = (float(x) if x else 0.0 for x in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", proc.stderr).group(1)) for kind in ("User", "System"))
    return round(h * 3600 + m * 60 + s, 2), round(rss / 1024, 1), round(cpu, 2), proc.stderr


def score(transcript: dict, lines) -> dict:
    """Segments, sentences recovered, WER and loops left in unflagged text of a transcript.json-like dict."""
    segs = transcript["segments"]
    words = [w for s in segs if not s.get("flags") for w in s["words"]]
    recovered = 0
    for ln in lines:
        got = " ".join(w["word"] for w in words if ln.start_s - 0.3 <= (w["start"] + w["end"]) / 2 <= ln.end_s + 0.3)
        recovered += jiwer.wer(norm(ln.text), norm(got) or "nothing") <= 0.5
    hyp = norm(" ".join(w["word"] for w in words))
    loops = repetition_spans([normalize(w["word"]) for w in words], GuardConfig())
    return {"segments": len(segs), "flagged": sum(bool(s.get("flags")) for s in segs),
            "sentences": len(lines), "sentences_recovered": recovered,
            "wer": round(jiwer.wer(norm(" ".join(ln.text for ln in lines)), hyp or "nothing"), 3), "loops": len(loops)}


def tool_tree(rev: str, dst: Path) -> Path:
    """``tools/`` of git revision ``rev`` extracted to ``dst``; returns dst/tools."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev, "tools"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        # our own git archive; the "data" filter exists from Python 3.11.4 (Debian 12 ships 3.11.2)
        tar.extractall(dst, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))  # noqa: S202 - our own git archive
    return dst / "tools"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="main", help="git revision of the 'before' tool (default: main)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per command; the fastest is kept")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "asr.json")
    parser.add_argument("--only", choices=["monologue", "list", "episode"], help="one input only")
    args = parser.parse_args()
    inputs = {"monologue": (dialogue_script(40, VOICES[:1]), 0.0), "list": (list_script(40), 0.0),
              "episode": (dialogue_script(170), 0.4)}
    results = {}
    with tempfile.TemporaryDirectory(prefix="reelset-bench-asr-") as tmpdir:
        tmp = Path(tmpdir)
        before_tools = tool_tree(args.before, tmp / "before")
        for name, (script, pause) in inputs.items():
            if args.only and name != args.only:
                continue
            video = tmp / f"{name}.mp4"
            lines = make_speech_video(script, video, pause_s=pause)
            duration = lines[-1].end_s + 1.0
            spec = tmp / f"{name}.spec.json"
            spec.write_text(json.dumps(transcript_spec(video, name)))
            model = transcript_spec(video)["models"]["asr"]["path"]
            row = {"audio_s": round(duration, 1)}
            tool_dirs = {"before": before_tools, "after": REPO / "tools"}

            def command(label: str, k: int, name=name, spec=spec, video=video, model=model, tools=tool_dirs) -> list[str]:
                if label == "bare_batched":
                    return [PYTHON, "-c", BARE, str(video), model, str(tmp / f"{name}-bare-{k}.json")]
                return [PYTHON, str(tools[label] / "step2_transcript_base.py"), "--spec", str(spec), "--out", str(tmp / f"{name}-{label}-{k}")]
            labels = ("before", "after", "bare_batched")
            runs: dict[str, list[dict]] = {label: [] for label in labels}
            for k in range(args.repeat):  # paired rounds: before, after, bare back to back
                for label in labels:
                    wall, rss, cpu, stderr = timed(command(label, k))
                    out = tmp / f"{name}-bare-{k}.json" if label == "bare_batched" else tmp / f"{name}-{label}-{k}" / "transcript.json"
                    runs[label].append({"wall_s": wall, "cpu_s": cpu, "rtf": round(wall / duration, 3), "peak_rss_mb": rss,
                                        "load_before": round(os.getloadavg()[0], 1),
                                        "phases_s": parse_timings(stderr) or {} if label != "bare_batched" else {},
                                        **score(json.loads(out.read_text()), lines)})
                    print(name, label, k, runs[label][-1], flush=True)
            for label in labels:
                row[label] = min(runs[label], key=lambda r: r["wall_s"])
            row["after_over_bare_per_round"] = [round(a["wall_s"] / b["wall_s"], 3)
                                                for a, b in zip(runs["after"], runs["bare_batched"], strict=True)]
            row["after_over_bare_median"] = round(statistics.median(row["after_over_bare_per_round"]), 3)
            row["after_over_bare_cpu_median"] = round(statistics.median(
                a["cpu_s"] / b["cpu_s"] for a, b in zip(runs["after"], runs["bare_batched"], strict=True)), 3)
            # the step's own overhead: its second decoding of failed windows is work bare does not do
            row["after_minus_redecode_over_bare_median"] = round(statistics.median(
                (a["wall_s"] - a["phases_s"].get("redecode", 0.0)) / b["wall_s"]
                for a, b in zip(runs["after"], runs["bare_batched"], strict=True)), 3)
            row["after_over_bare"] = round(row["after"]["wall_s"] / row["bare_batched"]["wall_s"], 3)
            row["before_over_after"] = round(row["before"]["wall_s"] / row["after"]["wall_s"], 2)
            results[name] = row
    load = Path("/proc/loadavg").read_text().split()[:3]
    results["machine"] = {"cores": len(os.sched_getaffinity(0)), "loadavg_at_end": load}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
