"""Report of step2-reviewed (index.html of tools/step2_reviewed.py's output)."""

from __future__ import annotations

import base64
from pathlib import Path

from reelset.reports import Page, load, shard_title
from reelset.schemas.repeats import RepeatGroup
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
{% if strips %}<h3>Repeated stretches ({{ strips|length }})</h3>
<p class="muted">the same stretch of time (picture and sound, 0.5 s steps) in several videos, whatever the clips scene
detection cut it into; one strip per occurrence, on the time axis of the first occurrence (each shifted by its offset);
the band is the occurrence, the boxes are the clips lying mostly inside it, with their fate</p>
{% for st in strips %}<div style="max-width:{{ st.width + 260 }}px;margin-bottom:1em">
<p><b>{{ '%.1f'|format(st.length) }} s</b>, kept: <code>{{ st.kept or 'none accepted' }}</code></p>
{% for row in st.rows %}<div style="display:flex;align-items:flex-start;gap:8px;margin-bottom:4px">
<div style="width:250px;flex:none;font-size:90%"><code>{{ row.occ.video_id }}</code> {{ '%.2f'|format(row.occ.start_s) }}–{{ '%.2f'|format(row.occ.end_s) }} s
{% if not loop.first %}<br>offset {{ '%+.2f'|format(row.occ.offset_s) }} s · {{ '%.1f'|format(row.occ.frame_bits) }} bits{% if row.occ.audio_db is not none %} · {{ '%.1f'|format(row.occ.audio_db) }} dB{% endif %}{% else %}<br>first occurrence{% endif %}</div>
<div class="strip" style="position:relative;width:{{ st.width }}px;height:118px;background:#f4f4f4;flex:none">
<div style="position:absolute;left:{{ row.band[0] }}px;width:{{ row.band[1] }}px;top:0;height:100%;background:#ffe9a8"></div>
{% for t in st.ticks %}<div style="position:absolute;left:{{ t[0] }}px;bottom:0;font-size:70%;color:#777;border-left:1px solid #bbb;padding-left:2px">{{ t[1] }}</div>{% endfor %}
{% for b in row.boxes %}<figure style="position:absolute;left:{{ b.left }}px;top:4px;width:{{ b.width }}px;margin:0;overflow:hidden;border:1px solid {{ b.color }}">
{% if b.thumb %}<img src="{{ b.thumb }}" style="width:100%;height:60px;object-fit:cover;display:block" alt="{{ b.clip_id }}">{% endif %}
<figcaption style="font-size:70%;white-space:nowrap"><code>{{ b.clip_id }}</code><br>{{ b.fate }}</figcaption></figure>{% endfor %}
</div></div>{% endfor %}</div>{% endfor %}{% endif %}
{% if clip_groups %}<h3>Repeated clips ({{ clip_groups|length }} groups)</h3>
<p class="muted">near-identical whole clips of different videos (a repeated shot shorter than a stretch); distances to the group's first clip</p>
<table><tr><th>kept</th><th>members</th></tr>
{% for g in clip_groups %}<tr><td><code>{{ g.kept or 'none accepted' }}</code></td><td>{% for m in g.members %}
<figure style="display:inline-block;margin:0 .5em .5em 0">{% if thumbs[m.clip_id] %}<img src="{{ thumbs[m.clip_id] }}" width="160" alt="{{ m.clip_id }}">{% endif %}
<figcaption><code>{{ m.clip_id }}</code> {{ m.fate }} · {{ '%.1f'|format(m.frame_bits) }} bits{% if m.audio_db is not none %} · {{ '%.1f'|format(m.audio_db) }} dB{% endif %}</figcaption></figure>
{% endfor %}</td></tr>{% endfor %}</table>{% endif %}{% endif %}
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
                 "thumbs": {m.clip_id: thumbnail_uri(m.thumbnail) for g in art.repeats for m in g.members},
                 "strips": [stretch_strips(g) for g in art.repeats if g.kind == "stretch"],
                 "clip_groups": [g for g in art.repeats if g.kind == "clip"]})


STRIP_PX = 960  # widest strip (px): with its 250 px label the row stays under 1280 px
FATE_COLOR = {"kept": "#2a7", "dropped": "#c33", "left": "#999"}


def stretch_strips(g: RepeatGroup) -> dict:
    """Layout of one repeated stretch: per occurrence a strip on the first occurrence's time axis
    (pixels: the occurrence's band, a box per member clip with its thumbnail, ticks every second),
    the axis spanning the occurrences and their clips, at most STRIP_PX wide."""
    by_video = {(m.video_id, m.clip_id): m for m in g.members}
    t0 = min([o.start_s + o.offset_s for o in g.occurrences] +
             [by_video[(o.video_id, c)].start_s + o.offset_s for o in g.occurrences for c in o.clips if (o.video_id, c) in by_video])
    t1 = max([o.end_s + o.offset_s for o in g.occurrences] +
             [by_video[(o.video_id, c)].end_s + o.offset_s for o in g.occurrences for c in o.clips if (o.video_id, c) in by_video])
    scale = min(120.0, STRIP_PX / max(t1 - t0, 0.1))
    width = int(round((t1 - t0) * scale))
    rows = []
    for o in g.occurrences:
        boxes = []
        for cid in o.clips:
            m = by_video.get((o.video_id, cid))
            if m is None or m.start_s is None or m.end_s is None:
                continue
            left = int(round((m.start_s + o.offset_s - t0) * scale))
            boxes.append({"clip_id": cid, "fate": m.fate, "left": left, "color": FATE_COLOR[m.fate],
                          "width": max(8, min(width - left, int(round((m.end_s - m.start_s) * scale)) - 2)),
                          "thumb": thumbnail_uri(m.thumbnail)})
        band = (int(round((o.start_s + o.offset_s - t0) * scale)), int(round((o.end_s - o.start_s) * scale)))
        rows.append({"occ": o, "band": band, "boxes": boxes})
    first = g.occurrences[0]
    ticks = [(int(round((first.start_s + k - t0) * scale)), f"{k:+d} s" if k else "0")
             for k in range(int(t0 - first.start_s), int(t1 - first.start_s) + 1)
             if 0 <= (first.start_s + k - t0) * scale <= width - 20]
    return {"kept": g.kept, "length": first.end_s - first.start_s, "width": width, "rows": rows, "ticks": ticks}


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
