"""Speed and output usability of the multimodal pass's VLM path (reelset.vlm) on this machine.

Builds the tiny random Qwen2.5-VL (tools/make_tiny_models.py) — or takes ``--model DIR``,
e.g. a fetched Qwen2.5-VL-7B-Instruct — and runs, on the demo video, the prompts of the
multimodal pass of step2-transcript-disambiguate: the bible, the 4 reference shots and
``--frames`` frames per segment of the tiny.en base transcript, with constrained decoding
(xgrammar, the pass's schema) and without, for batch sizes 1 and 4. Prints and writes
(``--out``, JSON): load seconds, grammar compile seconds, and per run answers parsed, answers
rejected by reason (no_json / truncated / invalid), generate seconds per segment, generated
tokens/s, ms per decoding step (a batch decodes as long as its longest row), prompt / new
tokens, batch size and padding side. One run each after a warm-up, wall time
(``time.perf_counter``).

Usage: ``.venv/bin/python bench/bench_vlm.py [--model DIR] [--device cpu|cuda] [--out bench/vlm.json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

import orjson  # noqa: E402

from conftest import DEMO_DIR, DEMO_VIDEO, run_tool, shot_references, transcript_spec  # noqa: E402
from reelset import answers, vlm  # noqa: E402
from reelset.disambiguate import MODEL_SYSTEM, model_prompt  # noqa: E402
from reelset.schemas.bible import BibleArtifact  # noqa: E402
from reelset.schemas.disambiguate import ModelSegmentAnswer, segment_answer_schema  # noqa: E402
from reelset.schemas.references import ShotReferenceArtifact  # noqa: E402
from reelset.schemas.transcript import TranscriptArtifact  # noqa: E402
from step2_transcript_disambiguate import segment_frames  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="model directory (default: build the tiny random Qwen2.5-VL)")
    ap.add_argument("--device", choices=["cpu", "cuda"])
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--max-pixels", type=int, default=12544)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--max-text-chars", type=int, default=100)
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
        assert shot_references(tmp / "bible", {"demo01": DEMO_VIDEO}, tmp / "refs", tmp).returncode == 0
        base = TranscriptArtifact.model_validate(orjson.loads((tmp / "base/transcript.json").read_bytes()))
        bible = BibleArtifact.model_validate(orjson.loads((tmp / "bible/bible.json").read_bytes()))
        refs = ShotReferenceArtifact.model_validate(orjson.loads((tmp / "refs/references.json").read_bytes()))
        (tmp / "frames").mkdir()
        frames = segment_frames(DEMO_VIDEO, [(s.start, s.end) for s in base.segments], args.frames, tmp / "frames")
        model = vlm.load(model_dir, device=args.device)
        convs = [vlm.chat(model_prompt(bible.bible, [f"{f.subject} ({f.kind})" for f in refs.frames], s.text, s.start, s.end),
                          images=[tmp / "refs" / f.image for f in refs.frames], videos=[fr], system=MODEL_SYSTEM,
                          max_pixels=args.max_pixels, fps=args.frames / max(s.end - s.start, 1e-3))
                 for s, fr in zip(base.segments, frames, strict=True)]
        t0 = time.perf_counter()
        grammar = vlm.json_grammar(model, ModelSegmentAnswer,
                                   segment_answer_schema([c.name for c in bible.bible.characters], args.max_text_chars))
        compile_s = time.perf_counter() - t0
        vlm.generate(model, convs[:1], max_new_tokens=4)  # warm-up
        result = {"model": str(args.model or "tiny-qwen2.5-vl (tools/make_tiny_models.py)"), "device": model.device,
                  "dtype": str(model.dtype), "load_s": model.load_seconds, "grammar_compile_s": round(compile_s, 3),
                  "segments": len(convs), "frames": args.frames, "max_pixels": args.max_pixels,
                  "max_new_tokens": args.max_new_tokens, "max_text_chars": args.max_text_chars, "runs": []}
        for batch in (1, 4):
            for g in (None, grammar):
                gens, seconds, steps = [], 0.0, 0
                for i in range(0, len(convs), batch):
                    t0 = time.perf_counter()
                    out = vlm.generate(model, convs[i:i + batch], max_new_tokens=args.max_new_tokens, grammar=g)
                    seconds += time.perf_counter() - t0
                    steps += max(x.new_tokens for x in out)
                    gens += out
                problems = Counter(answers.parse_json(x.text, ModelSegmentAnswer, x.hit_limit).problem for x in gens)
                ok = problems.pop(None, 0)
                result["runs"].append({"decoding": "constrained" if g else "free", "batch": batch,
                                       "padding_side": model.processor.tokenizer.padding_side,
                                       "answers_parsed": ok, "answers_rejected": dict(problems),
                                       "malformed_rate": round(1 - ok / len(gens), 3),
                                       "generate_s_per_segment": round(seconds / len(gens), 3),
                                       "new_tokens_per_s": round(sum(x.new_tokens for x in gens) / seconds, 1),
                                       "ms_per_step": round(1000 * seconds / steps, 2),
                                       "prompt_tokens_mean": round(sum(x.prompt_tokens for x in gens) / len(gens), 1),
                                       "new_tokens_mean": round(sum(x.new_tokens for x in gens) / len(gens), 1)})
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
