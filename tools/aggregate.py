"""Aggregate outputs: a video-level step over all videos, or all steps of a dataset.

Input (spec): ``step`` (the aggregated step, or "pipeline"), ``dataset``,
``inputs`` = {member name: store path}, ``config.aggregate.order`` (optional: member names in
display order, e.g. pipeline order; default sorted) and ``config.aggregate.kind`` = "shards"
(members are video ids: shards of one step) or "steps" (members are step names).

Output (``$out``): one symlink per member (``shards/<video id>`` or ``<step>``), pointing
at its store path (so the aggregate keeps its members alive and reachable),
``aggregate.json`` (:class:`reelset.schemas.aggregate.AggregateArtifact`), ``meta.json`` (counts
summed over members). No ``index.html``: this aggregate is what dataset-level steps read, so
report code must stay out of its sources; ``tools/aggregate_report.py`` is the same plus the
page users open. Errors: a member
without ``meta.json`` (not a reelset step output) → exit status 2 naming it.

Run by hand: ``python tools/aggregate.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reelset.schemas.aggregate import AggregateArtifact, AggregateMember
from reelset.schemas.base import StepMeta
from reelset.step import Context, StepResult, main, read_artifact, write_json


def run(ctx: Context) -> StepResult:
    spec, out = ctx.spec, ctx.out
    kind = spec.config.get("aggregate", {}).get("kind", "shards")
    members: list[AggregateMember] = []
    total: Counter[str] = Counter()
    if kind == "shards":
        (out / "shards").mkdir()
    # members in the order Nix gives (pipeline order for a dataset's steps), else by name
    order = spec.config.get("aggregate", {}).get("order") or sorted(spec.inputs)
    for name in order:
        path = Path(spec.inputs[name])
        member_meta = read_artifact(path / "meta.json", StepMeta)
        link = f"shards/{name}" if kind == "shards" else name
        (out / link).symlink_to(path)
        members.append(AggregateMember(name=name, link=link, path=str(path), counts=member_meta.counts))
        if kind == "shards":
            total.update(member_meta.counts)
    agg = AggregateArtifact(kind=kind, step=spec.step, dataset=spec.dataset, members=members)
    write_json(out / "aggregate.json", agg)
    counts = dict(total) if kind == "shards" else {"steps": len(members)}
    counts["shards" if kind == "shards" else "members"] = len(members)
    return StepResult(counts=counts)


if __name__ == "__main__":
    raise SystemExit(main(None, run, Path(__file__)))
