"""The dataset card (README.md) of a package: what the data is, how much, the rules and sizes it was
written by, which models made its text, what was left out, how to train it and whose rights it
carries — the sections of a Hugging Face dataset card, from a package's manifest.json.

Written by the package report derivation (``reelset/reports/package.py``: next to index.html of
every package, never by the package step, so a wording change re-encodes nothing) and by
``reelset export`` (``reelset/export.py``: README.md of every export). The facts a package does not
hold — the series' description, each episode's file and sha256, the pinned models of the steps
upstream — come from Nix (``card`` of the report's spec, nix/pipeline.nix ``cardFacts``); without
them (an export of a package built elsewhere) those lines say where to find them.
"""

from __future__ import annotations

from collections import Counter

from reelset.schemas.manifest import PackagedClip, PackageManifest

# the dataset.toml key that allows upscaling, per family section (reelset/schemas/windows.py)
UPSCALE_KEY = "upscale"
FACTS = "card.json"  # the Nix-side facts, beside README.md in a package report (reelset export reads them)


def sizes_table(m: PackageManifest) -> list[tuple[str, str, str, int, float]]:
    """(source WxH, written WxH, configured size it was scaled down from or '', items, scale) per
    distinct pair over the kept items, most items first: what the card and the reports show as
    'source vs written'. ``scale`` = max(W / w, H / h) (above 1: upscaled)."""
    rows: Counter[tuple[str, str, str, float]] = Counter()
    for c in m.clips:
        if c.fate == "kept" and c.width and c.source_width and c.source_height:
            scale = c.scale if c.scale is not None else max(c.width / c.source_width, c.height / c.source_height)
            rows[(f"{c.source_width}x{c.source_height}", f"{c.width}x{c.height}", c.scaled_from or "", round(scale, 2))] += 1
    return [(src, out, frm, n, scale) for (src, out, frm, scale), n in rows.most_common()]


def _rules(m: PackageManifest) -> str:
    cfg = m.config
    if m.trainer == "ltx2":
        return (f"{cfg.get('fps')} fps; buckets {', '.join(cfg.get('buckets', []))} (W, H multiples of 32, F = 8n+1: the LTX-2 "
                "VAE's factors, Lightricks/LTX-2 packages/ltx-trainer docs/dataset-preparation.md); nearest-aspect bucket "
                "among those not longer than the clip, as the trainer assigns them")
    return (f"{cfg.get('fps')} fps; sizes {', '.join(cfg.get('sizes', []))}; {cfg.get('min_frames')}–{cfg.get('max_frames')} frames, "
            "4n+1 (the Wan VAE's temporal factor 4; W, H multiples of its spatial factor x patch 2: WanPipeline, "
            "diffusers 0.42.1; musubi-tuner docs/dataset_config.md: Wan 2.1 at 16 fps)")


def card(m: PackageManifest, trainers: list[tuple[str, str]], facts: dict | None = None, title: str = "") -> str:
    """The README.md text for package manifest ``m``. ``trainers``: (target, trainer commit the
    format was checked against) to name under 'How to train'; ``facts``: the Nix-side facts
    (``description``; ``videos`` = {id: {"file", "sha256"}}; ``models`` = {step: {role: {"name",
    "repo", "revision", "narHash"}}}) or None; ``title``: the heading (default: the dataset and family)."""
    facts = facts or {}
    kept = [c for c in m.clips if c.fate == "kept"]
    cfg = m.config
    lines = [f"# {title or f'Dataset card: {m.dataset} ({m.trainer})'}", ""]
    if facts.get("description"):
        lines += [facts["description"], ""]
    trigger = f"`{m.trigger_word}`, once at the start of every caption" if m.trigger_word else "none (the bible sets none)"
    seconds = sum((c.frames or 0) / (c.fps or 1) for c in kept)
    lines += ["## Contents", "",
              f"- model family `{m.trainer}`; trigger word {trigger}",
              f"- {len(kept)} training items ({seconds:.1f} s of video: windows of the reviewed clips, "
              f"`windows = \"{cfg.get('windows', 'head')}\"`), {m.packaged_s:.1f} s of footage used of {m.accepted_s:.1f} s "
              f"accepted in review; {m.dropped} clips left out",
              f"- rules: {_rules(m)}; each item scaled to cover its size and center-cropped, square pixels", ""]
    lines += ["## Episodes", "", "| video | file | sha256 | accepted s | packaged s | used |", "|---|---|---|---|---|---|"]
    videos = facts.get("videos", {})
    for v in m.videos:
        f = videos.get(v.video_id, {})
        lines.append(f"| {v.video_id} | {f.get('file', '?')} | `{f.get('sha256') or '?'}` | {v.accepted_s:.1f} | "
                     f"{v.packaged_s:.1f} | {100 * v.used:.0f} % |")
    if not videos:
        lines.append("")
        lines.append("(files and hashes: the dataset's dataset.toml `[[videos]]`; this copy was made without them)")
    lines += ["", "## Written sizes", ""]
    rows = sizes_table(m)
    if rows:
        lines += ["| source | written | scaled down from | items | scale |", "|---|---|---|---|---|"]
        lines += [f"| {src} | {out} | {frm or '—'} | {n} | {scale:.2f}x |" for src, out, frm, n, scale in rows]
        up = max(scale for *_, scale in rows)
        lines += ["", (f"Upscaled up to {up:.2f}x (`{UPSCALE_KEY} = true` in [{m.trainer}]): soft detail a LoRA learns as blur."
                       if up > 1.0 else "No item is upscaled: a source smaller than its bucket is written at the bucket "
                       "scaled down to fit it (same aspect, the family's multiple; docs/datasets.md 'Written sizes').")]
    else:
        lines.append("No item written yet.")
    models = facts.get("models", {})
    lines += ["", "## Models that made the text", ""]
    if models:
        lines += ["| step | role | model | repository @ revision | narHash (nix/models.toml) |", "|---|---|---|---|---|"]
        for step, roles in models.items():
            for role, ref in roles.items():
                lines.append(f"| {step} | {role} | {ref.get('name')} | {ref.get('repo')} @ {ref.get('revision')} | "
                             f"{'`' + ref['narHash'] + '`' if ref.get('narHash') else '— (built by reelset)'} |")
        sources = Counter(c.caption_source for c in kept if c.caption_source)
        if sources:
            lines += ["", "Captions: " + ", ".join(f"{n} {s}" for s, n in sorted(sources.items()))
                      + " (model: as the caption model wrote it; edited: by a reviewer)."]
    else:
        lines.append("(not known here: the meta.json of step2-caption and step2-speakers lists them)")
    if m.balance:
        lines += ["", "## Balance", "", "| character | clips | items | packaged s | speaking s in items |", "|---|---|---|---|---|"]
        lines += [f"| {b.name} | {b.clips} | {b.items} | {b.packaged_s:.1f} | {b.speaking_s:.1f} |" for b in m.balance]
    lines += ["", "## Left out", ""]
    reasons = Counter(_reason_key(c) for c in m.clips if c.fate == "dropped")
    lines.append("; ".join(f"{n} x {r}" for r, n in reasons.most_common()) + " (manifest.json has each clip's reason)."
                 if reasons else "Nothing.")
    lines += ["", "## How to train", ""]
    lines += [f"- `{t}`: format checked against {commit}" for t, commit in trainers]
    lines += ["", "`reelset export <this package> DEST --for <target>` writes the trainer's files and a TRAIN.md with its "
              "commands (docs/training.md).", "",
              "## Licence", "",
              "The pictures and sound are cut from the source videos; their rights are the rights of those sources, which "
              "are yours to have. reelset adds no licence of its own.", ""]
    return "\n".join(lines)


def _reason_key(c: PackagedClip) -> str:
    """A drop reason without its particulars ('too short: 20 frames …' → 'too short')."""
    return (c.reason or "?").split(":")[0]
