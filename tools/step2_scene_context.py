"""step2-scene-context: per-clip context for the captioner (who, where, what is said).

Input (spec): ``inputs``: ``step1-scenes`` (scenes.json: clip ids and times),
``step2-transcript-disambiguate`` (corrected_transcript.json), ``step2-bible`` (bible.json),
``step2-speakers`` (speakers.json: who speaks each segment, by voice).

For each clip ``[start_s, end_s)`` (seconds):
- ``lines``: the corrected words whose midpoint lies inside the clip, grouped per
  transcript segment (per run of one voice when step2-speakers cut a segment of two voices),
  with the speaker: the voice's (step2-speakers) when the bible has voice references — a voice
  they do not match stays 'unknown', whatever the multimodal pass guessed — else the
  multimodal pass's (step2-transcript-disambiguate); a segment flagged by a
  hallucination guard of step2-transcript-base (loop, phantom phrase, …) is never a line:
  its words go to ``dropped_lines`` with the guards' names, and nothing below sees them;
- ``speakers``: who speaks in the clip, in order;
- ``characters``: attributed speakers (not 'unknown') + characters whose
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

from reelset.declare import Step
from reelset.disambiguate import find_terms, make_terms, norm
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.context import ClipContext, ContextLine, DroppedLine, SceneContextArtifact
from reelset.schemas.disambiguate import DisambiguatedTranscript
from reelset.schemas.scenes import ScenesArtifact
from reelset.schemas.speakers import SpeakersArtifact
from reelset.step import Context, StepResult, main, write_json

STEP = Step(name="step2-scene-context", device="cpu", level="video", script="step2_scene_context.py",
            inputs={"step1-scenes": ScenesArtifact, "step2-transcript-disambiguate": DisambiguatedTranscript,
                    "step2-bible": BibleArtifact, "step2-speakers": SpeakersArtifact})
MAX_CONTEXT_CHARS = 400

def voice_parts(speakers: SpeakersArtifact | None) -> dict[int, list]:
    """Transcript segment id → its step2-speakers entries (one, or one per run of one voice), or {}
    when the bible has no voice references (then the multimodal pass names the speakers)."""
    if speakers is None or not speakers.references:
        return {}
    parts: dict[int, list] = {}
    for s in speakers.segments:
        parts.setdefault(s.id, []).append(s)
    return parts


def line_speaker(seg, part) -> tuple[str, str, float | None]:
    """(speaker, source, confidence) of a line: by voice when ``part`` (a step2-speakers entry) is
    given, else the multimodal pass's attribution of the segment."""
    if part is None:
        return seg.speaker.speaker, "multimodal", seg.speaker.confidence
    if part.speaker is not None:
        return part.speaker, "voice", part.confidence
    return "unknown", "voice-unknown", None


def clip_context(clip_id: str, start: float, end: float, transcript: DisambiguatedTranscript,
                 bible: BibleArtifact, video_id: str, voices: dict[int, list] | None = None) -> ClipContext:
    """Context of one clip ``[start, end)`` seconds (see the module docstring for the rules);
    ``voices``: :func:`voice_parts` of the video's speakers.json."""
    voices = voices or {}
    lines: list[ContextLine] = []
    dropped: list[DroppedLine] = []
    for seg in transcript.segments:
        inside = [w for w in seg.words if start <= (w.start + w.end) / 2 < end]
        if inside and seg.flags:
            dropped.append(DroppedLine(start=inside[0].start, end=inside[-1].end, text=" ".join(w.word for w in inside),
                                       checks=list(dict.fromkeys(f.check for f in seg.flags))))
        elif inside:
            parts = voices.get(seg.id)
            groups: list[tuple[object, list]] = []
            for w in inside:  # words by the voice run their midpoint falls in (the nearest run otherwise)
                mid = (w.start + w.end) / 2
                part = min(parts, key=lambda p: 0 if p.start <= mid <= p.end else min(abs(p.start - mid), abs(p.end - mid))) if parts else None
                if groups and groups[-1][0] is part:
                    groups[-1][1].append(w)
                else:
                    groups.append((part, [w]))
            for part, words in groups:
                who, source, conf = line_speaker(seg, part)
                lines.append(ContextLine(start=words[0].start, end=words[-1].end, speaker=who, speaker_source=source,
                                         speaker_confidence=conf, text=" ".join(w.word for w in words)))
    terms = [t for t in make_terms(bible.terms) if t.role != "mishearing"]
    evidence: dict[str, list[str]] = {}
    places: list[str] = []
    for line in lines:
        if line.speaker != "unknown":
            evidence.setdefault(line.speaker, []).append("speaker (voice)" if line.speaker_source == "voice" else "speaker")
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
    speakers = list(dict.fromkeys(ln.speaker for ln in lines))
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
    return ClipContext(clip_id=clip_id, start_s=start, end_s=end, characters=characters, speakers=speakers,
                       character_evidence=evidence,
                       place=places[0] if places else None, lines=lines, dropped_lines=dropped,
                       unheard_speech_s=round(unheard, 3), context=context)


def run(ctx: Context) -> StepResult:
    out, timer, inputs = ctx.out, ctx.timer, ctx.inputs
    scenes, transcript, bible = inputs["step1-scenes"], inputs["step2-transcript-disambiguate"], inputs["step2-bible"]
    voices = voice_parts(inputs["step2-speakers"])
    with timer.phase("context"):
        clips = [clip_context(s.clip_id, s.start_s, s.end_s, transcript, bible, scenes.video_id, voices)
                 for s in scenes.scenes]
    artifact = SceneContextArtifact(video_id=scenes.video_id, trigger_word=bible.bible.trigger_word, clips=clips)
    write_json(out / "context.json", artifact)
    return StepResult(counts={"clips": len(clips), "clips_with_dialogue": sum(bool(c.lines) for c in clips),
                              "clips_with_dropped_dialogue": sum(bool(c.dropped_lines) for c in clips),
                              "clips_with_characters": sum(bool(c.characters) for c in clips),
                              "lines_by_voice": sum(ln.speaker_source == "voice" for c in clips for ln in c.lines),
                              "lines_unknown_voice": sum(ln.speaker_source == "voice-unknown" for c in clips for ln in c.lines)})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
