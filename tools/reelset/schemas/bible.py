"""step2-bible: the authored ``bible.yaml`` (``Bible``), ``[bible]`` of dataset.toml and ``bible.json`` (writer: tools/step2_bible.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from reelset.schemas.base import SCHEMA_VERSION, VIDEO_ID_PATTERN, FanOutItem, Strict


class BibleConfig(Strict):
    """``[bible]`` of dataset.toml (read by Nix, nix/pipeline.nix: the file becomes spec.files.bible)."""

    file: str = Field("bible.yaml", description="The series bible, relative to the dataset folder.")


class ReferenceShot(Strict):
    """A frame of a source video that shows a character or place (``pipelines/<name>/bible.yaml``)."""

    video: str = Field(pattern=VIDEO_ID_PATTERN, description="Video id from dataset.toml [[videos]] (e.g. 'demo01').")
    t: float = Field(ge=0, description="Timestamp of the frame in seconds from the start of the video (must lie inside the video).")
    note: str = Field("", description="Free text: what the shot shows (e.g. 'close-up, left of frame').")


class VoiceReference(Strict):
    """A stretch of a source video in which only this character speaks (``bible.yaml``
    ``characters[i].voice_references``): step2-speakers embeds it and names the voices it hears
    after the closest reference (reelset.voice, tools/step2_voice_reference.py)."""

    video: str = Field(pattern=VIDEO_ID_PATTERN, description="Video id from dataset.toml [[videos]] (e.g. 'demo01').")
    start: float = Field(ge=0, description="Start of the span in seconds from the start of the video.")
    end: float = Field(gt=0, description="End of the span in seconds (after `start`, inside the video); at least 1 s of clean speech of this character alone is best.")
    note: str = Field("", description="Free text: what is said (e.g. 'first line, calm').")

    @model_validator(mode="after")
    def _ordered(self) -> VoiceReference:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class Character(Strict):
    """A character of the series: its canonical spelling, other names, look and voice."""

    name: str = Field(min_length=1, description="Canonical name as captions must spell it (e.g. 'Malory').")
    aliases: list[str] = Field(default_factory=list, description="Other correct names for the same character (nicknames, surname, 'Mrs. Archer').")
    description: str = Field("", description="Short visual description for the captioner and the VLM (clothes, hair, build).")
    voice: str = Field("", description="Voice notes (e.g. 'low male voice, US accent'); given to the multimodal pass for speaker attribution.")
    mishearings: list[str] = Field(default_factory=list, description="Wrong spellings/phrases ASR produced for this name in practice (e.g. 'Mallory'); replaced by the lexical pass.")
    reference_shots: list[ReferenceShot] = Field(default_factory=list, description="Frames that show the character (video id + timestamp in seconds).")
    voice_references: list[VoiceReference] = Field(default_factory=list, description="Spans of source videos where the character speaks alone (video id + start/end in seconds); step2-speakers names voices after them. A character without any is never named as a speaker.")


class Place(Strict):
    """A place of the series (city, set, location)."""

    name: str = Field(min_length=1, description="Canonical name of the place (e.g. 'Moscow').")
    aliases: list[str] = Field(default_factory=list, description="Other correct names of the place.")
    description: str = Field("", description="Short visual description of the place.")
    mishearings: list[str] = Field(default_factory=list, description="Wrong spellings ASR produced for this place in practice.")
    reference_shots: list[ReferenceShot] = Field(default_factory=list, description="Frames that show the place (video id + timestamp in seconds).")


class GlossaryTerm(Strict):
    """A series-specific word (organisation, object, jargon) that ASR should spell this way."""

    term: str = Field(min_length=1, description="Correct spelling of the term (e.g. 'ISIS').")
    mishearings: list[str] = Field(default_factory=list, description="Wrong spellings/phrases ASR produced for the term in practice.")
    note: str = Field("", description="What the term means (given to the captioner and the VLM).")


class Bible(Strict):
    """``pipelines/<name>/bible.yaml``: the series bible (authored by hand, validated by step2-bible)."""

    series: str = Field("", description="Series title (free text, used in prompts).")
    trigger_word: str = Field(min_length=1, pattern=r"^\S+$", description="LoRA trigger word prefixed to captions (one token, no spaces, e.g. 'rsdemo').")
    characters: list[Character] = Field(min_length=1, description="The characters; names and aliases are unique across characters and places (case-insensitive).")
    places: list[Place] = Field(default_factory=list, description="Known places.")
    glossary: list[GlossaryTerm] = Field(default_factory=list, description="Other terms ASR must spell correctly.")
    caption_style: list[str] = Field(default_factory=list, description="Caption style rules for the captioner (free text, one rule per entry).")


class BibleTerm(Strict):
    """One spelling the disambiguation passes know: a name/alias (correct) or a listed mis-hearing."""

    text: str = Field(description="The spelling as written in the bible (a correct term, or a mis-hearing).")
    canonical: str = Field(description="What ``text`` stands for: the character/place name or glossary term (for aliases: the alias itself is correct, canonical names its owner).")
    kind: Literal["character", "place", "glossary"] = Field(description="What the term names.")
    role: Literal["name", "alias", "mishearing"] = Field(description="'name'/'alias': a correct spelling; 'mishearing': a wrong one, to be replaced by ``canonical``.")


class BibleArtifact(Strict):
    """``$out/bible.json`` of step2-bible: the validated, normalized bible plus a flat term list."""

    FILE: ClassVar[str] = "bible.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    source: str = Field(description="File name of the authored bible (e.g. 'bible.yaml').")
    source_sha256: str = Field(description="sha256 (hex) of the authored file's bytes.")
    bible: Bible = Field(description="The bible, normalized (whitespace collapsed, duplicate aliases/mis-hearings dropped).")
    terms: list[BibleTerm] = Field(description="Every spelling of every character, place and glossary term (correct ones first), for matching.")
    fan_out: dict[str, list[FanOutItem]] = Field(default_factory=dict, description="The derivations other steps fan out over, by list name: 'shots' (one per distinct reference shot: step2-shot-reference's frames) and 'voices' (one per voice reference: step2-speakers' embeddings); read by nix/pipeline.nix at evaluation time (reelset.bible.fan_out).")

