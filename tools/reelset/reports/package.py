"""Report of the step3 packages (step3-ltx2-data, step3-wan21-package): totals, accepted vs packaged
seconds per video, balance per character in packaged seconds, dropped clips and kept items (windows)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reelset import card, families, media
from reelset.export import CHECKED
from reelset.reports import Page, load, shard_title
from reelset.schemas.manifest import PackageManifest

PREVIEWS = "previews"  # folder of the report: one JPEG per kept item
PREVIEW_WIDTH = 192  # pixels

BODY = """
<h2>{{ m.kept }} items kept · {{ m.dropped }} clips dropped · of {{ m.reviewed_accepted + m.reviewed_rejected }} clips
({{ m.reviewed_accepted }} accepted by step2-reviewed, {{ m.reviewed_rejected }} left out by review or automatic QA)</h2>
{% if not m.reviewed_accepted %}<p class="warn"><strong>No clip accepted yet</strong>: this package is empty.
{{ m.reviewed_rejected }} clips were left out by step2-reviewed (reasons below). Review them — <code>reelset review</code>,
then <code>git add review.json</code> and <code>reelset build</code> — and the accepted clips are packaged here.</p>{% endif %}
<p>Windows: <code>{{ m.config.windows }}</code>. Used {{ '%.1f'|format(m.packaged_s) }} s of {{ '%.1f'|format(m.accepted_s) }} s
of accepted footage{% if m.accepted_s %} ({{ '%.0f'|format(100 * m.packaged_s / m.accepted_s) }} %){% endif %};
{{ m.frames_written }} frames written; {{ m.source_frames_trimmed }} source frames of packaged clips in no window.
Trigger word: {% if m.trigger_word %}<code>{{ m.trigger_word }}</code>{% if m.trigger_prepended %} (prepended to every caption){% else %} (not prepended){% endif %}{% else %}none{% endif %}.
{{ note }}</p>
<p>Package folder <a href="{{ m.package_dir }}/">{{ m.package_dir }}/</a>:
{% for f in m.files %}<a href="{{ f }}">{{ f }}</a> {% endfor %}· <a href="manifest.json">manifest.json</a> (every clip's fate)
· <a href="README.md">README.md</a> (the dataset card: episodes with sha256, sizes, models, licence)</p>
<h2>Written sizes</h2>
{% if sizes %}<table><tr><th>source</th><th>written</th><th>scaled down from</th><th>items</th><th>scale</th></tr>
{% for src, out, frm, n, scale in sizes %}<tr><td>{{ src }}</td><td>{{ out }}</td><td>{{ frm or '—' }}</td><td>{{ n }}</td>
<td{% if scale > 1 %} class="warn"{% endif %}>{{ '%.2f'|format(scale) }}x{% if scale > 1 %} upscaled{% endif %}</td></tr>{% endfor %}</table>
<p class="muted">{% if m.config.upscale %}<code>upscale = true</code>: items may be written larger than their source.{% else %}No upscaling (<code>upscale = false</code>): a source smaller than its bucket is written at the bucket scaled down to fit it, same aspect, sides multiples of the family's rule.{% endif %}</p>
{% else %}<p class="muted">no item written</p>{% endif %}
<h2>Footage used per video</h2>
<table><tr><th>video</th><th>accepted s</th><th>packaged s</th><th>used</th></tr>
{% for v in m.videos %}<tr><td>{{ v.video_id }}</td><td>{{ '%.1f'|format(v.accepted_s) }}</td><td>{{ '%.1f'|format(v.packaged_s) }}</td>
<td>{{ '%.0f'|format(100 * v.used) }} %</td></tr>{% endfor %}</table>
<h2>Balance (packaged)</h2>
{% if m.balance %}<table><tr><th>character</th><th>clips</th><th>items</th><th>packaged s</th><th>speaking s in items</th></tr>
{% for b in m.balance %}<tr><td>{{ b.name }}</td><td>{{ b.clips }}</td><td>{{ b.items }}</td><td>{{ '%.1f'|format(b.packaged_s) }}</td>
<td>{{ '%.1f'|format(b.speaking_s) }}</td></tr>{% endfor %}</table>{% else %}<p class="muted">no character named in the kept clips</p>{% endif %}
<h2>Dropped ({{ dropped|length }})</h2>
{% if dropped %}<table><tr><th>clip</th><th>reason</th></tr>
{% for c in dropped %}<tr><td><code>{{ c.clip_id }}</code></td><td>{{ c.reason }}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">none</p>{% endif %}
<h2>Kept ({{ kept|length }})</h2>
<table><tr><th>preview</th><th>item</th><th>bucket</th><th>written</th><th>window (video s)</th><th>source frames</th><th>lines quoted / cut</th><th>caption</th></tr>
{% for c in kept %}<tr><td><a href="{{ c.file }}"><img src="previews/{{ c.item_id }}.jpg" width="192" alt="{{ c.item_id }}"></a></td>
<td><a href="{{ c.file }}"><code>{{ c.item_id }}</code></a></td><td>{{ c.bucket }}</td>
<td>{{ c.frames }} f · {{ c.width }}x{{ c.height }} · {{ '%g'|format(c.fps) }} fps{% if c.scale is not none %} · {{ '%.2f'|format(c.scale) }}x{% endif %}{% if c.scaled_from %} (from {{ c.scaled_from }}){% endif %}</td>
<td>{{ '%.2f'|format(c.start_s) }}–{{ '%.2f'|format(c.end_s) }}</td>
<td>{{ c.source_start_frame }}–{{ c.source_end_frame }} of {{ c.source_frames }} · {{ c.source_width }}x{{ c.source_height }} · {{ '%g'|format(c.source_fps) }} fps</td>
<td>{{ c.lines_quoted }} / {{ c.lines_cut }}</td>
<td style="overflow-wrap:anywhere">{{ c.caption }}{% if c.caption_source == 'edited' %} <span class="muted">(edited in review)</span>{% endif %}</td></tr>
{% endfor %}</table>
"""


def _preview(src: Path, dst: Path) -> None:
    """A representative frame of a packaged item (ffmpeg's ``thumbnail`` filter over its first 25
    frames) as a JPEG :data:`PREVIEW_WIDTH` pixels wide."""
    media.run_ffmpeg(["-i", str(src), "-vf", f"thumbnail=n=25,scale={PREVIEW_WIDTH}:-2",
                      "-frames:v", "1", "-threads", "1", str(dst)], "package report preview", src)


def write_extras(data: Path, work: Path, config: dict) -> None:
    """``previews/<item_id>.jpg`` of every kept item of the package at ``data``, its dataset card
    ``README.md`` (:func:`reelset.card.card`, naming the family's export targets and the trainer
    commits their formats were checked against) and ``card.json`` (``config["card"]``: the facts
    from Nix the card used, which ``reelset export`` reads again). Made by the report derivation,
    never by the package step: a wording change re-encodes no clip."""
    m = load(data, "manifest.json", PackageManifest)
    facts = config.get("card") or {}
    targets = families.get(m.trainer).exports.get("package", ())
    (work / "README.md").write_text(card.card(m, [(t, CHECKED[t]) for t in targets], facts), encoding="utf-8")
    (work / card.FACTS).write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    kept = [c for c in m.clips if c.fate == "kept"]
    (work / PREVIEWS).mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda c: _preview(data / c.file, work / PREVIEWS / f"{c.item_id}.jpg"), kept))


def page_for(step: str, out: Path, meta, note) -> Page:
    """The package report; ``note(manifest)`` gives the trainer hint line."""
    m = load(out, "manifest.json", PackageManifest)
    return Page(shard_title(step, meta), ["manifest.json"], BODY,
                {"m": m, "kept": [c for c in m.clips if c.fate == "kept"],
                 "dropped": [c for c in m.clips if c.fate == "dropped"], "note": note(m), "sizes": card.sizes_table(m)})
