"""The second look of the ASR at windows that fail the guards (:func:`redecode_failed`: shorter
pieces decoded in batches, then the sequential decoder with temperature fallback) and the repair
of a repetition loop that survives it (:func:`repair_loops`). A decoding replaces a window only
when :func:`reelset.asr.guards.better`.
"""

from __future__ import annotations

import numpy as np
from faster_whisper import WhisperModel

from reelset.asr.guards import bare_regions, better, coverage, failure_kind, loop_words, window_failed
from reelset.asr.whisper import DEFAULT_BATCH, decode_clips, decode_sequential
from reelset.asr.windows import SUB_WINDOW_S, Window, merge_windows, sub_windows
from reelset.hallucination import normalize, repetition_spans
from reelset.log import log
from reelset.schemas.transcript import AsrConfig, GuardConfig


def redecode_failed(model: WhisperModel, audio: np.ndarray, windows: list[Window], cfg: AsrConfig,
                    hotwords: str | None, initial_prompt: str | None, batch_size: int | None = None) -> int:
    """A second look at every window that :func:`window_failed`, in place, at a cost bounded
    by the first pass:

    1. all failing windows' speech, cut into pieces of <= :data:`SUB_WINDOW_S` s
       (:func:`sub_windows`), decoded together by the batched pipeline (temperature 0);
    2. only a window whose words still cover too little of its speech (``[asr.guards]
       min_coverage``), or leave one of its regions bare (:func:`bare_regions`), is decoded a
       third time by the sequential decoder with Whisper's temperature fallback (seeded), over
       its speech regions only;
    3. a window that still holds a repetition loop is decoded again from the loop's start in
       pieces of <= :data:`LOOP_PIECE_S` s, the words before and after the loop kept
       (:func:`repair_loops`; all such windows' pieces batched together).
    A decoding replaces the window only when it is :func:`better` (covers at least as much speech
    with words and scores better; never an empty or shorter one). A window that stays bad is
    kept and its problems are flagged (sentence_segments). Measured on the 11-minute test
    dialogue: one 27 s window of the batched pass decoded as ".0 .0 .0 …" comes back with every
    sentence. Returns the number of windows looked at again."""
    g = cfg.guards
    failing = [(i, why) for i, win in enumerate(windows) if win.spans and (why := window_failed(win, g))]
    if not failing:
        return 0
    plan = {i: sub_windows(audio, windows[i].spans) for i, _ in failing}
    clips = [c for i, _ in failing for c in plan[i]]
    log(f"second look at {len(failing)} of {len(windows)} windows: {len(clips)} pieces of <= {SUB_WINDOW_S:.0f} s "
        f"decoded in batches ({', '.join(sorted({failure_kind(why) for _, why in failing}))})")
    decoded = iter(decode_clips(model, audio, clips, cfg, batch_size or DEFAULT_BATCH["cpu"], hotwords, initial_prompt))
    for i, why in failing:
        old = windows[i]
        new = merge_windows([next(decoded) for _ in plan[i]], old.spans, why)
        speech = sum(e - s for s, e in old.spans)
        chosen = new if better(new, old, g) else old
        bare = bare_regions(chosen, g)
        if coverage(chosen, g) < g.min_coverage * speech or bare:
            log(f"  window {old.spans[0][0]:.1f}-{old.spans[-1][1]:.1f} s: words cover {coverage(chosen, g):.1f} of "
                f"{speech:.1f} s of speech{f', none {bare[0][0]:.1f}-{bare[0][1]:.1f} s' if bare else ''}; "
                "decoding it again with temperature fallback")
            segs, offset = decode_sequential(model, audio, [t for span in old.spans for t in span], cfg, hotwords, initial_prompt)
            third = merge_windows([Window(text=s.text.strip(), avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob,
                                          words=[(w.word.strip(), round(w.start + offset, 3), round(w.end + offset, 3),
                                                  min(1.0, max(0.0, w.probability)))
                                                 for w in (s.words or []) if normalize(w.word)]) for s in segs],
                                  old.spans, why)
            if better(third, chosen, g):
                chosen = third
        if chosen is not old:
            windows[i] = chosen
            log(f"  {old.spans[0][0]:.1f}-{old.spans[-1][1]:.1f} s ({why}) now: {chosen.text[:100]!r}")
        else:
            windows[i].redecoded = None
            log(f"  {old.spans[0][0]:.1f}-{old.spans[-1][1]:.1f} s ({why}): no decoding was better; the first is kept")
    repair_loops(model, audio, windows, [i for i, _ in failing], cfg, batch_size or DEFAULT_BATCH["cpu"], hotwords,
                 initial_prompt)
    return len(failing)


LOOP_PIECE_S = 5.0  # a loop the second look left is decoded again in pieces of at most this much speech


def redecode_plan(audio: np.ndarray, win: Window, guards: GuardConfig,
                  max_s: float) -> tuple[int, int, list[tuple[float, float]]]:
    """What of ``win`` to decode again to repair its first repetition loop: (k0, k1, pieces), with
    ``win.words[:k0]`` and ``win.words[k1:]`` kept and ``pieces`` ([start, end] s, each at most
    ``max_s`` seconds of speech, :func:`sub_windows`) the window's speech in between: from the end
    of the last word before the loop to the start of the first word after it (the window's end when
    the loop runs to it, as it mostly does: the decoder stays stuck), so the words heard before it
    are kept and only the looped speech costs decodings (issue 37). The loop's own timestamps are
    not used: a loop's words bunch up or stretch over speech it never heard. A window without a
    loop: (0, len(words), all its speech).

    Not used for the second look itself: on a list read without pauses (tiny.en, en-us+m4, issue 37)
    keeping the first pass's words before a loop and decoding the rest lost 4 of 33 sentences that
    decoding the whole window in 10 s pieces heard (the words before a loop are often half-wrong)."""
    loops = repetition_spans([normalize(w[0]) for w in win.words], guards)
    if not loops or not win.spans:
        return 0, len(win.words), sub_windows(audio, win.spans, max_s=max_s)
    k0, k1 = loops[0][0], loops[0][1]
    if k0 == 0 and k1 == len(win.words):
        return 0, k1, sub_windows(audio, win.spans, max_s=max_s)
    t0 = win.words[k0 - 1][2] if k0 else win.spans[0][0]
    t1 = win.words[k1][1] if k1 < len(win.words) else win.spans[-1][1]
    speech = [(max(a, t0), min(b, t1)) for a, b in win.spans if min(b, t1) - max(a, t0) > 0.1]
    return k0, k1, sub_windows(audio, speech, max_s=max_s)


def splice(win: Window, k0: int, k1: int, clips: list[tuple[float, float]], pieces: list[Window], why: str) -> Window:
    """``win`` with its words ``[k0:k1]`` replaced by the words of ``pieces`` (the decodings of
    ``clips``, :func:`redecode_plan`): words in time order, scores weighted by word count (the kept
    words carry ``win``'s), marked as decoded again for ``why``."""
    kept = win.words[:k0] + win.words[k1:]
    if not kept:
        return merge_windows(pieces, win.spans, why)
    new = merge_windows([Window(text="", avg_logprob=win.avg_logprob, no_speech_prob=win.no_speech_prob, words=kept),
                         *pieces], win.spans, why)
    new.text = " ".join(w[0] for w in new.words)
    return new


def repair_loops(model: WhisperModel, audio: np.ndarray, windows: list[Window], which: list[int], cfg: AsrConfig,
                 batch_size: int, hotwords: str | None, initial_prompt: str | None) -> int:
    """Repair, in place, the repetition loops the second look of :func:`redecode_failed` left in
    ``windows[i]`` (``i`` in ``which``): each window's loop speech, from the end of the last word
    before the loop, is decoded again in shorter pieces (:func:`redecode_plan`, <=
    :data:`LOOP_PIECE_S` s of speech each; all windows' pieces in one batched pass), and the pieces'
    words replace the loop's when the window then scores :func:`better` (fewer loop words, as much
    speech covered); the words before and after the loop stay. A loop that stays is flagged
    (sentence_segments). Returns the number of windows repaired."""
    g = cfg.guards
    plans = {i: redecode_plan(audio, windows[i], g, LOOP_PIECE_S) for i in which if loop_words(windows[i], g)}
    plans = {i: plan for i, plan in plans.items() if plan[2]}
    if not plans:
        return 0
    clips = [c for plan in plans.values() for c in plan[2]]
    log(f"loops left in {len(plans)} windows: each loop's speech decoded again in {len(clips)} pieces of "
        f"<= {LOOP_PIECE_S:.0f} s")
    decoded = iter(decode_clips(model, audio, clips, cfg, batch_size, hotwords, initial_prompt))
    repaired = 0
    for i, plan in plans.items():
        win = windows[i]
        new = splice(win, *plan, [next(decoded) for _ in plan[2]], win.redecoded or "repetition loop")
        where = f"{win.spans[0][0]:.1f}-{win.spans[-1][1]:.1f} s"
        if better(new, win, g):
            windows[i] = new
            repaired += 1
            log(f"  {where}: loop repaired from {plan[2][0][0]:.1f} s: {new.text[:100]!r}")
        else:
            log(f"  {where}: the loop's pieces were no better; the loop stays (flagged)")
    return repaired
