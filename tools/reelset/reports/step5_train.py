"""Report of step5-train (index.html of tools/step5_train.py's output)."""

from __future__ import annotations

from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.train import TrainArtifact, TrainSegment

BODY = """
{% for r in runs %}
<h2>{% if r.name %}Expert {{ r.name }} ({{ r.component }}, timesteps [{{ '%g'|format(r.low * 1000) }}, {{ '%g'|format(r.high * 1000) }})): {% endif %}{{ r.steps }} steps in {{ r.segs|length }} segments · final loss {{ '%.5f'|format(r.losses[-1].loss) }}
(first {{ '%.5f'|format(r.losses[0].loss) }})</h2>
<p>Final LoRA: <a href="{{ r.lora_file }}">{{ r.lora_file }}</a> ({{ r.lora_keys }} tensors, content hash
<code>{{ r.lora_sha256[:16] }}</code>){% if not r.name %} — load with <code>pipe.load_lora_weights("lora")</code>{% endif %}.</p>
<table><tr><th>segment</th><th>steps</th><th>mean loss</th><th>checkpoint</th></tr>
{% for s in r.segs %}<tr><td>{{ s.segment.index }}</td><td>[{{ s.segment.start }}, {{ s.segment.end }})</td>
<td>{{ '%.5f'|format(r.means[loop.index0]) }}</td>
<td><a href="{{ r.dir }}segments/{{ '%03d'|format(s.segment.index) }}/segment.json">{{ r.dir }}segments/{{ '%03d'|format(s.segment.index) }}</a></td></tr>{% endfor %}
</table>
{% endfor %}
<p>Config: rank {{ t.config.rank }}, alpha {{ t.config.alpha }}, lr {{ t.config.learning_rate }},
batch {{ t.config.batch_size }}, seed {{ t.seed }}, targets {{ targets|join(', ') }}.</p>
<img src="loss.png" alt="loss per step" style="max-width:800px">
<h2>Validation samples ({{ t.samples|length }})</h2>
{% if t.samples %}<div class="grid">{% for s in t.samples %}<div class="card">
<video src="{{ s.file }}" poster="{{ s.poster }}" controls loop style="width:100%"></video>
<p>{{ s.prompt }}<br><span class="muted">{{ s.width }}x{{ s.height }} · {{ s.frames }} f · {{ '%g'|format(s.fps) }} fps · seed {{ s.seed }}{% if s.has_audio %} · audio{% endif %}</span></p>
</div>{% endfor %}</div>{% else %}<p class="muted">none: add prompts to [{{ section }}.validation]</p>{% endif %}
"""


def page(out: Path, meta) -> Page:
    t = load(out, "train.json", TrainArtifact)
    # one run, or one per expert (Wan 2.2 A14B: its files in <expert>/)
    sources = t.experts or [t]
    runs = []
    for r in sources:
        folder = f"{r.name}/" if t.experts else ""
        segs = [load(out / folder / "segments" / f"{i:03d}", "segment.json", TrainSegment) for i in range(len(r.segments))]
        means = [sum(p.loss for p in r.losses if s.segment.start <= p.step < s.segment.end) / (s.segment.end - s.segment.start)
                 for s in segs]
        runs.append({"name": getattr(r, "name", None) if t.experts else None, "component": getattr(r, "component", ""),
                     "steps": r.steps,
                     "low": getattr(r, "low", 0.0), "high": getattr(r, "high", 1.0), "segs": segs, "means": means,
                     "dir": folder, "losses": r.losses, "lora_file": r.lora_file, "lora_keys": r.lora_keys,
                     "lora_sha256": r.lora_sha256})
    return Page(shard_title(meta.step, meta), ["train.json", *[r.lora_file for r in sources], "loss.png"], BODY,
                {"t": t, "runs": runs, "targets": t.config.get("target_modules") or ["(family default)"],
                 "section": f"{t.family}_train"})
