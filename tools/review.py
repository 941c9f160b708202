"""The review server: look at every clip's caption in the browser, accept / reject / edit it,
and keep the decisions in ``pipelines/<name>/review.json`` (read by step2-reviewed).

Usage::

    python tools/review.py serve [PATH] --dataset pipelines/<name> [--port 8765]

``PATH``: a step2-caption output (the aggregate, or one video's shard) or a step2-reviewed
output (its reviewed.json names the captions it used and carries the QA flags). Without
``PATH`` the server builds ``.#host.datasets.<name>.step2-caption`` with Nix first (that is what
``devenv up`` runs, for ``pipelines/demo``). It listens on 127.0.0.1 only (``--port 0``: any free
port; the URL is printed on stdout as ``review: serving http://127.0.0.1:PORT/``) and answers only
requests whose Host header is ``127.0.0.1:PORT`` or ``localhost:PORT`` (403 otherwise: a web page
that rebinds its own DNS name to 127.0.0.1 cannot read or write the review). Every page view
follows ``PATH`` again (``reelset review`` serves the ``result-step2-caption`` link, which
``reelset build`` moves to each new step2-caption): clips of a video added since show up without
a restart.

Pages: ``/`` lists the videos; ``/video/<id>`` shows each clip (playable video, the model's
caption, automatic QA flags — media flags from reviewed.json, or measured with ffmpeg on first
view —, scene context, and what step2-reviewed will do with it: kept, rejected with the reason,
left out by QA while not reviewed, or needing an edit because the caption is empty — computed
with the step's own rules, :func:`reelset.review.decide`) with buttons and keys: ``j``/``k`` next/previous clip, ``a`` accept, ``r``
reject (type the reason, Enter), ``e`` edit the caption (Ctrl+Enter saves), ``u`` undo the
decision. Each decision is recorded against the sha256 of the model caption it was made on
(so step2-reviewed can tell when a caption changed since) and written at once through
:func:`reelset.review.update_review` (lock + temp file + rename: concurrent edits are kept).

Built on Flask (https://flask.palletsprojects.com/); no HTTP parsing of our own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask import Flask, abort, jsonify, render_template_string, request, send_file  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from reelset import ReelsetError  # noqa: E402
from reelset.captiontext import caption_sha256  # noqa: E402
from reelset.review import (  # noqa: E402
    MEDIA_CHECKS,
    apply_speaker_fixes,
    decide,
    dialogue_flags,
    line_key,
    load_review,
    media_flags,
    update_review,
)
from reelset.schemas.aggregate import AggregateArtifact  # noqa: E402
from reelset.schemas.base import StepMeta  # noqa: E402
from reelset.schemas.captions import CaptionsArtifact  # noqa: E402
from reelset.schemas.review import QAFlag, ReviewConfig, ReviewDecision  # noqa: E402
from reelset.schemas.reviewed import ReviewedArtifact  # noqa: E402
from reelset.step import read_artifact  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OVER = " (overridden by your decision)"  # suffix of a flag the clip's decision overrides (shown grey, not red)

INDEX = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>review · {{ dataset }}</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem}table{border-collapse:collapse}</style>
</head><body><h1>review · {{ dataset }}</h1><p>decisions are saved to <code>{{ review_path }}</code></p>
<table><tr><th>video</th><th>clips</th><th>decided</th><th>step2-reviewed will keep</th></tr>
{% for v in videos %}<tr><td><a href="/video/{{ v.id }}">{{ v.id }}</a></td><td>{{ v.clips }}</td><td>{{ v.decided }}</td><td>{{ v.kept }}</td></tr>{% endfor %}
</table></body></html>"""

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>review · {{ vid }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
.clip{display:flex;gap:1rem;border:2px solid #ddd;border-radius:6px;padding:.75rem;margin:.75rem 0}
.clip.sel{border-color:#36c;box-shadow:0 0 0 3px #9bf}.clip video{width:400px;flex:none;background:#000}
.side{flex:1;min-width:0;overflow-wrap:anywhere}
textarea{width:100%;font:inherit}.lines td.speaker{font-weight:600}.lines td.unknown{color:#a30;font-weight:400}.flags li{color:#a30}.flags li.over{color:#777}.muted{color:#777}
.status{font-weight:600}.kept{color:#070}.rejected{color:#a00}.left-out{color:#777}.needs-edit,.stale{color:#a60}
kbd{border:1px solid #aaa;border-radius:3px;padding:0 .25rem}
</style></head><body>
<h1>review · {{ vid }}</h1>
<p><a href="/">all videos</a> · keys: <kbd>j</kbd>/<kbd>k</kbd> next/previous · <kbd>a</kbd> accept ·
<kbd>r</kbd> reject (reason, Enter) · <kbd>e</kbd> edit (Ctrl+Enter saves) · <kbd>u</kbd> undo ·
trigger word <code>{{ trigger }}</code> · saved to <code>{{ review_path }}</code></p>
{% for c in clips %}
<div class="clip" id="clip-{{ c.id }}" data-clip="{{ c.id }}" tabindex="-1">
 <video src="/clip/{{ c.id }}" controls muted preload="metadata" loop></video>
 <div class="side">
  <div><code>{{ c.id }}</code> · {{ '%.2f'|format(c.start) }}–{{ '%.2f'|format(c.end) }} s ·
   <span class="status {{ c.state }}" id="status-{{ c.id }}">{{ c.status }}</span></div>
  <p class="muted">model caption: {{ c.model_caption or '(none: ' ~ c.error ~ ')' }}</p>
  <textarea id="caption-{{ c.id }}" rows="4">{{ c.caption }}</textarea>
  <div><button id="accept-{{ c.id }}" onclick="decide('{{ c.id }}','accept')">accept (a)</button>
   <button id="save-{{ c.id }}" onclick="decide('{{ c.id }}','edit')">save edit (Ctrl+Enter)</button>
   <input id="reason-{{ c.id }}" placeholder="reason" value="{{ c.reason }}" size="30">
   <button id="reject-{{ c.id }}" onclick="decide('{{ c.id }}','reject')">reject (r)</button>
   <button id="clear-{{ c.id }}" onclick="decide('{{ c.id }}','clear')">undo (u)</button></div>
  <ul class="flags" id="flags-{{ c.id }}">{% for f in c.flags %}<li{% if f.endswith(OVER) %} class="over"{% endif %}>{{ f }}</li>{% endfor %}</ul>
  {% if c.lines %}<table class="lines">{% for ln in c.lines %}<tr><td>{{ ln.key }} s</td>
   <td class="speaker{% if ln.speaker == 'unknown' %} unknown{% endif %}" title="{{ ln.source }}{% if ln.confidence is not none %} {{ '%.2f'|format(ln.confidence) }}{% endif %}">
    <select class="speaker" data-start="{{ ln.key }}" data-orig="{{ ln.orig }}">{% for n in c.names + ['unknown'] %}<option{% if n == ln.speaker %} selected{% endif %}>{{ n }}</option>{% endfor %}</select></td>
   <td>{{ ln.text }}</td></tr>{% endfor %}</table>{% endif %}
  <p class="muted">context: {{ c.context }}</p>
 </div>
</div>
{% endfor %}
<script>
const ids = {{ ids|tojson }};
let sel = 0;
function select(i) {
  sel = Math.max(0, Math.min(ids.length - 1, i));
  document.querySelectorAll('.clip').forEach(e => e.classList.remove('sel'));
  const el = document.getElementById('clip-' + ids[sel]);
  el.classList.add('sel'); el.scrollIntoView({block: 'nearest'});
}
async function decide(id, action) {
  const speakers = {};  // speaker fixes: lines whose speaker the reviewer changed (review.json `speakers`)
  document.querySelectorAll('#clip-' + id + ' select.speaker').forEach(s => { if (s.value !== s.dataset.orig) speakers[s.dataset.start] = s.value; });
  const body = {clip_id: id, action: action, speakers: speakers,
                caption: document.getElementById('caption-' + id).value,
                reason: document.getElementById('reason-' + id).value};
  const st = document.getElementById('status-' + id);
  if (action === 'reject' && !body.reason.trim()) { st.textContent = 'type a reason first'; document.getElementById('reason-' + id).focus(); return; }
  const res = await fetch('/api/decision', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  const data = await res.json();
  st.textContent = res.ok ? data.status : ('error: ' + data.error);
  st.className = 'status ' + (res.ok ? data.state : 'rejected');
  if (res.ok) {
    document.getElementById('flags-' + id).innerHTML = data.flags.map(f => '<li></li>').join('');
    document.querySelectorAll('#flags-' + id + ' li').forEach((li, i) => {
      li.textContent = data.flags[i]; li.className = data.flags[i].endsWith({{ OVER|tojson }}) ? 'over' : ''; });
    document.getElementById('caption-' + id).value = data.caption;
  }
}
document.addEventListener('keydown', ev => {
  const id = ids[sel], t = ev.target;
  if (t.tagName === 'TEXTAREA') {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); decide(t.id.slice(8), 'edit'); t.blur(); }
    if (ev.key === 'Escape') t.blur();
    return;
  }
  if (t.tagName === 'SELECT') return;
  if (t.tagName === 'INPUT') {
    if (ev.key === 'Enter') { ev.preventDefault(); decide(t.id.slice(7), 'reject'); t.blur(); }
    if (ev.key === 'Escape') t.blur();
    return;
  }
  const keys = {j: () => select(sel + 1), k: () => select(sel - 1), a: () => decide(id, 'accept'),
                r: () => document.getElementById('reason-' + id).focus(),
                e: () => document.getElementById('caption-' + id).focus(), u: () => decide(id, 'clear')};
  if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
});
document.querySelectorAll('.clip').forEach((el, i) => el.addEventListener('click', () => select(i)));
// keys act on the card in view: scrolling selects the card nearest the top of the window (a card
// clicked long ago never receives a key meant for the one on screen)
let scrollTimer = null;
window.addEventListener('scroll', () => {
  clearTimeout(scrollTimer);
  scrollTimer = setTimeout(() => {
    const cur = document.getElementById('clip-' + ids[sel]).getBoundingClientRect();
    if (cur.bottom > 0 && cur.top < window.innerHeight) return;  // the selected card is still on screen
    let best = 0, bestTop = Infinity;
    ids.forEach((cid, i) => { const r = document.getElementById('clip-' + cid).getBoundingClientRect();
      if (r.bottom > 0 && Math.abs(r.top) < bestTop) { best = i; bestTop = Math.abs(r.top); } });
    sel = best;
    document.querySelectorAll('.clip').forEach(e => e.classList.remove('sel'));
    document.getElementById('clip-' + ids[sel]).classList.add('sel');
  }, 80);
});
if (ids.length) select(0);
</script></body></html>"""


def shard_dirs(folder: Path) -> list[Path]:
    """Shard folders of a step output: the members of an aggregate, or the folder itself."""
    agg_file = folder / "aggregate.json"
    if agg_file.is_file():
        agg = read_artifact(agg_file, AggregateArtifact)
        return [(folder / m.link).resolve() for m in agg.members]
    return [folder.resolve()]


class Review:
    """What the server shows: captions per video, QA flags, the dataset's [review] config and
    review.json (re-read on every page view, so edits by hand or by another server show up)."""

    def __init__(self, path: Path, dataset_dir: Path) -> None:
        toml = dataset_dir / "dataset.toml"
        if not toml.is_file():
            raise ReelsetError(f"{toml}: not found; --dataset must be a dataset folder (pipelines/<name>)")
        config = tomllib.loads(toml.read_text(encoding="utf-8"))
        try:
            self.cfg = ReviewConfig.model_validate(config.get("review", {}))
        except ValueError as exc:
            raise ReelsetError(f"{toml}: invalid [review] section: {exc}") from exc
        self.dataset = config.get("name", dataset_dir.name)
        self.review_path = dataset_dir / self.cfg.file
        self.media_flags: dict[str, list[QAFlag]] = {}
        self.source = path
        self.loaded_from = ""
        self.refresh()

    def refresh(self) -> bool:
        """Read the captions again when ``self.source`` now leads elsewhere (a ``result-*`` link
        that a build moved: ``reelset build`` repoints ``result-step2-caption`` after building
        step2-caption, so a new video's clips appear on the next page load). Returns whether it
        reloaded. ReelsetError as for the constructor."""
        real = os.path.realpath(self.source)
        if real == self.loaded_from:
            return False
        path = Path(self.source)
        captions_dir = path
        if (path / "reviewed.json").is_file():
            reviewed = read_artifact(path / "reviewed.json", ReviewedArtifact)
            if "step2-caption" not in reviewed.sources:
                raise ReelsetError(f"{path}/reviewed.json names no step2-caption output (made by an older step2-reviewed)")
            captions_dir = Path(reviewed.sources["step2-caption"])
            for qa in reviewed.qa:
                self.media_flags[qa.clip_id] = [f for f in qa.flags if f.check in MEDIA_CHECKS]
        videos: dict[str, CaptionsArtifact] = {}
        previews: dict[str, Path] = {}
        for shard in shard_dirs(captions_dir):
            meta = read_artifact(shard / "meta.json", StepMeta)
            if meta.step != "step2-caption":
                raise ReelsetError(f"{shard}: a {meta.step} output, not step2-caption (or step2-reviewed)")
            art = read_artifact(shard / "captions.json", CaptionsArtifact)
            videos[art.video_id] = art
            for c in art.clips:
                previews[c.clip_id] = shard / c.thumbnail
        self.videos, self.previews = videos, previews
        self.clips = {c.clip_id: c for art in videos.values() for c in art.clips}
        self.loaded_from = real
        return True

    def flags_of_media(self, clip_id: str) -> list[QAFlag]:
        """The clip's own QA flags, as step2-reviewed passes them to decide(): media flags (from
        reviewed.json, else measured once with ffmpeg) + dropped-dialogue flags."""
        c = self.clips[clip_id]
        if clip_id not in self.media_flags:
            self.media_flags[clip_id] = media_flags(Path(c.clip_path), c.end_s - c.start_s, self.cfg)
        return self.media_flags[clip_id] + dialogue_flags(c, self.cfg)

    def view(self, clip_id: str, decision: ReviewDecision | None) -> dict:
        """Display state of one clip under ``decision``: what step2-reviewed will do with it,
        computed by the same rules (:func:`reelset.review.decide`) from the same flags.

        ``state`` (CSS class): "kept" (accepted / edited / no decision and no QA flag),
        "rejected" (a reviewer's reject), "left-out" (no decision, QA flags: accept overrides
        them), "needs-edit" (the caption is empty or an edited caption fails its checks:
        accepting cannot keep it), "stale" (the decision was made on an earlier caption).
        ``status``: the same in words; an unreviewed clip always says "not reviewed".
        """
        c = self.clips[clip_id]
        art = self.videos[c.video_id]
        media = self.flags_of_media(clip_id)
        out = decide(c, media, decision, art.trigger_word, art.names, self.cfg)
        applied = None if out.stale else decision
        action = applied.action if applied is not None else None
        caption = applied.caption if action in ("edit", "accept") and applied.caption else c.caption
        reasons = out.rejected.reasons if out.rejected else []
        empty = any(f.check == "caption_empty" for f in out.qa.flags)
        if action == "reject":
            state, status = "rejected", f"rejected: {applied.reason} (left out of the training set)"
        elif out.qa.accepted:
            state = "kept"
            if action == "accept":
                status = "accepted: kept" + (" with your caption" if applied.caption else "")
            else:
                status = {"edit": "edited: kept with your caption"}.get(action, "not reviewed: kept (no QA flag)")
            if out.qa.overridden:
                status += f" (overrides: {'; '.join(out.qa.overridden)})"
        elif action == "accept":
            state, status = "needs-edit", "accepted, but the caption is empty: it will be left out; edit the caption (e)"
        elif action == "edit":
            state, status = "needs-edit", ("edited, but the caption fails QA: it will be left out: " + "; ".join(reasons)
                                           + "; accept (a) keeps it" * (not empty))
        elif empty:
            state, status = "needs-edit", "not reviewed: will be left out (caption empty); edit the caption (e)"
        else:
            state = "left-out"
            status = "not reviewed: will be left out by QA (" + "; ".join(f.detail for f in out.qa.flags) + "); accept (a) keeps it"
        if out.stale:
            state, status = "stale", f"stale: decision '{decision.action}' was made on an earlier caption (not applied); {status}"
        # the flags decide() checked, each marked when the decision overrides it (a kept clip shows no bare red flag)
        overridden = set(out.qa.overridden)
        flags = [f.detail + (OVER if f.detail in overridden else "") for f in out.qa.flags]
        return {"id": clip_id, "start": c.start_s, "end": c.end_s, "state": state, "status": status, "caption": caption,
                "reason": (decision.reason or "") if decision is not None else "", "model_caption": c.caption,
                "error": c.error, "context": c.context, "lines": self.lines(c, applied), "names": sorted(art.names),
                "flags": flags, "kept": out.qa.accepted}

    def lines(self, c, decision: ReviewDecision | None) -> list[dict]:
        """The clip's dialogue lines for the page: key (start, '%.2f' s), text, speaker (the
        reviewer's fix when ``decision`` has one), orig (the speaker before review), source, confidence."""
        try:
            fixed, _ = apply_speaker_fixes(c.lines, decision.speakers if decision else {}, self.videos[c.video_id].names, c.clip_id)
        except ReelsetError:  # a hand-edited fix naming no character: shown unfixed; step2-reviewed names the error
            fixed = c.lines
        return [{"key": line_key(ln.start), "text": ln.text, "speaker": ln.speaker, "orig": orig.speaker,
                 "source": ln.speaker_source, "confidence": ln.speaker_confidence} for ln, orig in zip(fixed, c.lines, strict=True)]


def allowed_hosts(port: int | None) -> set[str]:
    """The Host headers the server answers: ``127.0.0.1:PORT`` and ``localhost:PORT`` (a page of
    another site that rebinds its DNS name to 127.0.0.1 sends its own name, and gets 403). With
    ``port`` None (an in-process test client) the same names without a port."""
    return {f"127.0.0.1:{port}", f"localhost:{port}"} if port else {"127.0.0.1", "localhost"}


def create_app(review: Review, port: int | None = None) -> Flask:
    """The Flask app over ``review`` (routes in the module docstring). Every request is refused
    with 403 unless its Host header is one of :func:`allowed_hosts` (``port``: the port served;
    ``app.config["REVIEW_PORT"]`` may set it later); every page view first picks up a moved
    captions link (:meth:`Review.refresh`)."""
    app = Flask(__name__)
    app.config["REVIEW_PORT"] = port

    @app.before_request
    def guard():
        host = request.headers.get("Host", "")
        if host not in allowed_hosts(app.config["REVIEW_PORT"]):
            return (f"403: Host {host!r} is not this review server's address "
                    f"({' or '.join(sorted(allowed_hosts(app.config['REVIEW_PORT'])))})\n"), 403
        if request.method == "GET":
            try:
                review.refresh()
            except ReelsetError as exc:
                return f"error: the captions at {review.source} could not be read: {exc}\n", 500
        return None

    @app.get("/")
    def index():
        decisions = load_review(review.review_path).decisions
        videos = [{"id": vid, "clips": len(a.clips), "decided": sum(c.clip_id in decisions for c in a.clips),
                    "kept": sum(review.view(c.clip_id, decisions.get(c.clip_id))["kept"] for c in a.clips)}
                  for vid, a in sorted(review.videos.items())]
        return render_template_string(INDEX, dataset=review.dataset, videos=videos, review_path=review.review_path)

    @app.get("/video/<vid>")
    def video(vid: str):
        if vid not in review.videos:
            abort(404)
        decisions = load_review(review.review_path).decisions
        art = review.videos[vid]
        clips = [review.view(c.clip_id, decisions.get(c.clip_id)) for c in art.clips]
        return render_template_string(PAGE, vid=vid, clips=clips, ids=[c["id"] for c in clips], OVER=OVER,
                                      trigger=art.trigger_word, review_path=review.review_path)

    @app.get("/clip/<clip_id>")
    def clip(clip_id: str):
        if clip_id not in review.clips:
            abort(404)
        return send_file(review.clips[clip_id].clip_path, mimetype="video/mp4", conditional=True)

    @app.get("/preview/<clip_id>")
    def preview(clip_id: str):
        if clip_id not in review.previews:
            abort(404)
        return send_file(review.previews[clip_id], mimetype="image/webp")

    @app.post("/api/decision")
    def decision():
        body = request.get_json(silent=True) or {}
        clip_id, action = body.get("clip_id"), body.get("action")
        if clip_id not in review.clips:
            return jsonify(error=f"unknown clip {clip_id!r}"), 404
        c = review.clips[clip_id]
        if action == "clear":
            new = None
        else:
            try:
                text = " ".join((body.get("caption") or "").split()) or None
                if action == "accept" and text == " ".join(c.caption.split()):
                    text = None  # accepting the model caption as it is
                speakers = {str(k): str(v) for k, v in (body.get("speakers") or {}).items()} if action != "reject" else {}
                new = ReviewDecision(caption_sha256=caption_sha256(c.caption), action=action,
                                     reason=(body.get("reason") or "").strip() or None if action == "reject" else None,
                                     caption=text if action in ("edit", "accept") else None, speakers=speakers,
                                     updated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
                apply_speaker_fixes(c.lines, speakers, review.videos[c.video_id].names, f"clip {clip_id}")
            except ValidationError as exc:
                return jsonify(error="; ".join(e["msg"] for e in exc.errors())), 400
            except ReelsetError as exc:
                return jsonify(error=str(exc)), 400
        try:
            update_review(review.review_path, clip_id, new)
        except ReelsetError as exc:
            return jsonify(error=str(exc)), 409
        return jsonify(review.view(clip_id, new))

    return app


def default_captions(dataset_dir: Path) -> Path:
    """Build ``.#host.datasets.<folder name>.step2-caption`` with Nix; its store path."""
    attr = f".#host.datasets.{dataset_dir.resolve().name}.step2-caption"
    print(f"review: building {attr} …", file=sys.stderr)
    proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", attr], cwd=REPO,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReelsetError(f"nix build {attr} failed (pass a step2-caption store path instead):\n{proc.stderr.strip()[-1500:]}")
    return Path(json.loads(proc.stdout)[0]["outputs"]["out"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="review.py", description=__doc__.strip().split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the review pages on 127.0.0.1")
    serve.add_argument("path", nargs="?", type=Path, help="step2-caption or step2-reviewed output (default: build the dataset's step2-caption)")
    serve.add_argument("--dataset", type=Path, default=REPO / "pipelines" / "demo", help="dataset folder (default pipelines/demo)")
    serve.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args(argv)
    try:
        path = args.path or default_captions(args.dataset)
        review = Review(path, args.dataset)
    except ReelsetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(review)
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    app.config["REVIEW_PORT"] = server.server_port
    print(f"review: serving http://127.0.0.1:{server.server_port}/ ({len(review.clips)} clips, decisions → {review.review_path})",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
