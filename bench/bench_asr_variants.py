"""step2-transcript-base under the machine-dependent choices its numbers rest on (issue 23).

The ASR tests (tests/test_asr_long.py) assert WER bounds on espeak-ng speech decoded by tiny.en
on the CPU. The words tiny.en hears depend on more than the derivation's inputs:
- CTranslate2's GEMM backend: Intel MKL on GenuineIntel CPUs, oneDNN (DNNL) on every other x86
  CPU (CTranslate2 ``src/cpu/backend.cc``, ``mayiuse_mkl_init``: ``cpu_is_genuine_intel()``
  unless ``CT2_USE_MKL`` is set) — an AMD EPYC runs other int8 kernels than an Intel Xeon;
- CTranslate2's own kernels' ISA (``CT2_FORCE_CPU_ISA``: AVX512, AVX2, AVX; ``src/cpu/cpu_isa.cc``);
- the thread count (``[asr] cpu_threads``);
- Silero VAD on onnxruntime with its default (all) or basic graph optimisation;
- numpy's OpenBLAS kernel (``OPENBLAS_CORETYPE``), used by faster-whisper's log-mel filterbank.

This script makes the test media once (tests/speech_media.py: the 54-sentence dialogue with
0.8 s pauses and without pauses, the 40-sentence monologue) and transcribes each with the
step's CLI under every variant, in a fresh process each. Per medium and variant it records the
WER, the per-sentence WER (words whose midpoints lie in the sentence's span, ± 0.3 s, as the
tests count them), how many sentences exceed 0.5, each sentence's word-count ratio and deleted
share (jiwer alignment), segments and flagged segments, and which backend/ISA CTranslate2 said it
used (``meta.json`` ``versions``). The test bounds cite bench/asr_variants.json.

Usage: ``.venv/bin/python bench/bench_asr_variants.py [--variants default,dnnl,...] [--out bench/asr_variants.json]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tools")]

from conftest import PYTHON, transcript_spec  # noqa: E402
from reelset import cpu_kernels  # noqa: E402
from reelset.schemas.transcript import TranscriptArtifact  # noqa: E402
from speech_media import VOICES, dialogue_script, make_speech_video  # noqa: E402
from speech_scoring import sentence_scores  # noqa: E402

MEDIA = {
    "dialogue_pauses": (dialogue_script(54), 0.8),
    "dialogue_no_pauses": (dialogue_script(54), 0.0),
    "monologue": (dialogue_script(40, VOICES[:1]), 0.0),
}

# onnxruntime with basic graph optimisation for Silero VAD: a sitecustomize on PYTHONPATH wraps
# InferenceSession (faster_whisper/vad.py builds its SessionOptions itself)
ORT_BASIC = """
import onnxruntime as _ort
_Session = _ort.InferenceSession
def _basic(path, *a, sess_options=None, **kw):
    opts = sess_options or _ort.SessionOptions()
    opts.graph_optimization_level = _ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return _Session(path, *a, sess_options=opts, **kw)
_ort.InferenceSession = _basic
"""

VARIANTS: dict[str, tuple[dict, dict]] = {  # name → (environment, [asr] settings)
    "default": ({}, {}),
    "dnnl": ({"CT2_USE_MKL": "0"}, {}),                      # the GEMM backend of a non-Intel x86 CPU
    "dnnl_avx2": ({"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2"}, {}),
    "avx2": ({"CT2_FORCE_CPU_ISA": "AVX2"}, {}),
    "avx": ({"CT2_FORCE_CPU_ISA": "AVX"}, {}),
    "threads1": ({}, {"cpu_threads": 1}),
    "threads2": ({}, {"cpu_threads": 2}),
    "ort_basic": ({"_ORT_BASIC": "1"}, {}),
    "openblas_haswell": ({"OPENBLAS_CORETYPE": "Haswell"}, {}),
    # the failing CI-kind machine of issue 23: an AMD EPYC (oneDNN) with OPENBLAS_CORETYPE=Haswell set
    "dnnl_haswell": ({"CT2_USE_MKL": "0", "OPENBLAS_CORETYPE": "Haswell"}, {}),
    # issue 37: an AMD-like machine without AVX-512 (oneDNN capped too: CT2_FORCE_CPU_ISA does not reach it)
    "amd_avx2": ({"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, {}),
    "amd_avx2_zen": ({"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                      "OPENBLAS_CORETYPE": "Zen", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}, {}),
    "mkl": ({"CT2_USE_MKL": "1"}, {}),                       # the GEMM backend of an Intel CPU
    "onednn_avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, {}),
    "openblas_skylakex": ({"OPENBLAS_CORETYPE": "SkylakeX"}, {}),
    "openblas_zen": ({"OPENBLAS_CORETYPE": "Zen"}, {}),
    "threads4": ({}, {"cpu_threads": 4}),
}


def run_variant(name: str, video: Path, lines, tmp: Path, pinned: bool = False) -> dict:
    """One transcription of ``video`` under variant ``name``; with ``pinned``, the CPU kernel pins of
    the step environment (reelset.cpu_kernels.PINNED) over the variant's environment."""
    env_extra, asr = VARIANTS[name]
    env = {**os.environ, **{k: v for k, v in env_extra.items() if not k.startswith("_")}}
    if pinned:
        env = cpu_kernels.pinned_env(env)
    if env_extra.get("_ORT_BASIC"):
        site = tmp / "ort-basic"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(ORT_BASIC)
        env["PYTHONPATH"] = f"{site}:{env.get('PYTHONPATH', '')}"
    out = tmp / f"{video.stem}-{name}{'-pinned' if pinned else ''}"
    spec = tmp / f"{out.name}.json"
    spec.write_text(json.dumps(transcript_spec(video, video.stem.replace("_", "-"), **asr)))
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, str(REPO / "tools" / "step2_transcript_base.py"), "--spec", str(spec), "--out", str(out)],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    t = TranscriptArtifact.model_validate_json((out / "transcript.json").read_bytes())
    meta = json.loads((out / "meta.json").read_text())
    s = sentence_scores(t, lines)
    return {"wall_s": round(wall, 1), "sha256": hashlib.sha256((out / "transcript.json").read_bytes()).hexdigest(),
            "wer": round(s.wer, 4), "max_sentence_wer": round(max(s.sentence_wer), 3),
            "sentences_over_0.5": sum(w > 0.5 for w in s.sentence_wer),
            "sentences_over_0.3": sum(w > 0.3 for w in s.sentence_wer),
            "min_word_ratio": round(min(s.word_ratio), 3), "max_word_ratio": round(max(s.word_ratio), 3),
            "max_deleted_share": round(max(s.deleted_share), 3),
            "segments": len(t.segments), "flagged": sum(bool(x.flags) for x in t.segments),
            "worst": [(ln.text, said) for ln, said, w in zip(lines, s.heard, s.sentence_wer, strict=True) if w > 0.5],
            "ctranslate2": {k: v for k, v in meta.get("versions", {}).items() if k.startswith("ctranslate2")},
            "cpu": meta.get("versions", {}).get("cpu", "")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--media", default=",".join(MEDIA))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "asr_variants.json")
    ap.add_argument("--merge", action="store_true", help="add to the runs already in --out")
    ap.add_argument("--pinned", action="store_true", help="each variant under the step environment's CPU kernel pins too "
                    "(rows '<variant>+pinned'; issue 37)")
    args = ap.parse_args()
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": _cpu_model(), "runs": {}}
    if args.merge and args.out.is_file():
        results["runs"] = json.loads(args.out.read_text())["runs"]
    with tempfile.TemporaryDirectory(prefix="reelset-asr-variants-") as tmp_s:
        tmp = Path(tmp_s)
        for medium in args.media.split(","):
            script, pause = MEDIA[medium]
            video = tmp / f"{medium}.mp4"
            lines = make_speech_video(script, video, pause_s=pause)
            for name, pinned in [(n, p) for n in args.variants.split(",") for p in ([False, True] if args.pinned else [False])]:
                r = run_variant(name, video, lines, tmp, pinned)
                name = f"{name}+pinned" if pinned else name
                results["runs"].setdefault(medium, {})[name] = r
                print(f"{medium:20s} {name:18s} " + (f"{r['sha256'][:12]}  WER {r['wer']:.3f}  max sentence {r['max_sentence_wer']:.2f}  "
                      f">0.5: {r['sentences_over_0.5']}  words {r['min_word_ratio']:.2f}-{r['max_word_ratio']:.2f}  "
                      f"deleted ≤ {r['max_deleted_share']:.2f}  segs {r['segments']} flagged {r['flagged']}  "
                      f"{r['ctranslate2']}  {r['wall_s']} s" if "error" not in r else r["error"][-300:]), flush=True)
                args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return 0


def _cpu_model() -> str:
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        if ln.startswith("model name"):
            return ln.split(":", 1)[1].strip() + f", {os.cpu_count()} CPUs"
    return ""


if __name__ == "__main__":
    raise SystemExit(main())
