"""``reelset export`` of step3-stills (image datasets) for musubi-tuner, diffusion-pipe,
DiffSynth-Studio, the LTX-2 trainer and ai-toolkit, and of the video packages for ai-toolkit.

Every image export copies the stills (writable copies, :func:`reelset.export_base.place`) into
``DEST/images/<set>/`` with same-name ``.txt`` captions (the trigger word exactly once,
:func:`reelset.captiontext.caption_for`) and writes the trainer's config with absolute paths, one
dataset per set (so a set can be weighted with the trainer's repeats), TRAIN.md and README.md.
Sizes are never raised: each config keeps every still at most at its own size (per trainer below).

Facts (read, not copied; the commits of :data:`reelset.export_base.CHECKED`):

- musubi-tuner @ 30c658c: ``src/musubi_tuner/dataset/config_utils.py``: a ``[[datasets]]`` entry
  with ``image_directory`` is an image dataset (keys ``cache_directory``, ``resolution``,
  ``caption_extension``, ``num_repeats``, ``enable_bucket``, ``bucket_no_upscale``); every dataset
  needs its own cache directory (it raises otherwise); ``dataset/media_utils.py`` ``glob_images``:
  ``*.png``/``*.jpg`` … of the folder, not recursive.
- diffusion-pipe @ 8f83dbf: ``utils/dataset.py``: each ``[[directory]]`` is globbed (not
  recursive), every file but ``.txt``/``.json``/… is media, the caption is ``<stem>.txt``; images
  go to frame bucket 1 (added to ``frame_buckets`` when missing).
- DiffSynth-Studio @ fed7b18: ``diffsynth/core/data/unified_dataset.py``
  ``default_video_operator``: a ``video`` value ending in ``.png``/``.jpg`` is loaded as one image
  (a one-frame list), resized under ``--max_pixels`` to multiples of 16.
- LTX-2 trainer @ 400fd31: ``packages/ltx-trainer/docs/dataset-preparation.md``: images are items
  of the same dataset file with ``1`` as the bucket's frame count (``960x544x1``);
  ``scripts/process_videos.py`` encodes ``.png``/``.jpg`` as one frame without audio.
- ai-toolkit: :mod:`reelset.trainers.ai_toolkit`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from reelset import ReelsetError, families
from reelset.captiontext import caption_for
from reelset.export_base import CHECKED, has_audio, kept_items, place, placeholder, trigger_note, write_yaml
from reelset.trainers import ai_toolkit as aitoolkit
from reelset.trainers import diffsynth, musubi
from reelset.trainers.ltx2_trainer import model_flags, models_note, trainer_models, training_config

TARGETS = ("musubi", "diffusion-pipe", "diffsynth", "ltx2-trainer", "ai-toolkit")
IMAGES = "images"


def copy_stills(src, dest: Path, newline: bool = True) -> list[tuple[str, Path, str, int, int]]:
    """Copy every still of ``src`` (a step3-stills Source) to ``dest/images/<set>/`` with its
    ``.txt`` caption (ending in a newline unless ``newline`` is false: ai-toolkit reads the file as it
    is); (set folder, image path, caption, width, height) per still. ReelsetError when there is no
    still at all (naming the sets' notes)."""
    art = src.stills
    out = []
    for s in art.sets:
        for st in s.stills:
            folder = Path(st.file).parent.name
            dst = dest / IMAGES / folder / Path(st.file).name
            place(src.root / st.file, dst)
            caption = caption_for(st.caption, art.trigger_word)
            dst.with_suffix(".txt").write_text(caption + ("\n" if newline else ""), encoding="utf-8")
            out.append((folder, dst, caption, st.width, st.height))
    if not out:
        notes = "; ".join(f"{s.character}: {s.note}" for s in art.sets if s.note)
        raise ReelsetError(f"{src.root / 'stills.json'}: no stills to export ({notes or 'no sets'})")
    return out


def _folders(items) -> list[str]:
    return list(dict.fromkeys(f for f, *_ in items))


def _header(src, target: str, items) -> str:
    art = src.stills
    sets = ", ".join(f"{f} ({sum(1 for i in items if i[0] == f)})" for f in _folders(items))
    return (f"Exported by `reelset export --for {target}` from `{src.root}` (step3-stills of dataset {art.dataset}: "
            f"{len(items)} stills; sets {sets}). `images/<set>/` holds each set's stills at their source size in square "
            f"pixels with same-name `.txt` captions; the folders are writable.")


def _max_side(items, multiple: int, cap: int = 1024) -> tuple[int, int]:
    """The largest still's size, floored to ``multiple``, its longer side at most ``cap``."""
    w, h = max(((w, h) for *_, w, h in items), key=lambda s: s[0] * s[1])
    scale = min(1.0, cap / max(w, h))
    return max(multiple, int(w * scale) // multiple * multiple), max(multiple, int(h * scale) // multiple * multiple)


def export_musubi(src, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """Stills → musubi-tuner: one image ``[[datasets]]`` per set (own cache folder), ``bucket_no_upscale``."""
    import tomli_w

    items = copy_stills(src, dest)
    w, h = _max_side(items, 16)
    datasets = []
    for f in _folders(items):
        (dest / "cache" / f).mkdir(parents=True)
        datasets.append({"image_directory": str(dest / IMAGES / f), "cache_directory": str(dest / "cache" / f), "num_repeats": 1})
    cfg = {"general": {"resolution": [w, h], "caption_extension": ".txt", "batch_size": 1, "enable_bucket": True,
                       "bucket_no_upscale": True}, "datasets": datasets}
    toml = dest / "dataset.toml"
    toml.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    dit = placeholder(model_path, "wan2.1_t2v_1.3B_bf16.safetensors")
    t5 = placeholder(text_encoder, "models_t5_umt5-xxl-enc-bf16.pth")
    text = f"""# Train with musubi-tuner (kohya-ss/musubi-tuner) on stills — a Wan 2.1 image LoRA

{_header(src, 'musubi', items)} `dataset.toml` has one image dataset per set (raise a set's `num_repeats` to weight it),
each with its own cache folder under `cache/`; `bucket_no_upscale = true` with resolution {w}x{h}.

{trigger_note(src.stills.trigger_word)}

{musubi.train_commands(toml, dit, t5, dest / 'outputs', src.stills.dataset + '-stills')}

For Wan 2.2 A14B train the low- and the high-noise model on the same `dataset.toml`.
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["dataset.toml", "TRAIN.md"]


def export_diffusion_pipe(src, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """Stills → diffusion-pipe: one ``[[directory]]`` per set, frame bucket 1, train.toml (Wan)."""
    import tomli_w

    del text_encoder
    items = copy_stills(src, dest)
    # diffusion-pipe resizes each item to its size bucket (resolution², the item's aspect ratio), smaller
    # items too: the smallest still's area, floored to 16, upscales none
    res = max(16, min(1024, math.isqrt(min(w * h for *_, w, h in items)) // 16 * 16))
    dataset = {"resolutions": [res], "enable_ar_bucket": True,
               "ar_buckets": [list(wh) for wh in sorted({(w, h) for *_, w, h in items})],  # each still's own shape
               "frame_buckets": [1], "directory": [{"path": str(dest / IMAGES / f), "num_repeats": 1} for f in _folders(items)]}
    (dest / "dataset.toml").write_text(tomli_w.dumps(dataset), encoding="utf-8")
    fam = families.for_stills("diffusion-pipe")
    ckpt = placeholder(model_path, f"{fam.trainer_files['checkpoint'].split('/')[-1]} checkpoint folder")
    train = {"output_dir": str(dest / "outputs"), "dataset": str(dest / "dataset.toml"), "epochs": 100,
             "micro_batch_size_per_gpu": 1, "pipeline_stages": 1, "gradient_accumulation_steps": 1,
             "gradient_clipping": 1.0, "warmup_steps": 10, "save_every_n_epochs": 10, "activation_checkpointing": True,
             "partition_method": "parameters", "save_dtype": "bfloat16", "caching_batch_size": 1, "steps_per_print": 1,
             "model": {"type": "wan", "ckpt_path": ckpt, "dtype": "bfloat16"},
             "adapter": {"type": "lora", "rank": 32, "dtype": "bfloat16"},
             "optimizer": {"type": "adamw_optimi", "lr": 2e-5, "betas": [0.9, 0.99], "weight_decay": 0.01, "eps": 1e-8}}
    (dest / "train.toml").write_text(tomli_w.dumps(train), encoding="utf-8")
    text = f"""# Train with diffusion-pipe (tdrussell/diffusion-pipe) on stills

{_header(src, 'diffusion-pipe', items)} `dataset.toml` lists one `[[directory]]` per set (frame bucket 1,
resolution {res}: the smallest still's area, so none is upscaled); diffusion-pipe writes its cache to
`images/<set>/cache/`. aspect-ratio buckets are the stills' own shapes (diffusion-pipe rounds a bucket's sides to 16, so a side
may differ from the still's by a few pixels). `train.toml` trains a Wan LoRA; set `[model]` to another model type of
diffusion-pipe to train that one on the same stills.

{trigger_note(src.stills.trigger_word)}

```sh
cd diffusion-pipe
deepspeed --num_gpus=1 train.py --deepspeed --config {dest / 'train.toml'}
```
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["dataset.toml", "train.toml", "TRAIN.md"]


def export_diffsynth(src, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """Stills → DiffSynth-Studio: metadata.csv (``video`` = absolute image path, ``prompt``)."""
    del model_path, text_encoder
    items = copy_stills(src, dest)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video", "prompt"])
    for _, path, cap, _, _ in items:
        writer.writerow([str(path), cap])
    (dest / "metadata.csv").write_text(buf.getvalue(), encoding="utf-8")
    fam = families.for_stills("diffsynth")
    release, vae = fam.trainer_files["checkpoint"], fam.trainer_files["vae"]
    max_pixels = max(w * h for *_, w, h in items)
    text = f"""# Train with DiffSynth-Studio (modelscope/DiffSynth-Studio) on stills — a Wan 2.1 image LoRA

{_header(src, 'diffsynth', items)} `metadata.csv` has columns `video` (absolute image paths: DiffSynth loads a
`.png`/`.jpg` there as a one-frame item) and `prompt`. `--max_pixels {max_pixels}` (the largest still) keeps every
still's size (sizes are floored to multiples of 16).

{trigger_note(src.stills.trigger_word)}

{diffsynth.train_commands(dest, max_pixels, 1, release, vae)}
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["metadata.csv", "TRAIN.md"]


def ltx2_bucket(w: int, h: int, cap: int = 1024) -> str:
    """The LTX-2 trainer's single-frame bucket of a ``w`` x ``h`` still: sides floored to 32 (the
    VAE's factor), the longer at most ``cap``, frame count 1 ('480x256x1' for 480x270)."""
    scale = min(1.0, cap / max(w, h))
    return f"{max(32, int(w * scale) // 32 * 32)}x{max(32, int(h * scale) // 32 * 32)}x1"


def export_ltx2(src, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """Stills → LTX-2 trainer: dataset.json (``caption``, ``video`` = image path), WxHx1 buckets,
    ``--skip-audio``, training.yaml without the audio modality."""
    items = copy_stills(src, dest)
    rows = [{"caption": cap, "video": str(path)} for _, path, cap, _, _ in items]
    (dest / "dataset.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    pre = dest / ".precomputed"
    pre.mkdir()
    buckets = sorted({ltx2_bucket(w, h) for *_, w, h in items})
    tm = trainer_models(families.for_stills("ltx2-trainer").variant(), model_path, text_encoder)
    w, h, f = (int(v) for v in buckets[0].split("x"))
    write_yaml(dest / "training.yaml", training_config(dest, pre, False, (w, h, f), items[0][2], 24.0, tm))
    text = f"""# Train with the LTX-2 trainer (Lightricks/LTX-2, packages/ltx-trainer) on stills

{_header(src, 'ltx2-trainer', items)} `dataset.json` (columns `caption`, `video`: absolute paths of the images,
single-frame items), `training.yaml` (video modality only: stills have no sound), `.precomputed/`.
Buckets {';'.join(buckets)} (sides floored to 32, one frame; several buckets: batch_size stays 1).

{trigger_note(src.stills.trigger_word)}

{models_note(tm)}

```sh
cd LTX-2/packages/ltx-trainer
uv run python scripts/process_dataset.py {dest / 'dataset.json'} \\
  --resolution-buckets "{';'.join(buckets)}" \\
{model_flags(tm)} \\
  --output-dir {pre} \\
  --skip-audio
uv run python scripts/train.py {dest / 'training.yaml'}
```
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["dataset.json", "training.yaml", "TRAIN.md"]


def export_ai_toolkit(src, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """Stills → ai-toolkit: one dataset per set (``num_frames: 1``), one job config per family it
    trains (``config-<family>.yaml``: LTX-2, Wan 2.1, Wan 2.2 TI2V-5B)."""
    import yaml

    del text_encoder
    items = copy_stills(src, dest, newline=False)
    files = []
    for fam, arch in aitoolkit.ARCHES.items():
        res = aitoolkit.resolution([(w, h) for *_, w, h in items], arch.multiple)
        datasets = [aitoolkit.dataset_entry(dest / IMAGES / f, res, 1) for f in _folders(items)]
        cfg = aitoolkit.job(f"{src.stills.dataset}-stills-{fam}", arch, datasets, dest / "outputs", items[0][2], 1, model_path)
        name = f"config-{fam}.yaml"
        (dest / name).write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
        files.append(name)
    what = (_header(src, "ai-toolkit", items) + " One job config per model ai-toolkit trains: "
            + ", ".join(f"`config-{f}.yaml` ({a.label}, arch `{a.arch}`)" for f, a in aitoolkit.ARCHES.items())
            + "; each lists one dataset per set (`num_frames: 1`; the resolution holds the largest still, and ai-toolkit "
            "buckets each still at its own size, never upscaled).")
    text = aitoolkit.train_md("Train with ai-toolkit (ostris/ai-toolkit) on stills", what, dest / files[0],
                              trigger_note(src.stills.trigger_word),
                              "Run the config of the model you train (the command shows the first).")
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return [*files, "TRAIN.md"]


def export_ai_toolkit_videos(src, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """A family's package (step3-ltx2-data, step3-wan21-package, step3-wan22-package) → ai-toolkit:
    ``videos/<N>f/`` per frame count (clips + ``.txt``), one dataset per folder with ``num_frames: N``
    (every frame of each clip, none skipped), the family's fps, ``do_audio`` for LTX-2 when every
    clip has sound; config.yaml, TRAIN.md."""
    import yaml

    del text_encoder
    m = src.manifest
    arch = aitoolkit.ARCHES.get(m.trainer)
    if arch is None:
        raise ReelsetError(f"{src.root}: ai-toolkit trains no model of family {m.trainer} (it takes {', '.join(aitoolkit.ARCHES)})")
    kept = kept_items(m)
    counts = sorted({c.frames for c in kept})
    clips = []
    for c in kept:
        dst = dest / "videos" / f"{c.frames}f" / Path(c.file).name
        place(src.root / c.file, dst)
        caption = caption_for(c.caption or "", m.trigger_word)
        dst.with_suffix(".txt").write_text(caption, encoding="utf-8")  # read as it is: no trailing newline
        clips.append((c, dst, caption))
    audio = arch.audio and all(has_audio(p) for _, p, _ in clips)
    res = aitoolkit.resolution([(c.width, c.height) for c, _, _ in clips], arch.multiple)
    fps = float(m.config.get("fps") or arch.fps)
    datasets = [aitoolkit.dataset_entry(dest / "videos" / f"{n}f", res, n, fps, audio) for n in counts]
    cfg = aitoolkit.job(f"{m.dataset}-{m.trainer}", arch, datasets, dest / "outputs", clips[0][2], counts[-1], model_path)
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    what = (f"Exported by `reelset export --for ai-toolkit` from `{src.root}` ({len(clips)} clips of dataset {m.dataset}, "
            f"{arch.label}: arch `{arch.arch}`, `{arch.name_or_path}`). `videos/<N>f/` holds the clips of N frames "
            f"({', '.join(map(str, counts))}) at {fps:g} fps with same-name `.txt` captions; config.yaml has one dataset per "
            f"folder with `num_frames: N` (ai-toolkit spreads `num_frames` over the whole clip: equal counts take every "
            f"frame), `fps: {round(fps)}`, resolution {res} (holds the largest clip: each keeps its size)"
            + (", `do_audio: true` (every clip has sound)." if audio else "."))
    note = ("LTX-2 clips are 8n+1 frames with sizes /32, Wan 2.1 4n+1 with sizes /16, Wan 2.2 TI2V-5B 4n+1 /32: "
            "what the package step wrote already fits the model ai-toolkit loads.")
    text = aitoolkit.train_md(f"Train with ai-toolkit (ostris/ai-toolkit), {arch.label}", what, dest / "config.yaml",
                              trigger_note(m.trigger_word), note)
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["config.yaml", "TRAIN.md"]


def card(src, target: str) -> str:
    """README.md of a stills export: what the stills are, how many per set, how chosen, why a set is empty."""
    art = src.stills
    lines = [f"# Dataset card: stills of {art.dataset} for {target}", "",
             f"- trigger word: `{art.trigger_word}`, once in every caption; each caption names the character and "
             "describes the clip without camera motion" if art.trigger_word else "- no trigger word",
             f"- chosen by step3-stills (per_character {art.config.per_character}, min_gap_s {art.config.min_gap_s}, "
             f"near-duplicates at ≤ {art.config.max_duplicate_bits} dHash bits) from the accepted clips of "
             f"{', '.join(art.videos) or 'no video'}; full source size, square pixels, never upscaled", "",
             "| set | stills | candidate clips | note |", "|---|---|---|---|"]
    lines += [f"| {s.character} | {len(s.stills)} | {len(s.clips)} | {s.note or ''} |" for s in art.sets]
    lines += ["", f"How to train: TRAIN.md in this folder (format checked against "
                  f"{aitoolkit.CHECKED if target == 'ai-toolkit' else CHECKED[target]}).", "",
              "Licence: the pictures are frames of the source videos; their rights are the rights of those sources.", ""]
    return "\n".join(lines)


EXPORTERS = {("stills", "musubi"): export_musubi, ("stills", "diffusion-pipe"): export_diffusion_pipe,
             ("stills", "diffsynth"): export_diffsynth, ("stills", "ltx2-trainer"): export_ltx2,
             ("stills", "ai-toolkit"): export_ai_toolkit, ("package", "ai-toolkit"): export_ai_toolkit_videos}
