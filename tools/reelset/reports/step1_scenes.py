"""Report of step1-scenes (index.html of tools/step1_scenes.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.scenes import ScenesArtifact

BODY = """
<h2>{{ scenes|length }} scenes · {{ art.total_frames }} frames at {{ '%.3f'|format(art.analysis_fps) }} fps</h2>
<p class="muted">source {{ art.source.file }}: {{ art.source.width }}x{{ art.source.height }}
(SAR {{ art.source.sample_aspect_ratio }}), {{ art.source.codec }}, {{ '%.2f'|format(art.source.duration_s) }} s
{% if art.source.vfr %}· variable frame rate (re-timed to CFR){% endif %}
{% if art.source.other_streams %}· ignored streams: {{ art.source.other_streams|join(', ') }}{% endif %}</p>
{% if art.picture %}<p class="muted">picture: clips {{ art.picture.width }}x{{ art.picture.height }}
{% if art.source.orientation_filters %}· display matrix: turned {{ art.source.rotation }}°{% if art.source.mirrored %}, mirrored{% endif %}
({{ art.source.orientation_filters|join(', ') }}){% endif %}
· field order {{ art.source.field_order }}{% if art.picture.interlace.action != 'none' %}: {{ art.picture.interlace.action|replace('_', ' ') }}
(<code>{{ art.picture.interlace.filter }}</code>){% endif %}
· crop {{ art.picture.crop.setting }}{% if art.picture.crop.applied %}: {{ art.picture.crop.applied }}{% else %}: none{% endif %}</p>{% endif %}
<p class="muted">audio tracks: {% for t in art.source.audio_tracks %}{{ t.label() }}{% if t.index == art.source.audio_stream %} ← the clips' sound{% endif %}{% if not loop.last %}; {% endif %}{% else %}none{% endfor %}</p>
<div class="grid">
{% for s in scenes %}<div class="card"><a href="{{ s.clip }}"><img src="{{ s.thumbnail }}" alt="{{ s.clip_id }}"></a>
<div><code>{{ s.clip_id }}</code> frames {{ s.start_frame }}–{{ s.end_frame }} ({{ s.frame_count }})<br>
{{ tc(s.start_s) }} → {{ tc(s.end_s) }}</div></div>
{% endfor %}</div>
"""


def timecode(seconds: float) -> str:
    """'HH:MM:SS.mmm' of a time in seconds."""
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def page(out: Path, meta) -> Page:
    art = load(out, "scenes.json", ScenesArtifact)
    return Page(shard_title("step1-scenes", meta), ["scenes.json"], BODY, {"art": art, "scenes": art.scenes, "tc": timecode})
