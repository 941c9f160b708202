"""step2-scene-context: per-clip context for the captioner (who, where, what is said).

Input (spec): ``inputs``: ``step1-scenes`` (scenes.json: clip ids and times),
``step2-transcript-disambiguate`` (corrected_transcript.json), ``step2-bible`` (bible.json).

For each clip ``[start_s, end_s)`` (seconds):
- ``lines``: the corrected words whose midpoint lies inside the clip, grouped per
  transcript segment, with the segment's attributed speaker; a segment flagged by a
  hallucination guard of step2-transcript-base (loop, phantom phrase, …) is never a line:
  its words go to ``dropped_lines`` with the guards' names, and nothing below sees them;
- ``characters``: attributed speakers (multimodal pass, not 'unknown') + characters whose
  name or alias is said in the clip's lines + characters with a reference shot inside the
  clip, in bible order, each with its evidence;
- ``place``: a bible place named in the lines or shown by a reference shot in the clip;
- ``context``: a one-line summary for the captioner, e.g. ``Characters: Cyril (named in
  dialogue). Dialogue: [unknown] "I am Cyril, Malory wants the report…"``.

Output (``$out``): ``context.json`` (:class:`reelset.schemas.context.SceneContextArtifact`),
``meta.json``.

Run by hand: ``python tools/step2_scene_context.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

from reelset import ReelsetError
from reelset.disambiguate import find_terms, make_terms, norm
from reelset.schemas.base import StepMeta, StepSpec
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.context import ClipContext, ContextLine, DroppedLine, SceneContextArtifact
from reelset.schemas.disambiguate import DisambiguatedTranscript
from reelset.schemas.scenes import ScenesArtifact
from reelset.step import StepResult, Timer, main, read_artifact, write_json

STEP = "step2-scene-context"
MAX_CONTEXT_CHARS = 400

def clip_context(clip_id: str, start: float, end: float, transcript: DisambiguatedTranscript,
                 bible: BibleArtifact, video_id: str) -> ClipContext:
    """Context of one clip ``[start, end)`` seconds (see the module docstring for the rules)."""
    lines: list[ContextLine] = []
    dropped: list[DroppedLine] = []
    for seg in transcript.segments:
        inside = [w for w in seg.words if start <= (w.start + w.end) / 2 < end]
        if inside and seg.flags:
            dropped.append(DroppedLine(start=inside[0].start, end=inside[-1].end, text=" ".join(w.word for w in inside),
                                       checks=list(dict.fromkeys(f.check for f in seg.flags))))
        elif inside:
            lines.append(ContextLine(start=inside[0].start, end=inside[-1].end, speaker=seg.speaker.speaker,
                                     text=" ".join(w.word for w in inside)))
    terms = [t for t in make_terms(bible.terms) if t.role != "mishearing"]
    evidence: dict[str, list[str]] = {}
    places: list[str] = []
    for line in lines:
        if line.speaker != "unknown":
            evidence.setdefault(line.speaker, []).append("speaker")
        for _, _, term in find_terms([norm(w) for w in line.text.split()], terms):
            if term.kind == "character":
                evidence.setdefault(term.canonical, []).append("named in dialogue")
            elif term.kind == "place" and term.canonical not in places:
                places.append(term.canonical)
    b = bible.bible
    for kind, group in (("character", b.characters), ("place", b.places)):
        for entry in group:
            if any(s.video == video_id and start <= s.t < end for s in entry.reference_shots):
                if kind == "character":
                    evidence.setdefault(entry.name, []).append("reference shot")
                elif entry.name not in places:
                    places.insert(0, entry.name)
    order = [c.name for c in b.characters]
    characters = sorted(evidence, key=lambda n: order.index(n) if n in order else len(order))
    evidence = {n: sorted(set(evidence[n]), key=evidence[n].index) for n in characters}
    parts = []
    if characters:
        parts.append("Characters: " + ", ".join(f"{n} ({', '.join(evidence[n])})" for n in characters) + ".")
    if places:
        parts.append(f"Place: {places[0]}.")
    if lines:
        parts.append("Dialogue: " + " ".join(f'[{ln.speaker}] "{ln.text}"' for ln in lines))
    context = " ".join(parts) or "No dialogue and no known character or place."
    if len(context) > MAX_CONTEXT_CHARS:
        context = context[:MAX_CONTEXT_CHARS - 1].rstrip() + "…"
    unheard = sum(max(0.0, min(b, end) - max(a, start)) for a, b in transcript.speech_without_words)
    return ClipContext(clip_id=clip_id, start_s=start, end_s=end, characters=characters, character_evidence=evidence,
                       place=places[0] if places else None, lines=lines, dropped_lines=dropped,
                       unheard_speech_s=round(unheard, 3), context=context)


def run(spec: StepSpec, out: Path, timer: Timer) -> StepResult:
    for needed in ("step1-scenes", "step2-transcript-disambiguate", "step2-bible"):
        if needed not in spec.inputs:
            raise ReelsetError(f"{STEP}: spec has no inputs.{needed}")
    scenes = read_artifact(Path(spec.inputs["step1-scenes"]) / "scenes.json", ScenesArtifact)
    transcript = read_artifact(Path(spec.inputs["step2-transcript-disambiguate"]) / "corrected_transcript.json",
                               DisambiguatedTranscript)
    bible = read_artifact(Path(spec.inputs["step2-bible"]) / "bible.json", BibleArtifact)
    with timer.phase("context"):
        clips = [clip_context(s.clip_id, s.start_s, s.end_s, transcript, bible, scenes.video_id) for s in scenes.scenes]
    artifact = SceneContextArtifact(video_id=scenes.video_id, trigger_word=bible.bible.trigger_word, clips=clips)
    write_json(out / "context.json", artifact)
    meta = StepMeta(step=STEP, dataset=spec.dataset, shard=scenes.video_id, tool_sha256="", device="cpu",
                    counts={"clips": len(clips), "clips_with_dialogue": sum(bool(c.lines) for c in clips),
                            "clips_with_dropped_dialogue": sum(bool(c.dropped_lines) for c in clips),
                            "clips_with_characters": sum(bool(c.characters) for c in clips)})
    return StepResult(meta=meta)


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
