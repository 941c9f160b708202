"""Report of step5-train (index.html of tools/step5_train.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.train import TrainArtifact, TrainSegment

BODY = """
<h2>{{ t.steps }} steps in {{ t.segments|length }} segments · final loss {{ '%.5f'|format(t.losses[-1].loss) }}
(first {{ '%.5f'|format(t.losses[0].loss) }})</h2>
<p>Final LoRA: <a href="{{ t.lora_file }}">{{ t.lora_file }}</a> ({{ t.lora_keys }} tensors, content hash
<code>{{ t.lora_sha256[:16] }}</code>) — load with <code>pipe.load_lora_weights("{{ 'lora' }}")</code>.
Config: rank {{ t.config.rank }}, alpha {{ t.config.alpha }}, lr {{ t.config.learning_rate }},
batch {{ t.config.batch_size }}, seed {{ t.seed }}, targets {{ targets|join(', ') }}.</p>
<img src="loss.png" alt="loss per step" style="max-width:800px">
<h2>Validation samples ({{ t.samples|length }})</h2>
{% if t.samples %}<div class="grid">{% for s in t.samples %}<div class="card">
<video src="{{ s.file }}" poster="{{ s.poster }}" controls loop style="width:100%"></video>
<p>{{ s.prompt }}<br><span class="muted">{{ s.width }}x{{ s.height }} · {{ s.frames }} f · {{ '%g'|format(s.fps) }} fps · seed {{ s.seed }}{% if s.has_audio %} · audio{% endif %}</span></p>
</div>{% endfor %}</div>{% else %}<p class="muted">none: add prompts to [{{ section }}.validation]</p>{% endif %}
<h2>Segments</h2>
<table><tr><th>segment</th><th>steps</th><th>mean loss</th><th>checkpoint</th></tr>
{% for s in segs %}<tr><td>{{ s.segment.index }}</td><td>[{{ s.segment.start }}, {{ s.segment.end }})</td>
<td>{{ '%.5f'|format(means[loop.index0]) }}</td>
<td><a href="segments/{{ '%03d'|format(s.segment.index) }}/segment.json">segments/{{ '%03d'|format(s.segment.index) }}</a></td></tr>{% endfor %}
</table>
"""


def page(out: Path, meta) -> Page:
    t = load(out, "train.json", TrainArtifact)
    segs = [load(out / "segments" / f"{i:03d}", "segment.json", TrainSegment) for i in range(len(t.segments))]
    means = [sum(p.loss for p in t.losses if s.segment.start <= p.step < s.segment.end) / (s.segment.end - s.segment.start)
             for s in segs]
    return Page(shard_title(meta.step, meta), ["train.json", "lora.safetensors", "loss.png"], BODY,
                {"t": t, "segs": segs, "means": means, "targets": t.config.get("target_modules") or ["(family default)"],
                 "section": f"{t.family}_train"})
