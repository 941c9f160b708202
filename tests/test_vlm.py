"""The shared VLM path (reelset.vlm) with the tiny random Qwen2.5-VL of tools/make_tiny_models.py:
deterministic build, real transformers / qwen-vl-utils loading and generation with images
and video frames, robust JSON parsing; and the checks the multimodal pass applies to answers."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from conftest import DEMO_VIDEO, PYTHON, REPO, ffmpeg
from reelset import vlm
from reelset.disambiguate import model_pass_segment, model_prompt, resolve_speaker
from reelset.schemas.bible import Bible, BibleTerm
from reelset.schemas.disambiguate import ModelSegmentAnswer


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
    assert model.device == "cpu" and model.model_type == "qwen2_5_vl" and not model.audio
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
    # random weights: the answer is no usable JSON, and parsing says why instead of raising
    parsed = vlm.parse_json(gens[0].text, ModelSegmentAnswer)
    assert parsed.value is None and parsed.reason


def test_load_errors_name_the_directory(tmp_path):
    with pytest.raises(Exception, match="config.json not found"):
        vlm.load(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(Exception, match="'bert' is not supported"):
        vlm.load(tmp_path)


@pytest.mark.parametrize(("text", "speaker", "reason"), [
    ('Sure! ```json\n{"speaker": "Lana", "confidence": 0.8, "text": "hi"}\n``` done', "Lana", None),
    ('{"a": {"b": 1}} then {"speaker": "x", "confidence": 1, "text": ""}', None, "JSON does not match ModelSegmentAnswer: speaker: Field required"),
    ('{"speaker": "Cyril", "confidence": 1.5, "text": ""}', None, "confidence: Input should be less than or equal to 1"),
    ('{"speaker": "Cyril", "confidence": 0.5, "text": "x", "extra": [1, 2]}', "Cyril", None),
    ('{"speaker": "Cyril", "confid', None, "no JSON object in the output"),
    ("\n\n\n", None, "no JSON object in the output"),
])
def test_parse_json(text, speaker, reason):
    parsed = vlm.parse_json(text, ModelSegmentAnswer)
    if speaker:
        assert parsed.value.speaker == speaker and parsed.reason is None and parsed.raw.startswith("{")
    else:
        assert parsed.value is None and reason in parsed.reason


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
    p = model_prompt(BIBLE, ["Malory (character)"], "Mallory is late.", 1.0, 2.5, audio=False)
    assert "character Malory (also called Malory Archer; voice: older female)" in p and "place Moscow" in p
    assert "picture 1: Malory (character)" in p and "'Mallory is late.'" in p and '"confidence"' in p
