"""step2-transcript-disambiguate: ``[disambiguate]`` of dataset.toml, the model answer asked for and
``corrected_transcript.json`` (writer: tools/step2_transcript_disambiguate.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from reelset.schemas.base import SCHEMA_VERSION, Strict
from reelset.schemas.transcript import SegmentFlag, Word


class DisambiguateConfig(Strict):
    """``[disambiguate]`` of dataset.toml: step2-transcript-disambiguate settings."""

    conditioned: bool = Field(True, description="Run the bible-conditioned re-decoding pass (faster-whisper with the bible's terms as hotwords + initial_prompt).")
    lexical: bool = Field(True, description="Run the lexical pass (phonetic + fuzzy matching of low-probability words and n-grams against bible terms).")
    lexical_max_probability: float = Field(0.75, ge=0, le=1, description="Lexical pass: only words whose ASR probability is below this (0-1) are candidates.")
    lexical_min_similarity: float = Field(0.8, ge=0, le=1, description="Lexical pass: minimum Jaro-Winkler similarity (rapidfuzz, 0-1) between a candidate (word or n-gram, letters only) and a bible term; the two must also share their Metaphone or NYSIIS code (jellyfish).")
    keep_confident: float = Field(0.9, ge=0, le=1, description="Conditioned pass: a base word heard with at least this probability (0-1) is replaced by a bible term only if it sounds like it (same Metaphone/NYSIIS code).")
    lexical_ngram: int = Field(3, ge=1, le=5, description="Lexical pass: longest n-gram (words) compared with bible terms.")
    vlm: str = Field("qwen2.5-vl-7b-instruct", description="Model of the multimodal pass: a key of nix/models.toml (resolved by Nix; e.g. 'tiny-qwen2.5-vl' for tests). A Qwen2.5-Omni or Qwen3-Omni model (e.g. 'qwen2.5-omni-7b', 'tiny-qwen2.5-omni-thinker') also hears each segment's audio; Qwen2.5-VL / Qwen3-VL see its frames only.")
    model: bool = Field(True, description="Run the multimodal pass (VLM with the segment's frames, the reference shots and the bible: corrections + speaker attribution).")
    model_frames: int = Field(4, ge=1, le=16, description="Multimodal pass: frames per segment, evenly spaced over its time span (sent as one video).")
    model_max_pixels: int = Field(128 * 28 * 28, ge=4 * 28 * 28, description="Multimodal pass: pixel budget per image / frame (one token per 28x28 pixels).")
    model_batch_size: int = Field(4, ge=1, description="Multimodal pass: segments per generate call.")
    model_max_new_tokens: int = Field(192, ge=8, description="Multimodal pass: token budget of one answer.")
    model_min_confidence: float = Field(0.5, ge=0, le=1, description="Multimodal pass: answers with a lower confidence (0-1) change no text and attribute no speaker (recorded, not applied).")
    model_constrained: bool = Field(True, description="Multimodal pass: constrain decoding to the JSON schema of the answer (xgrammar logits processor; speaker one of the bible's names or 'unknown'), so every answer is schema-valid JSON. Off (or when xgrammar cannot handle the model): free decoding and tolerant parsing.")
    model_max_text_chars: int = Field(600, ge=20, le=4000, description="Multimodal pass: most characters of the corrected segment text in an answer (the bound of that string in the grammar; a faster-whisper segment of up to 30 s is rarely over 500).")


class AuditEntry(Strict):
    """One change (or one considered change) of the disambiguation passes."""

    segment: int = Field(description="Segment id the change belongs to.")
    pass_: Literal["conditioned", "lexical", "model"] = Field(alias="pass", description="Pass that proposed it: 'conditioned' (bible-conditioned re-decoding), 'lexical' (phonetic + fuzzy match), 'model' (multimodal VLM).")
    action: Literal["applied", "alternative", "rejected", "fallback"] = Field(description="'applied': the text changed; 'alternative': kept aside, not applied; 'rejected': a model proposal that failed a check; 'fallback': the pass's output was unusable and the earlier text was kept.")
    before: str = Field(description="Words before the change ('' for an insertion).")
    after: str = Field(description="Words after the change ('' for a deletion).")
    start: float | None = Field(None, description="Start of the changed words, seconds (null when not tied to words).")
    end: float | None = Field(None, description="End of the changed words, seconds.")
    reason: str = Field(description="Why (which bible term, which score, or why the output was unusable).")
    term: str | None = Field(None, description="The bible term (canonical) involved, if any.")
    probabilities_before: list[float] = Field(default_factory=list, description="ASR probabilities (0-1) of the words before the change.")
    probabilities_after: list[float] = Field(default_factory=list, description="ASR probabilities (0-1) of the words after the change (conditioned pass).")
    confidence: float = Field(ge=0, le=1, description="Confidence of the change, 0-1 (conditioned: mean word probability of the new words; lexical: match score / 100; model: the model's own).")

    # JSON key is "pass" (a Python keyword): read and written by alias
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True, serialize_by_alias=True)


class CorrectedWord(Strict):
    """A word of the corrected transcript (times in seconds, probability 0-1)."""

    word: str = Field(description="The word as it should be written.")
    start: float = Field(description="Start, seconds.")
    end: float = Field(description="End, seconds.")
    probability: float = Field(ge=0, le=1, description="ASR probability of the word (for replaced words: of the pass that supplied it).")
    source: Literal["base", "conditioned", "lexical", "model"] = Field(description="Which pass supplied the word ('base': unchanged).")


class SpeakerAttribution(Strict):
    """Who speaks a segment, according to the multimodal pass."""

    speaker: str = Field(description="Canonical character name, or 'unknown'.")
    confidence: float = Field(ge=0, le=1, description="Confidence 0-1 (0 when unknown or the model's output was unusable).")
    source: Literal["model", "none"] = Field(description="'model': the VLM said so; 'none': no usable attribution.")


class CorrectedSegment(Strict):
    """One segment: the base transcript's text and the corrected text, with word timing."""

    id: int = Field(description="Segment id (that of step2-transcript-base).")
    start: float = Field(description="Start, seconds.")
    end: float = Field(description="End, seconds.")
    original: str = Field(description="Text of step2-transcript-base.")
    text: str = Field(description="Corrected text.")
    words: list[CorrectedWord] = Field(description="Corrected words with timing.")
    original_words: list[Word] = Field(description="Words of step2-transcript-base.")
    speaker: SpeakerAttribution = Field(description="Speaker attribution (multimodal pass).")
    flags: list[SegmentFlag] = Field(default_factory=list, description="Hallucination guard findings of step2-transcript-base; a flagged segment is not dialogue (step2-scene-context drops it).")


SPEAKER_MAX_CHARS = 64
TEXT_MAX_CHARS = 4000  # what validation accepts; the grammar bounds it by [disambiguate] model_max_text_chars


class ModelSegmentAnswer(BaseModel):
    """What the multimodal pass asks the VLM for, per segment (stated as JSON schema in the
    prompt and, with constrained decoding, the grammar; the answer is validated against this
    model, extra keys ignored, surrounding whitespace stripped)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    speaker: str = Field(max_length=SPEAKER_MAX_CHARS, description="Canonical name of the character speaking (from the bible), or 'unknown'.")
    confidence: float = Field(ge=0, le=1, description="Confidence 0-1 in the speaker and the text.")
    text: str = Field(max_length=TEXT_MAX_CHARS, description="The segment's transcript with names, places and terms spelled as in the bible; otherwise unchanged.")


def segment_answer_schema(names: list[str], max_text_chars: int) -> dict:
    """The JSON schema constrained decoding uses for one run: :class:`ModelSegmentAnswer`'s,
    with the speaker one of ``names`` (the bible's canonical names) or 'unknown' and the text at
    most ``max_text_chars`` characters — every string bounded, as a grammar needs to end
    (reelset.vlm)."""
    schema = ModelSegmentAnswer.model_json_schema()
    props = schema["properties"]
    props["speaker"] = {**props["speaker"], "enum": [*names, "unknown"]}
    props["speaker"].pop("maxLength", None)
    props["text"]["maxLength"] = max_text_chars
    return schema


class PassSummary(Strict):
    """What one pass did."""

    name: Literal["conditioned", "lexical", "model"] = Field(description="Pass name.")
    ran: bool = Field(description="False when disabled in [disambiguate] (or no model configured).")
    applied: int = Field(ge=0, description="Changes applied.")
    alternatives: int = Field(ge=0, description="Differences kept as alternatives (not applied).")
    fallbacks: int = Field(ge=0, description="Outputs that were unusable (earlier text kept).")
    detail: str = Field("", description="Settings or reason the pass did not run.")


class DisambiguatedTranscript(Strict):
    """``$out/corrected_transcript.json`` of step2-transcript-disambiguate (one source video).

    Named apart from step2-transcript-base's ``transcript.json`` because ARTIFACTS maps a
    file name to exactly one schema."""

    FILE: ClassVar[str] = "corrected_transcript.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(description="Video id.")
    bible_sha256: str = Field(description="sha256 of the bible.yaml the corrections used.")
    hotwords: str = Field(description="The hotwords string given to faster-whisper (conditioned pass).")
    initial_prompt: str = Field(description="The initial_prompt given to faster-whisper (conditioned pass).")
    conditioned_text: list[str] = Field(description="Raw segment texts of the conditioned re-decoding (for inspection).")
    passes: list[PassSummary] = Field(description="One summary per pass, in order.")
    segments: list[CorrectedSegment] = Field(description="Segments with original and corrected text.")
    speech_without_words: list[tuple[float, float]] = Field(default_factory=list, description="VAD speech [start, end] seconds with no words and no flagged segment, from step2-transcript-base (kept so that step2-scene-context and review QA see it).")
    audit: list[AuditEntry] = Field(description="Every change and every kept alternative, in order.")

