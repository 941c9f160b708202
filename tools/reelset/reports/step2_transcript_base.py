"""Report of step2-transcript_base (index.html of tools/step2_transcript_base.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.transcript import TranscriptArtifact

BODY = """
{% if not t.has_audio %}<p><strong>The source has no audio stream</strong>: the transcript is empty.</p>{% else %}
<h2>{{ t.segments|length }} segments · {{ words }} words · {{ flagged }} flagged as likely hallucinations · on {{ t.device }}</h2>
<p class="muted">language {{ t.language }} · audio {{ '%.2f'|format(t.audio_duration_s) }} s · batches of {{ t.batch_size }} windows ·
{{ t.speech_regions|length }} VAD speech regions{% if t.hotwords %} · hotwords: {{ t.hotwords|join(', ') }}{% endif %}</p>
{% if t.speech_without_words %}<p style="background:#fee"><strong>{{ '%.1f'|format(unheard) }} s of speech without words</strong>
(VAD heard speech, the model wrote nothing there): {% for a, b in t.speech_without_words %}{{ '%.2f'|format(a) }}–{{ '%.2f'|format(b) }} s{% if not loop.last %}, {% endif %}{% endfor %}.
Clips there get the review QA flag <code>speech_without_words</code>.</p>{% endif %}
<table><tr><th>start</th><th>end</th><th>text</th><th>low-probability words (&lt; 0.5)</th><th>hallucination guards</th></tr>
{% for s in t.segments %}<tr{% if s.flags %} style="background:#fee"{% endif %}><td>{{ '%.2f'|format(s.start) }}</td><td>{{ '%.2f'|format(s.end) }}</td>
<td>{% if s.flags %}<del>{{ s.text }}</del>{% else %}{{ s.text }}{% endif %}</td>
<td>{% for w in s.words if w.probability < 0.5 %}{{ w.word }} ({{ '%.2f'|format(w.probability) }}) {% endfor %}</td>
<td>{% for f in s.flags %}{{ f.check }}: {{ f.detail }}<br>{% endfor %}</td></tr>
{% endfor %}</table>{% endif %}
"""


def page(out: Path, meta) -> Page:
    t = load(out, "transcript.json", TranscriptArtifact)
    words = sum(len(s.words) for s in t.segments)
    return Page(shard_title("step2-transcript-base", meta), ["transcript.json", "transcript.srt", "transcript.vtt"],
                BODY, {"t": t, "words": words, "flagged": sum(bool(s.flags) for s in t.segments),
                       "unheard": sum(b - a for a, b in t.speech_without_words)})
