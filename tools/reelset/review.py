"""Review decisions and automatic QA: shared by step2-reviewed and the review server
(``tools/review.py``).

- :func:`load_review` reads ``pipelines/<name>/review.json`` (:class:`ReviewFile`); a malformed
  file fails with the entry and field at fault (``review.json: decisions['demo01-s0002'].action:
  …``).
- :func:`update_review` changes it atomically: an exclusive lock (``review.json.lock``, the
  ``filelock`` library) around read-modify-write, the new content written to a temporary file
  in the same folder and renamed over the old one (``os.replace``), so a reader never sees a
  half-written file and two writers never lose each other's decisions.
- QA checks (thresholds from ``[review]``, :class:`reelset.schemas.review.ReviewConfig`):
  :func:`media_flags` (clip length; black and frozen frames measured by ffmpeg's
  ``blackframe`` + ``signalstats`` / ``freezedetect`` filters,
  https://ffmpeg.org/ffmpeg-filters.html — a frame is black when nearly all its pixels are
  dark *and* it has next to no colour, so a navy-blue title card is not "black") and
  :func:`caption_flags` (empty, too few / too many words, a character named who is not in
  the clip's scene context, trigger word missing) and :func:`dialogue_flags` (transcript
  text of the clip dropped as a likely ASR hallucination).
- :func:`decide` applies one clip's decision by one rule table, :func:`fate` (action x QA
  check → "leaves out" / "overridden" / "not checked"), which the review page shows and
  docs/usage.md prints (:func:`fate_table`). No decision (or a stale one): any flag leaves the
  clip out ("not reviewed; automatic QA: <flag>"). ``reject``: left out with the reviewer's
  reason. ``accept``: kept, every flag overridden but an empty caption; the caption kept is the
  model's, or the reviewer's text when the decision carries one (the page sends what its text
  box shows, so edit-then-accept keeps the edit). ``edit``: kept with the reviewer's caption;
  the clip's own flags (media, dropped dialogue) and the names check (built on the model's
  speaker attribution, not reliable enough to overrule a person) are overridden, the text checks
  (empty, too short, too long) still leave it out — accept overrides those. The trigger-word
  check is never run on a reviewer's text: packaging starts every caption with the trigger word
  exactly once (reelset.package). A decision whose caption_sha256 is not the current caption's
  is stale: reported, never applied.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson
from filelock import FileLock
from pydantic import ValidationError

from reelset import ReelsetError
from reelset.captiontext import caption_sha256, has_word, names_in_text, strip_trigger, word_count
from reelset.media import tool
from reelset.schemas.captions import CaptionClip
from reelset.schemas.review import ClipQA, QAFlag, ReviewConfig, ReviewDecision, ReviewFile
from reelset.schemas.reviewed import RejectedClip


def _loc(loc: tuple) -> str:
    """('decisions', 'demo01-s0002', 'action') → "decisions['demo01-s0002'].action"."""
    out = ""
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] == "decisions":
            out += f"[{part!r}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def json_error(text: str, exc: ValueError, where: str) -> str:
    """'<where>:<line>:<column>: <problem>' for a JSON syntax error (a ``json.JSONDecodeError``,
    which orjson's error is), with the likely fix when the text before the error ends in a comma
    ("trailing comma before '}'": JSON allows none)."""
    pos = getattr(exc, "pos", None)
    line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    msg = getattr(exc, "msg", str(exc))
    hint = ""
    if pos is not None:
        comma = pos if text[pos:pos + 1] == "," else len(text[:pos].rstrip()) - 1  # orjson points at it, json after it
        after = text[comma + 1:].lstrip()[:1]
        if text[comma:comma + 1] == "," and after in ("}", "]"):
            line, col = text.count("\n", 0, comma) + 1, comma - text.rfind("\n", 0, comma)
            msg, hint = f"trailing comma before '{after}'", " (JSON allows none: remove that ',')"
    return f"{where}:{line}:{col}: not valid JSON: {msg}{hint}" if line else f"{where}: not valid JSON: {msg}{hint}"


def parse_review(data: bytes, where: str) -> ReviewFile:
    """Validate review.json bytes; ReelsetError '<where>:<line>:<col>: not valid JSON: …' for a
    syntax error (:func:`json_error`), '<where>: <entry>.<field>: <problem>' per schema error."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ReelsetError(json_error(data.decode("utf-8", "replace"), exc, where)) from exc
    try:
        return ReviewFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_loc(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
        raise ReelsetError(f"{where}: malformed review file: {problems}") from exc


def load_review(path: Path | None, where: str | None = None) -> ReviewFile:
    """The review file at ``path`` (an empty one when ``path`` is None or does not exist).
    ``where`` names the file in errors (default: the path)."""
    if path is None or not path.exists():
        return ReviewFile()
    return parse_review(path.read_bytes(), where or str(path))


def update_review(path: Path, clip_id: str, decision: ReviewDecision | None) -> ReviewFile:
    """Set (``decision``) or clear (None) the decision of ``clip_id`` in ``path`` atomically.

    Holds ``<path>.lock`` (filelock, 30 s timeout) while it re-reads the current file, changes
    one entry and writes a temporary file beside it that replaces ``path`` (``os.replace``), so
    concurrent writers (two browser tabs, two servers) keep each other's decisions. Returns the
    file as written. ReelsetError when the current file is malformed (it is left untouched)."""
    with FileLock(str(path) + ".lock", timeout=30):
        review = load_review(path)
        if decision is None:
            review.decisions.pop(clip_id, None)
        else:
            review.decisions[clip_id] = decision
        review.decisions = dict(sorted(review.decisions.items()))
        data = orjson.dumps(review.model_dump(mode="json", exclude_none=True), option=orjson.OPT_INDENT_2) + b"\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return review


# --------------------------------------------------------------------------- QA
_BLACKFRAME = re.compile(r"\[Parsed_blackframe_\d+ @ [^]]+\] frame:(\d+) pblack:")
_SATAVG = re.compile(r"lavfi\.signalstats\.SATAVG=([\d.]+)")
_FREEZE = re.compile(r"lavfi\.freezedetect\.freeze_(start|end):\s*([\d.]+)")


def detect_black_frozen(clip: Path, duration: float, cfg: ReviewConfig) -> tuple[float, float]:
    """(black seconds, frozen seconds) of ``clip`` from one ffmpeg decode (8-bit yuv420p).

    Black: ``blackframe`` (amount = 100 x black_picture_ratio percent of pixels at or below
    luma 16 + 219 x black_pixel_threshold, the limited-range mapping of blackdetect's pix_th)
    marks dark frames; ``signalstats`` SATAVG (mean chroma distance from grey, 8-bit units)
    must also be at most black_max_saturation, else the frame is a dark *colour* (navy is ~56,
    black 0). Black seconds = black frames x ``duration`` / frames decoded. Frozen:
    ``freezedetect`` (n = freeze_noise_db dB, d = freeze_min_s); a freeze still open at the end
    lasts to ``duration`` (seconds). ReelsetError naming the clip when ffmpeg fails."""
    threshold = round(16 + 219 * cfg.black_pixel_threshold)
    vf = (f"format=yuv420p,blackframe=amount={round(100 * cfg.black_picture_ratio)}:threshold={threshold},"
          f"signalstats,metadata=mode=print:key=lavfi.signalstats.SATAVG,"
          f"freezedetect=n={cfg.freeze_noise_db}dB:d={cfg.freeze_min_s}")
    proc = subprocess.run([tool("ffmpeg"), "-nostdin", "-hide_banner", "-nostats", "-v", "info", "-i", str(clip),
                           "-map", "0:v:0", "-vf", vf, "-f", "null", "-"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReelsetError(f"{clip}: black/freeze detection failed: {proc.stderr.strip()[-500:]}")
    dark = {int(n) for n in _BLACKFRAME.findall(proc.stderr)}
    saturation = [float(v) for v in _SATAVG.findall(proc.stderr)]  # one per decoded frame, in order
    black_frames = sum(1 for i, sat in enumerate(saturation) if i in dark and sat <= cfg.black_max_saturation)
    black = black_frames * duration / len(saturation) if saturation else 0.0
    frozen, start = 0.0, None
    for kind, t in _FREEZE.findall(proc.stderr):
        if kind == "start":
            start = float(t)
        elif start is not None:
            frozen += float(t) - start
            start = None
    if start is not None:
        frozen += max(0.0, duration - start)
    return black, frozen


def media_flags(clip: Path, duration: float, cfg: ReviewConfig) -> list[QAFlag]:
    """Length, black and frozen flags of one clip (``duration`` in seconds)."""
    flags = []
    if duration < cfg.min_clip_s:
        flags.append(QAFlag(check="too_short", detail=f"too short: {duration:.2f} s < {cfg.min_clip_s} s"))
    if duration > cfg.max_clip_s:
        flags.append(QAFlag(check="too_long", detail=f"too long: {duration:.2f} s > {cfg.max_clip_s} s"))
    black, frozen = detect_black_frozen(clip, duration, cfg)
    if duration > 0 and black / duration > cfg.black_max_fraction:
        flags.append(QAFlag(check="black", detail=f"black frames: {black:.2f} s of {duration:.2f} s "
                                                   f"({100 * black / duration:.0f} % > {100 * cfg.black_max_fraction:.0f} %)"))
    if duration > 0 and frozen / duration > cfg.freeze_max_fraction:
        flags.append(QAFlag(check="frozen", detail=f"frozen frames: {frozen:.2f} s of {duration:.2f} s "
                                                    f"({100 * frozen / duration:.0f} % > {100 * cfg.freeze_max_fraction:.0f} %)"))
    return flags


def dialogue_flags(clip: CaptionClip, cfg: ReviewConfig) -> list[QAFlag]:
    """'dialogue_dropped' when step2-scene-context left transcript text of the clip out as a
    likely ASR hallucination (``clip.dropped_lines``, with the guards that flagged it), and
    'speech_without_words' when VAD heard speech in the clip that the ASR step left without
    words (``clip.unheard_speech_s`` > 0, issue 26): the clip's real dialogue may be missing from
    its caption, so a reviewer should look."""
    if not cfg.check_dropped_dialogue:
        return []
    flags = []
    if clip.dropped_lines:
        shown = "; ".join(f"{ln.text[:60]!r} ({', '.join(ln.checks)})" for ln in clip.dropped_lines[:3])
        more = f" and {len(clip.dropped_lines) - 3} more" if len(clip.dropped_lines) > 3 else ""
        flags.append(QAFlag(check="dialogue_dropped", detail=f"dialogue dropped as a likely ASR hallucination: {shown}{more}"))
    if clip.unheard_speech_s > 0:
        flags.append(QAFlag(check="speech_without_words", detail=f"{clip.unheard_speech_s:.1f} s of speech the ASR step left "
                                                                 "without words: the caption cannot know what is said there"))
    return flags


def line_key(start: float) -> str:
    """The key of a dialogue line in review.json ``speakers``: its start in seconds, two decimals ('6.52')."""
    return f"{start:.2f}"


def apply_speaker_fixes(lines: list, fixes: dict[str, str], names: dict[str, list[str]], where: str) -> tuple[list, list[str]]:
    """(``lines`` with the reviewer's speakers, the keys of ``fixes`` that name no line) of one clip.
    A fixed line gets ``speaker_source`` 'review' and no confidence. ReelsetError naming ``where``
    (e.g. "review.json: decisions['demo01-s0002'].speakers['6.52']") when a fix names no
    character of the bible (``names``: canonical name → aliases) and is not 'unknown'."""
    for key, who in fixes.items():
        if who != "unknown" and who not in names:
            raise ReelsetError(f"{where}.speakers[{key!r}]: {who!r} is no character of the bible "
                               f"(known: {', '.join(sorted(names))}, or 'unknown')")
    out = [ln.model_copy(update={"speaker": fixes[line_key(ln.start)], "speaker_source": "review", "speaker_confidence": None})
           if line_key(ln.start) in fixes else ln for ln in lines]
    return out, sorted(set(fixes) - {line_key(ln.start) for ln in lines})


def caption_flags(caption: str, trigger: str | None, context_characters: list[str], names: dict[str, list[str]],
                  cfg: ReviewConfig) -> list[QAFlag]:
    """Caption checks: empty, word count (trigger word not counted) within [min_words,
    max_words], characters named (bible names/aliases) all in the clip's context, trigger word
    present (whole word)."""
    text = strip_trigger(caption, trigger)
    if not text:
        return [QAFlag(check="caption_empty", detail="caption empty" + (" (besides the trigger word)" if caption.strip() else ""))]
    flags = []
    n = word_count(text)
    if n < cfg.min_words:
        flags.append(QAFlag(check="caption_short", detail=f"caption too short: {n} words < {cfg.min_words}"))
    if n > cfg.max_words:
        flags.append(QAFlag(check="caption_long", detail=f"caption too long: {n} words > {cfg.max_words}"))
    if cfg.check_names:
        strangers = [c for c in names_in_text(text, names) if c not in context_characters]
        if strangers:
            flags.append(QAFlag(check="unknown_name", detail=f"caption names {', '.join(strangers)}, not in the clip context "
                                                              f"({', '.join(context_characters) or 'nobody'})"))
    if cfg.require_trigger_word and trigger and not has_word(caption, trigger):
        flags.append(QAFlag(check="trigger_missing", detail=f"trigger word {trigger!r} missing"))
    return flags


MEDIA_CHECKS = ("too_short", "too_long", "black", "frozen")
CAPTION_TEXT_CHECKS = ("caption_empty", "caption_short", "caption_long")
# every QAFlag check, in the order the table lists them
CHECKS = (*MEDIA_CHECKS, "dialogue_dropped", "speech_without_words", *CAPTION_TEXT_CHECKS, "unknown_name", "trigger_missing")
ACTIONS = (None, "accept", "edit", "reject")


def fate(action: str | None, check: str, reviewer_text: bool = False) -> str:
    """What one QA flag does to a clip under a review ``action`` (None: no decision or a stale
    one): "leaves out", "overridden" (kept anyway; listed in ClipQA.overridden) or "not checked"
    (the check does not apply: the trigger word on a reviewer's text, ``reviewer_text`` — an
    edit, or an accept that carries the reviewer's caption). ``reject`` leaves every clip out
    with the reviewer's reason, whatever its flags. ValueError for an unknown check or action."""
    if check not in CHECKS or action not in ACTIONS:
        raise ValueError(f"fate: unknown action {action!r} or check {check!r}")
    if check == "trigger_missing" and (action == "edit" or reviewer_text):
        return "not checked"
    if action == "accept":
        return "leaves out" if check == "caption_empty" else "overridden"
    if action == "edit":
        return "leaves out" if check in CAPTION_TEXT_CHECKS else "overridden"
    return "leaves out"


def fate_table() -> str:
    """The rule table of :func:`fate` as Markdown (docs/usage.md prints it; tests/test_review.py
    checks the copy there and that :func:`decide` follows every cell)."""
    head = {None: "no decision", "accept": "accept (`a`)", "edit": "edit (`e`)", "reject": "reject (`r`)"}
    words = {"leaves out": "left out", "overridden": "kept (overridden)", "not checked": "kept (not checked)"}
    rows = ["| QA flag | " + " | ".join(head[a] for a in ACTIONS) + " |", "|---" * (len(ACTIONS) + 1) + "|",
            "| none | kept, model caption | kept, model caption (or the text box's, if you changed it) | "
            "kept, your caption | left out, your reason |"]
    for check in CHECKS:
        cells = []
        for action in ACTIONS:
            if action == "reject":
                cells.append("left out")
                continue
            cell = words[fate(action, check)]
            if action == "accept" and check == "trigger_missing":
                cell += "; not checked on your text"
            if action == "accept" and check == "caption_empty":
                cell += ": edit the caption"
            cells.append(cell)
        rows.append(f"| `{check}` | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


@dataclass
class Outcome:
    """What :func:`decide` concluded for one clip: its QA record, the final caption (with the
    trigger word removed) when accepted, the rejection when not, and a stale-decision note."""

    qa: ClipQA
    caption: str | None
    caption_source: str | None
    rejected: RejectedClip | None
    stale: str | None


def decide(clip: CaptionClip, media: list[QAFlag], decision: ReviewDecision | None, trigger: str | None,
           names: dict[str, list[str]], cfg: ReviewConfig) -> Outcome:
    """Apply automatic QA (``media``: the flags of the clip itself, media_flags + dialogue_flags;
    then caption checks on the caption kept) and the review ``decision`` to one clip, cell by
    cell of :func:`fate` (rules in the module docstring). The flags recorded are those checked
    (a reviewer's text is not checked for the trigger word)."""
    stale = None
    if decision is not None and decision.caption_sha256 != caption_sha256(clip.caption):
        stale = (f"{clip.clip_id}: decision '{decision.action}' was made on caption sha256 {decision.caption_sha256[:12]}…, "
                 f"the caption is now {caption_sha256(clip.caption)[:12]}… (caption changed since review; not applied)")
        decision = None
    action = decision.action if decision else None
    reviewer_text = action in ("edit", "accept") and bool(decision.caption)
    text = decision.caption if reviewer_text else clip.caption
    flags = [f for f in media + caption_flags(text, trigger, clip.context_characters, names, cfg)
             if fate(action, f.check, reviewer_text) != "not checked"]
    overridden = [f.detail for f in flags if fate(action, f.check, reviewer_text) == "overridden"]
    leaving = [f for f in flags if fate(action, f.check, reviewer_text) == "leaves out"]
    if action == "reject":
        reasons, overridden = [f"rejected in review: {decision.reason}"], []
    elif action == "accept":
        reasons = [f"accepted in review, but {f.detail}: edit the caption" for f in leaving]
    elif action == "edit":
        reasons = [f"edited caption: {f.detail}" for f in leaving]
    else:
        reasons = [f"not reviewed; automatic QA: {f.detail}" for f in leaving]
    accepted = not reasons
    qa = ClipQA(clip_id=clip.clip_id, video_id=clip.video_id, flags=flags, decision=action,
                overridden=overridden if accepted else [], accepted=accepted)
    if accepted:
        return Outcome(qa, strip_trigger(text, trigger), "edited" if reviewer_text else "model", None, stale)
    return Outcome(qa, None, None, RejectedClip(clip_id=clip.clip_id, video_id=clip.video_id, reasons=reasons), stale)
