"""Report of step2-reviewed (index.html of tools/step2_reviewed.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.reviewed import ReviewedArtifact

BODY = """
<h2>{{ art.accepted|length }} accepted · {{ art.rejected|length }} rejected{% if art.stale_decisions %} ·
{{ art.stale_decisions|length }} stale decisions{% endif %}</h2>
<p class="muted">trigger word <code>{{ art.trigger_word }}</code> · review file: {{ review_note }}</p>
{% if art.stale_decisions %}<h2>Stale decisions (not applied)</h2><ul>{% for s in art.stale_decisions %}<li>{{ s }}</li>{% endfor %}</ul>{% endif %}
<h2>Accepted</h2>
<table><tr><th>clip</th><th>caption</th><th>source</th><th>overridden QA flags</th></tr>
{% for c in art.accepted %}<tr><td><code>{{ c.clip_id }}</code><br>{{ '%.2f'|format(c.end_s - c.start_s) }} s</td><td>{{ c.caption }}</td>
<td>{{ c.caption_source }}</td><td>{{ qa[c.clip_id].overridden|join('; ') }}</td></tr>{% endfor %}</table>
<h2>Rejected</h2>
<table><tr><th>clip</th><th>reasons</th></tr>
{% for c in art.rejected %}<tr><td><code>{{ c.clip_id }}</code></td><td>{{ c.reasons|join('; ') }}</td></tr>{% endfor %}</table>
"""


def page(out: Path, meta) -> Page:
    art = load(out, "reviewed.json", ReviewedArtifact)
    decisions = sum(q.decision is not None for q in art.qa) + len(art.stale_decisions)
    note = f"sha256 {art.review_sha256[:12]}… ({decisions} decisions)" if art.review_sha256 else "none applied (no review.json visible to Nix: in a git flake, `git add review.json`)"
    return Page(shard_title("step2-reviewed", meta), ["reviewed.json"], BODY,
                {"art": art, "qa": {q.clip_id: q for q in art.qa}, "review_note": note})
