"""Artifact file name → schema, for readers that take any step output (``reelset inspect``,
the docs generator, tests). No step imports it: a step imports the one schema it reads."""

from __future__ import annotations

from pydantic import BaseModel

from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.base import StepMeta
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.captions import CaptionsArtifact
from reelset.schemas.context import SceneContextArtifact
from reelset.schemas.disambiguate import DisambiguatedTranscript
from reelset.schemas.latents import LatentIndex
from reelset.schemas.manifest import PackageManifest
from reelset.schemas.references import ExtractedFrame, ShotReferenceArtifact
from reelset.schemas.reviewed import ReviewedArtifact
from reelset.schemas.scenes import ScenesArtifact
from reelset.schemas.speakers import SpeakersArtifact, VoiceReferenceArtifact
from reelset.schemas.stills import StillsArtifact
from reelset.schemas.train import TrainArtifact, TrainSegment
from reelset.schemas.transcript import TranscriptArtifact

ARTIFACTS: dict[str, type[BaseModel]] = {schema.FILE: schema for schema in (
    ScenesArtifact, TranscriptArtifact, SpeakersArtifact, VoiceReferenceArtifact, StepMeta,
    AggregateArtifact, BibleArtifact, ShotReferenceArtifact, ExtractedFrame, DisambiguatedTranscript,
    SceneContextArtifact, CaptionsArtifact, ReviewedArtifact, PackageManifest, LatentIndex, TrainSegment,
    TrainArtifact, StillsArtifact,
)}
