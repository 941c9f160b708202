"""The shared VLM path (reelset.vlm) with the tiny random Qwen2.5-VL of tools/make_tiny_models.py:
deterministic build, real transformers / qwen-vl-utils loading and generation with images
and video frames, JSON-schema constrained decoding (xgrammar) in both tools' generate calls,
tolerant parsing of a corpus of realistic free answers (tests/data/model_answers.json); and
the checks the multimodal pass applies to answers."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from conftest import DEMO_VIDEO, PYTHON, REPO, ffmpeg
from reelset import answers, vlm
from reelset.disambiguate import model_pass_segment, model_prompt, resolve_speaker
from reelset.schemas.bible import Bible, BibleTerm
from reelset.schemas.captions import SHOT_TYPES, CaptionAnswer, answer_schema
from reelset.schemas.disambiguate import ModelSegmentAnswer, segment_answer_schema

CORPUS = json.loads((REPO / "tests/data/model_answers.json").read_text())["answers"]


def tree_hashes(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_tiny_model_is_deterministic_and_complete(tiny_vlm, tmp_path):
    again = tmp_path / "again"
    proc = subprocess.run([PYTHON, str(REPO / "tools/make_tiny_models.py"), "qwen2.5-vl", "--out", str(again)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert tree_hashes(again) == tree_hashes(tiny_vlm)
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= set(tree_hashes(again))
    # refuses to write into a non-empty directory
    proc = subprocess.run([PYTHON, str(REPO / "tools/make_tiny_models.py"), "qwen2.5-vl", "--out", str(again)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not empty" in proc.stderr


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[Path]:
    """Four real frames of the demo video (PNG, 1 s apart)."""
    d = tmp_path_factory.mktemp("frames")
    ffmpeg("-i", str(DEMO_VIDEO), "-vf", "fps=1", "-frames:v", "4", str(d / "f%02d.png"))
    return sorted(d.glob("f*.png"))


def test_load_and_generate_with_images_and_video(tiny_vlm, frames):
    model = vlm.load(tiny_vlm, device="cpu")
    assert model.device == "cpu" and model.model_type == "qwen2_5_vl"
    tok = model.processor.tokenizer
    for special in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<|endoftext|>"):
        assert tok.convert_tokens_to_ids(special) != tok.unk_token_id and len(tok(special)["input_ids"]) == 1, special
    convs = [vlm.chat("Who speaks? Answer JSON.", images=frames[:1], videos=[frames], max_pixels=64 * 28 * 28),
             vlm.chat("Describe the picture in more words than the first prompt.", images=frames[1:3], max_pixels=16 * 28 * 28,
                      system="Answer briefly.")]
    gens = vlm.generate(model, convs, max_new_tokens=12)
    assert len(gens) == 2
    # image tokens: 64 per image at 64*28*28 pixels; the video: 4 frames = 2 temporal patches x <= 64
    assert gens[0].prompt_tokens > 64 + 64 and gens[1].prompt_tokens > 2 * 16
    for g in gens:
        assert 1 <= g.new_tokens <= 12 and g.seconds > 0 and isinstance(g.text, str)
        assert g.hit_limit == (g.new_tokens == 12)
    # random weights, free decoding: the answer is no usable JSON, and parsing says why instead of raising
    parsed = answers.parse_json(gens[0].text, ModelSegmentAnswer, gens[0].hit_limit)
    assert parsed.value is None and parsed.reason and parsed.problem in ("no_json", "truncated")
    assert not any(g.constrained for g in gens)


def test_constrained_decoding_makes_the_random_model_answer_schema_valid_json(tiny_vlm, frames):
    """The same random model under the grammar of each answer: every row of a batch ends in
    a valid answer within the budget, and the values lie in the enums of the run's schema."""
    model = vlm.load(tiny_vlm, device="cpu")
    names = ["Archer", "Lana"]
    convs = [vlm.chat(f"Describe clip {i}. Answer JSON.", videos=[frames[i:i + 2]], max_pixels=16 * 28 * 28) for i in range(3)]
    grammar = vlm.json_grammar(model, CaptionAnswer, answer_schema(60, names))
    gens = vlm.generate(model, convs, max_new_tokens=160, grammar=grammar)
    for g in gens:
        parsed = answers.parse_json(g.text, CaptionAnswer, g.hit_limit)
        assert g.constrained and parsed.value is not None, (g.text, parsed.reason)
        assert not parsed.repaired and json.loads(g.text) == json.loads(parsed.raw)  # strict JSON, nothing around it
        assert 20 <= len(parsed.value.caption) <= 60 and parsed.value.shot_type in SHOT_TYPES
        assert set(parsed.value.characters) <= set(names)
    seg = vlm.json_grammar(model, ModelSegmentAnswer, segment_answer_schema(names, 40))
    [g] = vlm.generate(model, convs[:1], max_new_tokens=96, grammar=seg)
    ans = answers.parse_json(g.text, ModelSegmentAnswer, g.hit_limit).value
    assert ans is not None and ans.speaker in [*names, "unknown"] and 0 <= ans.confidence <= 1 and len(ans.text) <= 40


def test_answer_grammar_falls_back_to_free_decoding_with_the_reason(tiny_vlm, monkeypatch):
    model = vlm.load(tiny_vlm, device="cpu")
    assert vlm.answer_grammar(model, CaptionAnswer, enabled=False) == (
        None, "free decoding (constrained decoding off in the config); tolerant JSON parsing")
    import xgrammar

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported tokenizer")

    monkeypatch.setattr(xgrammar.TokenizerInfo, "from_huggingface", broken)
    grammar, note = vlm.answer_grammar(model, CaptionAnswer, enabled=True)
    assert grammar is None and note.startswith("free decoding, tolerant JSON parsing (vlm: xgrammar cannot constrain")
    assert "CaptionAnswer: RuntimeError: unsupported tokenizer" in note


def test_load_errors_name_the_directory(tmp_path):
    with pytest.raises(Exception, match="config.json not found"):
        vlm.load(tmp_path, "cpu")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(Exception, match="'bert' is not supported"):
        vlm.load(tmp_path, "cpu")
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_audio"}')  # hears, but sees nothing: not supported
    with pytest.raises(Exception, match="'qwen2_audio' is not supported"):
        vlm.load(tmp_path, "cpu")


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_tolerant_parsing_of_realistic_answers(case):
    """Free decoding: each answer of the corpus parses as specified in tests/data/model_answers.json."""
    answer = CaptionAnswer if case["answer"] == "caption" else ModelSegmentAnswer
    parsed = answers.parse_json(case["text"], answer, hit_limit=case.get("hit_limit", False))
    expect = dict(case["expect"])
    if "problem" in expect:
        assert parsed.value is None and parsed.problem == expect["problem"] and expect["reason"] in parsed.reason, parsed.reason
    else:
        assert parsed.value is not None and parsed.problem is None and parsed.reason is None, parsed.reason
        assert {k: getattr(parsed.value, k) for k in expect} == expect
        assert parsed.repaired == case.get("repaired", False)


BIBLE = Bible.model_validate({"trigger_word": "t", "characters": [
    {"name": "Malory", "aliases": ["Malory Archer"], "voice": "older female"}, {"name": "Lana"}],
    "places": [{"name": "Moscow"}]})
TERMS = [BibleTerm(text="Malory", canonical="Malory", kind="character", role="name"),
         BibleTerm(text="Malory Archer", canonical="Malory", kind="character", role="alias"),
         BibleTerm(text="Lana", canonical="Lana", kind="character", role="name"),
         BibleTerm(text="Moscow", canonical="Moscow", kind="place", role="name")]


def words(text: str) -> list[dict]:
    return [dict(word=w, start=i * 0.5, end=i * 0.5 + 0.4, probability=0.6, source="base") for i, w in enumerate(text.split())]


def test_model_answer_fixes_a_name_that_sounds_alike_and_nothing_else():
    seg = words("Mallory says the package is in Moscow, Donna.")
    ans = ModelSegmentAnswer(speaker="lana", confidence=0.9, text="Malory says the parcel is in Moscow, Lana.")
    spk, audit = model_pass_segment(3, seg, ans, BIBLE, TERMS, min_confidence=0.5, min_similarity=0.8)
    assert (spk.speaker, spk.source, spk.confidence) == ("Lana", "model", 0.9)
    assert [w["word"] for w in seg] == "Malory says the package is in Moscow, Donna.".split()
    by = {(a.before, a.action) for a in audit}
    assert ("Mallory", "applied") in by  # sounds alike
    assert ("package", "alternative") in by  # no bible term: never applied
    assert ("Donna.", "rejected") in by  # a name where a different word was heard
    assert all(a.pass_ == "model" and a.segment == 3 for a in audit)
    assert seg[0]["source"] == "model" and seg[0]["probability"] == 0.9


def test_model_answer_unknown_speaker_and_low_confidence():
    seg = words("Mallory is late.")
    spk, audit = model_pass_segment(0, seg, ModelSegmentAnswer(speaker="Krieger", confidence=0.9, text="Malory is late."),
                                    BIBLE, TERMS, 0.5, 0.8)
    assert (spk.speaker, spk.source) == ("unknown", "none")
    assert any(a.action == "rejected" and "Krieger" in a.reason for a in audit)
    seg = words("Mallory is late.")
    spk, audit = model_pass_segment(0, seg, ModelSegmentAnswer(speaker="Malory Archer", confidence=0.2, text="Malory is late."),
                                    BIBLE, TERMS, 0.5, 0.8)
    assert (spk.speaker, spk.source, spk.confidence) == ("unknown", "model", 0.2)
    assert seg[0]["word"] == "Mallory" and [a.action for a in audit] == ["alternative"]
    assert resolve_speaker("malory  archer", BIBLE) == "Malory" and resolve_speaker("", BIBLE) == "unknown"


def test_model_prompt_holds_the_bible_and_the_schema():
    p = model_prompt(BIBLE, ["Malory (character)"], "Mallory is late.", 1.0, 2.5)
    assert "character Malory (also called Malory Archer; voice: older female)" in p and "place Moscow" in p
    assert "picture 1: Malory (character)" in p and "'Mallory is late.'" in p and '"confidence"' in p


def test_the_templates_try_out_profile_captions_every_clip(tiny_vlm, frames):
    """Issue 27 (1): with the [caption] section of templates/dataset/dataset.toml (the offline
    try-out model), constrained decoding ends every answer within the token budget, so every clip
    gets a schema-valid, non-empty caption a new user can take to both packages (before: the
    default 800-character bound under a 192-token budget cut every answer: "unusable (truncated)")."""
    import tomllib

    from reelset.schemas.captions import CaptionConfig
    from step2_caption import read_answer

    section = tomllib.loads((REPO / "templates/dataset/dataset.toml").read_text())["caption"]
    assert section["model"] == "tiny-qwen2.5-vl"
    cfg = CaptionConfig.model_validate(section)
    model = vlm.load(tiny_vlm, device="cpu")
    grammar, decoding = vlm.answer_grammar(model, CaptionAnswer, cfg.constrained, answer_schema(cfg.max_chars, []))
    assert grammar is not None, decoding
    clips = [frames[i:i + 2] for i in range(3)]
    convs = [vlm.chat(f"Describe clip {i}. Answer JSON.", videos=[f], max_pixels=cfg.max_pixels, min_pixels=cfg.min_pixels,
                      fps=cfg.fps) for i, f in enumerate(clips)]
    gens = []
    for i in range(0, len(convs), cfg.batch_size):
        gens += vlm.generate(model, convs[i:i + cfg.batch_size], max_new_tokens=cfg.max_new_tokens, grammar=grammar)
    for g in gens:
        ans, caption, problem, reason = read_answer(g)
        assert ans is not None and caption and problem is None, (problem, reason, g.new_tokens, cfg.max_new_tokens)
        assert len(caption) <= cfg.max_chars


def _greedy_json(processor, vocab: list[str], steps: int = 40, seed: int = 0) -> list[int]:
    """Greedy decoding of random logits through ``processor``, one row, until the stop token (0)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    ids = torch.zeros((1, 1), dtype=torch.long)
    out: list[int] = []
    for _ in range(steps):
        scores = processor(ids, torch.randn((1, len(vocab)), generator=gen))
        token = int(scores[0].argmax())
        out.append(token)
        if token == 0:
            break
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out


def test_constrained_decoding_on_cuda_masks_without_a_compiler(monkeypatch):
    """The CUDA branch of the logits processor (taken here on CPU tensors) masks with xgrammar's
    torch-native kernel, not its CUDA default Triton (which JIT-compiles C): the Triton kernel
    cannot even be imported, every call names ``torch_native``, and the random logits still
    decode to schema-valid JSON — token for token what the CPU kernel gives."""
    import sys

    import torch
    import xgrammar as xgr

    vocab = ["</s>", "{", "}", '"', "n", ":", " ", ",", "x", "qq", *"0123456789"]
    info = xgr.TokenizerInfo(vocab, stop_token_ids=[0])
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    compiled = xgr.GrammarCompiler(info).compile_json_schema(json.dumps(schema), any_whitespace=False)
    on_cpu = _greedy_json(vlm.GrammarLogitsProcessor(compiled), vocab)

    backends: list[str] = []
    real = xgr.apply_token_bitmask_inplace

    def spy(logits, bitmask, **kw):
        backends.append(kw.get("backend", "auto"))
        return real(logits, bitmask, **kw)

    monkeypatch.setattr(xgr, "apply_token_bitmask_inplace", spy)
    monkeypatch.setitem(sys.modules, "triton", None)  # importing Triton (or its kernel) now fails
    monkeypatch.setitem(sys.modules, "xgrammar.kernels.apply_token_bitmask_inplace_triton", None)
    monkeypatch.setattr(vlm, "_device_type", lambda scores: "cuda")
    processor = vlm.GrammarLogitsProcessor(compiled)
    on_cuda = _greedy_json(processor, vocab)
    assert backends and set(backends) == {"torch_native"} and processor.backend == "torch_native"
    assert on_cuda == on_cpu and on_cuda[-1] == 0
    text = "".join(vocab[t] for t in on_cuda[:-1])
    assert isinstance(json.loads(text)["n"], int), text
    assert (vlm.bitmask_backend("cuda"), vlm.bitmask_backend("cpu")) == ("torch_native", "cpu")
    # what the explicit choice avoids: the Triton kernel, which cannot load here
    with pytest.raises(ImportError):
        real(torch.zeros((1, len(vocab))), xgr.allocate_token_bitmask(1, len(vocab)), backend="triton")


def test_the_builder_probe_masks_on_the_cuda_branch(monkeypatch):
    """tools/cuda_probe.py's constrained-decoding op (builders/check: [ok] constrained), with
    the CUDA branch taken on CPU tensors: it reports the torch-native kernel and a mask equal
    to the CPU kernel's; without a GPU it says so instead of failing."""
    import sys

    import torch

    sys.path.insert(0, str(REPO / "tools"))
    import cuda_probe

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cuda_probe.probe_constrained() == {"backend": None, "op": None, "error": "no CUDA device for torch"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self: self)
    monkeypatch.setattr(vlm, "_device_type", lambda scores: "cuda")
    got = cuda_probe.probe_constrained()
    assert got["backend"] == "torch_native" and got["error"] is None, got
    assert got["op"].startswith("JSON-grammar token mask (torch_native kernel, 1 of 19 tokens allowed)"), got  # only "{"
