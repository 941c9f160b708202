"""``aggregate.json`` of the aggregate derivations (writer: tools/aggregate.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from reelset.schemas.base import SCHEMA_VERSION, Strict


class AggregateMember(Strict):
    """One linked output of an aggregate: a shard (video id) or a step."""

    name: str = Field(description="Video id (shards) or step name (steps).")
    link: str = Field(description="Relative path of the symlink to the member's store path.")
    path: str = Field(description="Store path of the member.")
    counts: dict[str, int] = Field(default_factory=dict, description="The member's meta.json counts.")


class AggregateArtifact(Strict):
    """``$out/aggregate.json``: a video-level step over the whole dataset (kind 'shards') or
    a dataset's step outputs (kind 'steps', e.g. ``.#host.demo``)."""

    FILE: ClassVar[str] = "aggregate.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    kind: Literal["shards", "steps"]
    step: str = Field(description="Aggregated step name, or 'pipeline' for kind 'steps'.")
    dataset: str
    members: list[AggregateMember]

