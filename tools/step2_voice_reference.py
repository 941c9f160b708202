"""step2-speakers (one voice reference): the speaker embedding of one span of the bible's voice references.

One derivation per voice reference (character, video id, start/end seconds) of the bible, like
the reference shots (tools/step2_reference_frame.py): its inputs are that video, that span and
the speaker encoder only, so editing any other bible text, or another character's references,
embeds nothing again (nix/pipeline.nix reads the references from step2-bible's bible.json at
evaluation time). Every video's step2-speakers shard reads every reference: a voice is named
after a character across the whole dataset.

Input (spec): ``video_id``, ``video``, ``models.speakers`` (a GE2E or WavLM x-vector folder,
reelset.voice) and ``config.voice``: ``character``, ``start``, ``end`` (seconds) and ``where``
(the bible field, e.g. 'bible.yaml: characters[1].voice_references[0]'). Device: as the
step2-speakers step (cuda when there is one; ``[device] allow_cpu``).

Errors (exit status 2) name the bible field:
``bible.yaml: characters[1].voice_references[0]: 30.0-32.0 s ends after the audio of video demo01 (24.000 s)``;
a span with no sound at all (digital silence) is refused the same way.

Output (``$out``): ``voice.json`` (:class:`reelset.schemas.speakers.VoiceReferenceArtifact`: the
unit-norm embedding of the span), ``meta.json``.

Run by hand: ``python tools/step2_voice_reference.py --spec spec.json --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reelset import ReelsetError, media, voice
from reelset.schemas.speakers import VoiceReferenceArtifact
from reelset.step import Context, StepResult, main, write_json

STEP = "step2-speakers"


def run(ctx: Context) -> StepResult:
    spec, out, timer, policy = ctx.spec, ctx.out, ctx.timer, ctx.policy
    ref = spec.config.get("voice") or {}
    if not spec.video or not spec.video_id or not all(isinstance(ref.get(k), (int, float)) for k in ("start", "end")):
        raise ReelsetError(f"{STEP}: a voice-reference spec needs video_id, video and config.voice.start/end (seconds)")
    model = spec.models.get("speakers")
    if model is None:
        raise ReelsetError(f"{STEP}: spec has no models.speakers")
    start, end = float(ref["start"]), float(ref["end"])
    where = ref.get("where", f"voice reference {spec.video_id} {start}-{end} s")
    src = Path(spec.video)
    with timer.phase("decode_audio"):
        if not media.has_audio(src):
            raise ReelsetError(f"{where}: video {spec.video_id} has no audio stream")
        pcm = media.decode_audio_16k(src, audio=spec.video_options.get("audio"), where=spec.video_entry())
    duration = len(pcm) / voice.SAMPLE_RATE
    if end > duration + 0.05:
        raise ReelsetError(f"{where}: {start}-{end} s ends after the audio of video {spec.video_id} ({duration:.3f} s)")
    span = pcm[int(start * voice.SAMPLE_RATE):int(end * voice.SAMPLE_RATE)]
    if not np.any(span):
        raise ReelsetError(f"{where}: {start}-{end} s of video {spec.video_id} is silent; choose a span where "
                           f"{ref.get('character', 'the character')} speaks")
    with timer.phase("load_model"):
        encoder = voice.load_encoder(Path(model.path), policy)
    with timer.phase("embed"):
        vec, _ = encoder.embed(span)
    write_json(out / "voice.json", VoiceReferenceArtifact(
        character=str(ref.get("character", "")), video_id=spec.video_id, start=start, end=end, where=where,
        model=model, embedding=[round(float(x), 6) for x in vec]))
    return StepResult(device=encoder.device, models=[model], counts={"ms": round(1000 * (end - start)), "dim": encoder.dim},
                      versions={"ffmpeg": media.program_version("ffmpeg")})


if __name__ == "__main__":
    raise SystemExit(main(STEP, run, Path(__file__)))
