"""Speed and output usability of the multimodal pass's VLM path (reelset.vlm) on this machine.

Builds the tiny random Qwen2.5-VL (tools/make_tiny_models.py) — or takes ``--model DIR``,
e.g. a fetched Qwen2.5-VL-7B-Instruct — and runs, on the demo video, the prompts of the
multimodal pass of step2-transcript-disambiguate: the bible, the 4 reference shots and
``--frames`` frames per segment of the tiny.en base transcript, for batch sizes 1 and 4.
Prints and writes (``--out``, JSON): load seconds, generate seconds per segment, prompt /
new tokens, and the share of answers that are not a valid ModelSegmentAnswer (malformed).
One run, wall time (``time.perf_counter``).

Usage: ``.venv/bin/python bench/bench_vlm.py [--model DIR] [--device cpu|cuda] [--out bench/vlm.json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

import orjson  # noqa: E402

from conftest import DEMO_DIR, DEMO_VIDEO, run_tool, transcript_spec  # noqa: E402
from reelset import vlm  # noqa: E402
from reelset.disambiguate import MODEL_SYSTEM, model_prompt  # noqa: E402
from reelset.schemas.bible import BibleArtifact  # noqa: E402
from reelset.schemas.disambiguate import ModelSegmentAnswer  # noqa: E402
from reelset.schemas.references import ShotReferenceArtifact  # noqa: E402
from reelset.schemas.transcript import TranscriptArtifact  # noqa: E402
from step2_transcript_disambiguate import segment_frames  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="model directory (default: build the tiny random Qwen2.5-VL)")
    ap.add_argument("--device", choices=["cpu", "cuda"])
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--max-pixels", type=int, default=12544)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        model_dir = args.model
        if model_dir is None:
            model_dir = tmp / "tiny"
            subprocess.run([sys.executable, str(REPO / "tools/make_tiny_models.py"), "qwen2.5-vl", "--out", str(model_dir)],
                           check=True, capture_output=True)
        for script, spec, name in [
            ("step2_transcript_base.py", transcript_spec(DEMO_VIDEO, "demo01"), "base"),
            ("step2_bible.py", {"step": "step2-bible", "dataset": "b", "device": "cpu", "files": {"bible": str(DEMO_DIR / "bible.yaml")}}, "bible"),
        ]:
            assert run_tool(script, spec, tmp / name, tmp).returncode == 0, name
        assert run_tool("step2_shot_reference.py", {"step": "step2-shot-reference", "dataset": "b", "device": "cpu",
                                                    "inputs": {"step2-bible": str(tmp / "bible")}, "videos": {"demo01": str(DEMO_VIDEO)}},
                        tmp / "refs", tmp).returncode == 0
        base = TranscriptArtifact.model_validate(orjson.loads((tmp / "base/transcript.json").read_bytes()))
        bible = BibleArtifact.model_validate(orjson.loads((tmp / "bible/bible.json").read_bytes()))
        refs = ShotReferenceArtifact.model_validate(orjson.loads((tmp / "refs/references.json").read_bytes()))
        (tmp / "frames").mkdir()
        frames = segment_frames(DEMO_VIDEO, [(s.start, s.end) for s in base.segments], args.frames, tmp / "frames")
        model = vlm.load(model_dir, device=args.device)
        convs = [vlm.chat(model_prompt(bible.bible, [f"{f.subject} ({f.kind})" for f in refs.frames], s.text, s.start, s.end, False),
                          images=[tmp / "refs" / f.image for f in refs.frames], videos=[fr], system=MODEL_SYSTEM,
                          max_pixels=args.max_pixels, fps=args.frames / max(s.end - s.start, 1e-3))
                 for s, fr in zip(base.segments, frames, strict=True)]
        vlm.generate(model, convs[:1], max_new_tokens=4)  # warm-up
        result = {"model": str(args.model or "tiny-qwen2.5-vl (tools/make_tiny_models.py)"), "device": model.device,
                  "dtype": str(model.dtype), "load_s": model.load_seconds, "segments": len(convs), "frames": args.frames,
                  "max_pixels": args.max_pixels, "max_new_tokens": args.max_new_tokens, "runs": []}
        for batch in (1, 4):
            gens = []
            for i in range(0, len(convs), batch):
                gens += vlm.generate(model, convs[i:i + batch], max_new_tokens=args.max_new_tokens)
            seconds = sum(gens[i].seconds for i in range(0, len(gens), batch))  # one shared time per batch
            bad = sum(vlm.parse_json(g.text, ModelSegmentAnswer).value is None for g in gens)
            result["runs"].append({"batch": batch, "generate_s_per_segment": round(seconds / len(gens), 3),
                                   "prompt_tokens_mean": round(sum(g.prompt_tokens for g in gens) / len(gens), 1),
                                   "new_tokens_mean": round(sum(g.new_tokens for g in gens) / len(gens), 1),
                                   "malformed_rate": round(bad / len(gens), 3)})
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
