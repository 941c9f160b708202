"""Report of step2-reviewed (index.html of tools/step2_reviewed.py's output)."""

from __future__ import annotations

import base64
from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.reviewed import ReviewedArtifact

BODY = """
<h2>{{ art.accepted|length }} accepted · {{ art.rejected|length }} rejected{% if art.stale_decisions %} ·
{{ art.stale_decisions|length }} stale decisions{% endif %}</h2>
<p class="muted">trigger word <code>{{ art.trigger_word }}</code> · review file: {{ review_note }}</p>
{% if art.stale_decisions %}<h2>Stale decisions (not applied)</h2><ul>{% for s in art.stale_decisions %}<li>{{ s }}</li>{% endfor %}</ul>{% endif %}
<h2>Balance: characters in the accepted clips</h2>
<p class="muted">What a LoRA learns of each character: clips it is in (scene context: speaker, named in dialogue or
reference shot), their seconds, and the seconds it speaks (lines attributed by voice, step2-speakers).</p>
<table><tr><th>character</th><th>clips</th><th>seconds of clips</th><th>clips it speaks in</th><th>seconds speaking</th></tr>
{% for b in balance %}<tr><td>{{ b.name }}</td><td>{{ b.clips }}</td><td>{{ '%.1f'|format(b.seconds) }}</td><td>{{ b.speaking_clips }}</td><td>{{ '%.1f'|format(b.speaking_s) }}</td></tr>{% endfor %}
</table>
<h2>Accepted</h2>
<table><tr><th>clip</th><th>caption</th><th>source</th><th>overridden QA flags</th></tr>
{% for c in art.accepted %}<tr><td><code>{{ c.clip_id }}</code><br>{{ '%.2f'|format(c.end_s - c.start_s) }} s</td><td>{{ c.caption }}</td>
<td>{{ c.caption_source }}</td><td>{{ qa[c.clip_id].overridden|join('; ') }}</td></tr>{% endfor %}</table>
{% if art.repeats %}<h2>Repeats across videos ({{ art.repeats|length }} groups)</h2>
<p class="muted">near-identical clips of different videos (intro, recap, credits, a re-used shot); distances to the group's first clip</p>
<table><tr><th>kept</th><th>members</th></tr>
{% for g in art.repeats %}<tr><td><code>{{ g.kept or 'none accepted' }}</code></td><td>{% for m in g.members %}
<figure style="display:inline-block;margin:0 .5em .5em 0">{% if thumbs[m.clip_id] %}<img src="{{ thumbs[m.clip_id] }}" width="160" alt="{{ m.clip_id }}">{% endif %}
<figcaption><code>{{ m.clip_id }}</code> {{ m.fate }} · {{ '%.1f'|format(m.frame_bits) }} bits{% if m.audio_db is not none %} · {{ '%.1f'|format(m.audio_db) }} dB{% endif %}</figcaption></figure>
{% endfor %}</td></tr>{% endfor %}</table>{% endif %}
<h2>Rejected</h2>
<table><tr><th>clip</th><th>reasons</th></tr>
{% for c in art.rejected %}<tr><td><code>{{ c.clip_id }}</code></td><td>{{ c.reasons|join('; ') }}</td></tr>{% endfor %}</table>
"""


def thumbnail_uri(path: str | None) -> str | None:
    """A thumbnail JPEG as a data: URI (the page stays one self-contained file); None when absent."""
    if not path or not Path(path).is_file():
        return None
    return "data:image/jpeg;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def page(out: Path, meta) -> Page:
    art = load(out, "reviewed.json", ReviewedArtifact)
    decisions = sum(q.decision is not None for q in art.qa) + len(art.stale_decisions)
    note = f"sha256 {art.review_sha256[:12]}… ({decisions} decisions)" if art.review_sha256 else "none applied (no review.json visible to Nix: in a git flake, `git add review.json`)"
    return Page(shard_title("step2-reviewed", meta), ["reviewed.json"], BODY,
                {"art": art, "qa": {q.clip_id: q for q in art.qa}, "review_note": note, "balance": balance(art),
                 "thumbs": {m.clip_id: thumbnail_uri(m.thumbnail) for g in art.repeats for m in g.members}})


def balance(art: ReviewedArtifact) -> list[dict]:
    """Per character of the accepted clips: clips (and their seconds) it is in, clips it speaks in
    and its speaking seconds; most clips first."""
    rows: dict[str, dict] = {}
    for c in art.accepted:
        for name in dict.fromkeys([*c.characters, *c.speaking_s]):
            r = rows.setdefault(name, {"name": name, "clips": 0, "seconds": 0.0, "speaking_clips": 0, "speaking_s": 0.0})
            r["clips"] += 1
            r["seconds"] += c.end_s - c.start_s
            if name in c.speaking_s:
                r["speaking_clips"] += 1
                r["speaking_s"] += c.speaking_s[name]
    return sorted(rows.values(), key=lambda r: (-r["clips"], r["name"]))
