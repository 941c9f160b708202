"""Report of step2-caption (index.html of tools/step2_caption.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.captions import CaptionsArtifact

BODY = """
<h2>{{ art.clips|length }} clips · {{ fallbacks }} unusable answers · model <code>{{ art.model.name }}</code> on {{ art.device }}</h2>
<p class="muted">trigger word <code>{{ art.trigger_word }}</code> · frames at up to {{ art.config.fps }} fps, at most
{{ art.config.max_frames }} per clip, ≤ {{ art.config.max_pixels }} pixels each · batch {{ art.config.batch_size }}</p>
<div class="grid">
{% for c in art.clips %}<div class="card"><img src="{{ c.thumbnail }}" alt="{{ c.clip_id }}">
<div><code>{{ c.clip_id }}</code> {{ '%.2f'|format(c.start_s) }}–{{ '%.2f'|format(c.end_s) }} s · {{ c.frames }} frames at {{ '%.2f'|format(c.sample_fps) }} fps</div>
{% if c.status == 'ok' %}<p>{{ c.caption }}</p><p class="muted">{{ c.shot_type }} · {{ c.camera_motion }}{% if c.characters %} · {{ c.characters|join(', ') }}{% endif %}</p>
{% else %}<p><b>no caption</b>: {{ c.error }}</p><p class="muted">raw: {{ c.raw[:200] }}</p>{% endif %}
<p class="muted">context: {{ c.context }}<br>{{ c.prompt_tokens }} prompt + {{ c.new_tokens }} new tokens</p></div>
{% endfor %}</div>
"""


def page(out: Path, meta) -> Page:
    art = load(out, "captions.json", CaptionsArtifact)
    fallbacks = sum(c.status == "fallback" for c in art.clips)
    return Page(shard_title("step2-caption", meta), ["captions.json"], BODY, {"art": art, "fallbacks": fallbacks})
