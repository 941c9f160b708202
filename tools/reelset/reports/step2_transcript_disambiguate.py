"""Report of step2-transcript_disambiguate (index.html of tools/step2_transcript_disambiguate.py's output)."""

from __future__ import annotations

import difflib
from html import escape
from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.disambiguate import DisambiguatedTranscript

BODY = """
<h2>{{ t.segments|length }} segments · {{ applied }} changes applied · {{ alternatives }} alternatives kept</h2>
<table><tr><th>pass</th><th>ran</th><th>applied</th><th>alternatives</th><th>fallbacks</th><th>detail</th></tr>
{% for p in t.passes %}<tr><td>{{ p.name }}</td><td>{{ 'yes' if p.ran else 'no' }}</td><td>{{ p.applied }}</td><td>{{ p.alternatives }}</td>
<td>{{ p.fallbacks }}</td><td>{{ p.detail }}</td></tr>{% endfor %}</table>
<p class="muted">hotwords: <code>{{ t.hotwords }}</code> · initial_prompt: <code>{{ t.initial_prompt }}</code></p>
<h2>Diff (removed <del style="background:#fdd">like this</del>, added <ins style="background:#dfd">like this</ins>)</h2>
<table><tr><th>time</th><th>speaker</th><th>text</th></tr>
{% for s, d in diffs %}<tr><td>{{ '%.2f'|format(s.start) }}–{{ '%.2f'|format(s.end) }}</td>
<td>{{ s.speaker.speaker }}{% if s.speaker.source == 'model' %} ({{ '%.2f'|format(s.speaker.confidence) }}){% endif %}</td><td>{{ d|safe }}</td></tr>{% endfor %}</table>
<h2>Audit ({{ t.audit|length }})</h2>
<table><tr><th>segment</th><th>pass</th><th>action</th><th>before</th><th>after</th><th>time</th><th>reason</th><th>p before</th><th>p after</th><th>confidence</th></tr>
{% for a in t.audit %}<tr><td>{{ a.segment }}</td><td>{{ a.pass_ }}</td><td>{{ a.action }}</td><td>{{ a.before }}</td><td>{{ a.after }}</td>
<td>{% if a.start is not none %}{{ '%.2f'|format(a.start) }}–{{ '%.2f'|format(a.end) }}{% endif %}</td><td>{{ a.reason }}</td>
<td>{{ a.probabilities_before|join(', ') }}</td><td>{{ a.probabilities_after|join(', ') }}</td><td>{{ a.confidence }}</td></tr>{% endfor %}</table>
"""


def diff_html(before: str, after: str) -> str:
    """Word-level diff of two texts as HTML (<del>/<ins>), escaped."""
    a, b = before.split(), after.split()
    out = []
    for op, i0, i1, j0, j1 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape(" ".join(a[i0:i1])))
            continue
        if i1 > i0:
            out.append(f'<del style="background:#fdd">{escape(" ".join(a[i0:i1]))}</del>')
        if j1 > j0:
            out.append(f'<ins style="background:#dfd">{escape(" ".join(b[j0:j1]))}</ins>')
    return " ".join(out)


def page(out: Path, meta) -> Page:
    t = load(out, "corrected_transcript.json", DisambiguatedTranscript)
    return Page(shard_title("step2-transcript-disambiguate", meta), ["corrected_transcript.json", "corrected.srt"], BODY,
                {"t": t, "applied": sum(a.action == "applied" for a in t.audit),
                 "alternatives": sum(a.action == "alternative" for a in t.audit),
                 "diffs": [(s, diff_html(s.original, s.text)) for s in t.segments]})
