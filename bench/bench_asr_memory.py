"""Peak RSS of ASR phase by phase (step2-transcript-base's code path) on episodes of several
lengths: does memory grow with the source length beyond the model and its batch buffers?

For each ``--minutes`` value a fresh interpreter makes (or takes, ``--video``) a synthetic episode
(bench/bench_episode.py ``make_episode``: lavfi shots under an espeak-ng dialogue), then runs what
the step runs — 16 kHz decode, Silero VAD, model load (tiny.en int8 on the CPU), the batched
transcription with its second look at failed windows (since issue 26: 16-bit samples of the whole
file, VAD and transcription one ~10-minute block at a time, ``reelset.asr.decode.transcribe_blocks``) — and prints
the process's peak RSS (MB, ``ru_maxrss``) after each phase, plus the number of 30 s windows and
of windows decoded again.

Usage: ``.venv/bin/python bench/bench_asr_memory.py --minutes 2 8 22 [--batch-size 8] [--tools DIR] [--out F.json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools"), str(REPO / "bench")]

CHILD = """
import json, resource, sys
from pathlib import Path
sys.path[:0] = sys.argv[4:]
from conftest import TINY_EN
from reelset import media
try:  # issue 40: reelset.asr is a package
    from reelset.asr import decode as asr_decode, whisper as asr_whisper, windows as asr_windows
    from reelset.device import DevicePolicy
    policy = (DevicePolicy(),)  # issue 40: the device policy is passed in
except ImportError:  # a checkout before it: one module
    from reelset import asr
    asr_decode = asr_whisper = asr_windows = asr
    policy = ()
from reelset.schemas.transcript import AsrConfig
peak = lambda: round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
cfg = AsrConfig(language="en", **({"batch_size": int(sys.argv[2])} if int(sys.argv[2]) else {}))
row = {}
if hasattr(asr_decode, "transcribe_blocks"):  # issue 26: 16-bit samples held, VAD + ASR one block at a time
    pcm = media.decode_audio_16k(Path(sys.argv[1]), pcm16=True); row["decoded_mb"] = peak()
    model, device, _ = asr_whisper.load_whisper(TINY_EN, cfg, *policy); row["model_mb"] = peak()
    windows, ts, _, _ = asr_decode.transcribe_blocks(model, pcm, cfg, asr_whisper.default_batch_size(cfg, device), "ASR")
    row["vad_mb"] = row["asr_mb"] = peak(); n = len(pcm)
else:
    audio = media.decode_audio_16k(Path(sys.argv[1])); row["decoded_mb"] = peak()
    ts = asr_windows.speech_timestamps(audio, cfg); row["vad_mb"] = peak()
    model, device, _ = asr_whisper.load_whisper(TINY_EN, cfg, *policy); row["model_mb"] = peak()
    windows, _, _ = asr_decode.transcribe(model, audio, ts, cfg, asr_whisper.default_batch_size(cfg, device), "ASR"); row["asr_mb"] = peak()
    n = len(audio)
row.update(windows=len(windows), decoded_again=sum(bool(w.redecoded) for w in windows), audio_s=round(n / 16000, 1))
json.dump(row, open(sys.argv[3], "w"))
"""


def measure(video: Path, batch_size: int, out: Path, tools: Path) -> dict:
    """Run the ASR phases on ``video`` in a fresh interpreter with the ``reelset`` package of
    ``tools``; the peak RSS row (MB) it writes to ``out``. Raises CalledProcessError when it fails."""
    subprocess.run([sys.executable, "-c", CHILD, str(video), str(batch_size), str(out), str(tools), str(REPO / "tests")],
                   check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[2.0, 8.0, 22.0])
    ap.add_argument("--batch-size", type=int, default=0, help="[asr] batch_size (0: the step's default)")
    ap.add_argument("--tools", type=Path, default=REPO / "tools", help="tools/ folder to measure (e.g. a git archive of an older revision)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from bench_episode import make_episode

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-asr-memory-") as tmp:
        for minutes in args.minutes:
            ep = make_episode(minutes, Path(tmp))
            row = {"minutes": minutes, **measure(ep.video, args.batch_size, Path(tmp) / f"{minutes:g}.json", args.tools.resolve())}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if len(rows) > 1:
        a, b = rows[-2], rows[-1]
        print(f"growth {a['minutes']:g} → {b['minutes']:g} min: "
              f"{(b['asr_mb'] - a['asr_mb']) / (b['minutes'] - a['minutes']):.1f} MB per source minute")
    if args.out:
        args.out.write_text(json.dumps({"tools": str(args.tools), "runs": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
