"""step2-caption's model path on this machine, counted honestly (for scale only; not a test).

Builds the demo's inputs with Nix (host toolchain: step1-scenes, step2-scene-context and
step2-bible of pipelines/demo) and the tiny random Qwen2.5-VL (tools/make_tiny_models.py),
then runs what step2-caption runs — its frame sampling, its prompt (build_prompt), reelset.vlm
generation and its answer check (read_answer) — on the demo's 4 clips with the demo's
``[caption]`` section, with constrained decoding (xgrammar) and without, for batch sizes 1
and 4, after one warm-up call. Per run: answers parsed, answers rejected by reason
(no_json / truncated / invalid / empty), captions/s over real captions only (usable answers /
generate seconds), generated tokens/s, ms per decoding step (generate seconds / the longest
answer of each batch, summed over batches: a batch decodes as long as its longest row), prompt
tokens per clip, batch size and padding side. Wall time is ``time.perf_counter``; one run each.

``--overhead``: only the grammar's own cost per token, independent of the model's speed (and
of other jobs on the machine): the answers of the Nix-built step2-caption shard, tokenized,
replayed through xgrammar's matcher — per token ``fill_next_token_bitmask``,
``apply_token_bitmask_inplace`` on a logits row and ``accept_token``, as the logits processor
does — median and mean ms per token.

Usage: ``.venv/bin/python bench/bench_caption.py [--overhead] [--out bench/caption.json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

import orjson  # noqa: E402

from conftest import nix_env  # noqa: E402
from reelset import vlm  # noqa: E402
from reelset.schemas.bible import BibleArtifact  # noqa: E402
from reelset.schemas.captions import CaptionAnswer, CaptionConfig, answer_schema  # noqa: E402
from reelset.schemas.context import SceneContextArtifact  # noqa: E402
from reelset.schemas.scenes import ScenesArtifact  # noqa: E402
from step2_caption import build_prompt, read_answer, sample_frames  # noqa: E402


def build(attr: str) -> Path:
    proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", attr], cwd=REPO, env=nix_env(True),
                          capture_output=True, text=True, check=True)
    return Path(json.loads(proc.stdout)[0]["outputs"]["out"])


def run(model: vlm.Vlm, prepared: list, cfg: CaptionConfig, grammar: vlm.JsonGrammar | None, batch: int) -> dict:
    gens, seconds, steps = [], 0.0, 0
    for i in range(0, len(prepared), batch):
        convs = [vlm.chat(p, videos=[f], max_pixels=cfg.max_pixels, min_pixels=cfg.min_pixels, fps=r)
                 for f, r, p in prepared[i:i + batch]]
        t0 = time.perf_counter()
        out = vlm.generate(model, convs, max_new_tokens=cfg.max_new_tokens, grammar=grammar)
        seconds += time.perf_counter() - t0
        steps += max(g.new_tokens for g in out)
        gens += out
    problems = Counter(read_answer(g)[2] for g in gens)
    ok = problems.pop(None, 0)
    return {"decoding": "constrained" if grammar else "free", "batch": batch, "padding_side": model.processor.tokenizer.padding_side,
            "clips": len(gens), "answers_parsed": ok, "answers_rejected": dict(problems),
            "malformed_rate": round(1 - ok / len(gens), 3), "generate_s": round(seconds, 3),
            "captions_per_s": round(ok / seconds, 3), "new_tokens": sum(g.new_tokens for g in gens),
            "new_tokens_per_s": round(sum(g.new_tokens for g in gens) / seconds, 1),
            "ms_per_step": round(1000 * seconds / steps, 2),
            "prompt_tokens_per_clip": round(sum(g.prompt_tokens for g in gens) / len(gens), 1),
            "hit_limit": sum(g.hit_limit for g in gens)}


def grammar_overhead(model: vlm.Vlm, grammar: vlm.JsonGrammar, answers: list[str]) -> dict:
    """ms per token of the xgrammar work the logits processor does, replaying ``answers``."""
    import statistics

    import torch
    import xgrammar as xgr

    vocab = grammar.compiled.tokenizer_info.vocab_size
    mask = xgr.allocate_token_bitmask(1, vocab)
    logits = torch.zeros(1, vocab)
    per_token = []
    for text in answers:
        matcher = xgr.GrammarMatcher(grammar.compiled)
        for tok in model.processor.tokenizer.encode(text, add_special_tokens=False):
            t0 = time.perf_counter()
            matcher.fill_next_token_bitmask(mask, 0)
            xgr.apply_token_bitmask_inplace(logits, mask)
            assert matcher.accept_token(tok), text
            per_token.append(1000 * (time.perf_counter() - t0))
    return {"answers": len(answers), "tokens": len(per_token), "median_ms_per_token": round(statistics.median(per_token), 4),
            "mean_ms_per_token": round(statistics.mean(per_token), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--overhead", action="store_true", help="only the grammar's cost per token (see the module docstring)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    scenes_dir = build(".#host.step1-scenes.shards.demo01")
    scenes = ScenesArtifact.model_validate(orjson.loads((scenes_dir / "scenes.json").read_bytes()))
    context = SceneContextArtifact.model_validate(orjson.loads(
        (build(".#host.step2-scene-context.shards.demo01") / "context.json").read_bytes()))
    bible = BibleArtifact.model_validate(orjson.loads((build(".#host.step2-bible") / "bible.json").read_bytes()))
    cfg = CaptionConfig.model_validate({k: v for k, v in tomllib.loads((REPO / "pipelines/demo/dataset.toml").read_text())
                                        ["caption"].items() if k != "model"})
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        subprocess.run([sys.executable, str(REPO / "tools/make_tiny_models.py"), "qwen2.5-vl", "--out", str(tmp / "tiny")],
                       check=True, capture_output=True)
        model = vlm.load(tmp / "tiny", device="cpu")
        names = [c.name for c in bible.bible.characters]
        if args.overhead:
            grammar = vlm.json_grammar(model, CaptionAnswer, answer_schema(cfg.max_chars, names))
            built = json.loads((build(".#host.step2-caption.shards.demo01") / "captions.json").read_text())
            result = {"grammar_overhead": grammar_overhead(model, grammar, [c["raw"] for c in built["clips"]])}
            print(json.dumps(result, indent=2))
            return 0
        prepared = []
        for scene, ctx in zip(scenes.scenes, context.clips, strict=True):
            frames, rate = sample_frames(scenes_dir / scene.clip, scene.end_s - scene.start_s, cfg, tmp / scene.clip_id)
            prepared.append((frames, rate, build_prompt(ctx, bible, cfg, len(frames), rate)))
        t0 = time.perf_counter()
        grammar = vlm.json_grammar(model, CaptionAnswer, answer_schema(cfg.max_chars, names))
        compile_s = time.perf_counter() - t0
        vlm.generate(model, [vlm.chat(prepared[0][2], videos=[prepared[0][0]], max_pixels=cfg.max_pixels)], max_new_tokens=4)
        runs = [run(model, prepared, cfg, g, b) for b in (1, 4) for g in (None, grammar)]
    result = {"model": "tiny-qwen2.5-vl (tools/make_tiny_models.py)", "device": model.device, "dtype": str(model.dtype),
              "config": cfg.model_dump(), "grammar_compile_s": round(compile_s, 3), "runs": runs}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
