"""``reelset export``: a step output as a folder an outside trainer loads as it is.

Sources (``RESULT``: a step output folder, a ``result`` link, or a report folder whose entries
are links into the step output; each entry is resolved on its own) and targets are declared by
the model families (``Family.exports``, reelset/families; :data:`SOURCES`): step3-ltx2-data →
``ltx2-trainer`` (Lightricks/LTX-2 ``packages/ltx-trainer``), ``ltxv-trainer``
(Lightricks/LTX-Video-Trainer); step4-ltx2-preprocess → ``ltx2-trainer`` (its precomputed
latents); step3-wan21-package → ``musubi`` (kohya-ss/musubi-tuner), ``diffusion-pipe``
(tdrussell/diffusion-pipe), ``diffsynth`` (modelscope/DiffSynth-Studio); a newer family names the
targets it takes in its own module.

``RESULT`` may also be ``reelset build``'s ``result`` (a dataset's ``all``): the member the target
takes is exported (``result/step3-ltx2-data`` …), or the error lists the choices when several fit.

``DEST`` is made (it must not exist, or be an empty folder outside /nix/store). Media and
latents are writable copies of the store files (reflinks where the file system can, see
:func:`place`): never hard links (a file rewritten in place would change the store) nor symlinks,
so a trainer that writes caches or outputs next to them writes into ``DEST``.
Paths a trainer reads are absolute (LTX-Video-Trainer's ``media_path``: relative to the dataset
file, see below), every cache folder a trainer writes exists and is
writable, and ``DEST/TRAIN.md`` holds the exact commands (buckets, frame counts and trigger
word filled in; base-model paths are ``--model-path`` / ``--text-encoder-path`` when given, else
placeholders in angle brackets).

Captions: every caption of the copy contains the bible's trigger word exactly once, first (the
packages' own rule, :func:`reelset.captiontext.caption_for`, applied again: a no-op on package
captions, and the same rule for anything else exported). So no trainer flag that adds a trigger (``--lora-trigger``, ``--id-token``) is
used. Precomputed latents are exported as they are (their captions were encoded already).

Rules, and where they were read (facts, not code):

- LTX-2 trainer (Lightricks/LTX-2 @ 400fd31054597515f47125691032c04b1c3ee24e,
  ``packages/ltx-trainer``): ``scripts/process_dataset.py`` takes the dataset file, resolves
  media paths against the file's folder (absolute paths stay), auto-detects the ``caption`` and
  ``video`` columns, needs ``--resolution-buckets "WxHxF;…"``, ``--model-path`` (a single-file
  ltx-core ``.safetensors`` checkpoint), ``--text-encoder-path`` (a Gemma folder), writes
  ``--output-dir`` (default ``.precomputed`` beside the dataset file) and extracts audio unless
  ``--skip-audio``; ``src/ltx_trainer/config.py``: pydantic models with ``extra="forbid"``
  (unknown keys fail), ``data.preprocessed_data_root`` must hold the strategy's folders itself
  (the check does not descend into ``.precomputed``); ``training_strategies/flexible.py``:
  ``video``/``audio`` modalities with ``latents_dir``; ``src/ltx_trainer/datasets.py``: a sample
  missing from any source folder is dropped silently, so the audio modality is only configured
  when every clip has audio latents; several buckets need ``batch_size`` 1; ``trainer.py``
  ``_load_models`` always loads the embeddings processor with ``model.text_encoder_path`` (so
  training from precomputed latents still needs the Gemma folder).
- LTX-Video-Trainer (@ 31b12733f51cb16b244d23f6552609f369aed883): ``scripts/preprocess_dataset.py``
  reads the ``media_path`` column by default (``caption`` for captions), one resolution bucket
  per run (``docs/dataset-preparation.md``): one dataset file per bucket.
  ``scripts/process_videos.py`` reads ``<dataset file folder> / media_path`` and writes latents
  to ``latents/<media_path relative to that folder>.pt``; ``scripts/process_captions.py`` writes
  ``conditions/ / Path(media_path).with_suffix(".pt")`` — an absolute ``media_path`` wins that
  join, so the embeddings land beside the videos and ``src/ltxv_trainer/datasets.py`` pairs no
  sample (0 items): ``media_path`` must be relative.
- musubi-tuner, diffusion-pipe: their dataset configs and the facts behind them are in
  :mod:`reelset.trainers.musubi` and :mod:`reelset.trainers.diffusion_pipe` (the package steps
  write the same configs with paths relative to the package).
- DiffSynth-Studio (@ fed7b18fac2ed4cb802796eec91970e7659bccde): ``diffsynth/core/data/
  operators.py`` joins ``--dataset_base_path`` and the ``video`` value (an absolute value wins);
  ``examples/wanvideo/model_training/train.py`` reads ``video`` and ``prompt`` and always builds a
  ``LoadAudio`` operator (``operators.py``: ``import librosa``, the ``audio`` extra of its
  pyproject.toml); ``diffsynth/core/loader/config.py``: models download from ModelScope unless
  ``DIFFSYNTH_DOWNLOAD_SOURCE=HuggingFace``; with
  ``--height/--width`` unset, a frame larger than ``--max_pixels`` is scaled down, then sizes are
  floored to multiples of 16 — ``--max_pixels`` = the largest clip's area keeps every
  orientation as packaged, where the example's fixed ``--height 480 --width 832`` would crop.

Errors: :class:`reelset.ReelsetError` naming the path and the reason (no step output there, a
source the target does not take, DEST not empty or in the store, a caption with the trigger
word twice).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import ValidationError

from reelset import ReelsetError, card, export_stills, families, package
from reelset.captiontext import caption_for, picture_part
from reelset.export_base import CHECKED, has_audio, kept_items, place, placeholder, trigger_note, write_yaml  # noqa: F401 (place: the API)
from reelset.families import Variant
from reelset.schemas.latents import LatentIndex
from reelset.schemas.manifest import PackagedClip, PackageManifest
from reelset.schemas.stills import StillsArtifact
from reelset.trainers import diffsynth, diffusion_pipe, musubi
from reelset.trainers.ltx2_trainer import LTX2_REPO, model_flags, models_note, trainer_models, training_config


def _sources() -> dict[str, tuple[str, ...]]:
    """``{step: targets}``: every family's package step and preprocess step with the targets it
    declares (``Family.exports``: "package" and "latents"), from the registry (reelset/families)."""
    fams = families.every()  # packages first, then latents (the order messages list them in)
    out = {f.package_step: f.exports["package"] for f in fams if f.exports.get("package")}
    return out | {f.preprocess_step: f.exports["latents"] for f in fams if f.exports.get("latents")}


SOURCES = _sources()
def _variant_of(src: Source, idx: LatentIndex | None) -> Variant:
    """The variant of the source's family (LTX-2) latents were made with: the one whose model made
    them (``idx.model``), else the one ``[<family>_preprocess] variant`` named (a tiny test model or a
    dataset's own pin), else the default; the default for a package (packaging does not depend on
    the variant)."""
    fam = families.of_step(src.step)
    if idx is not None:
        for v in fam.variants:
            if v.model == idx.model.name:
                return v
        return fam.variant(idx.config.get("variant"))
    return fam.variant()


@dataclass
class Source:
    """A resolved step output: its kind (a key of :data:`SOURCES`), real folder and artifact, and
    the dataset card's Nix-side facts (``card.json`` of the package report it was reached
    through; None from a bare compute output)."""

    kind: str
    root: Path
    manifest: PackageManifest | None = None
    index: LatentIndex | None = None
    facts: dict | None = None
    stills: StillsArtifact | None = None  # step3-stills (reelset/export_stills.py)


def _choices(result: Path, kinds: list[str]) -> str:
    return " or ".join(str(result / k) for k in kinds)


def resolve_source(result: Path, target: str | None = None) -> Source:
    """The step output behind ``result``: the folder holding the real ``manifest.json`` (step3) or
    ``latents.json`` (step4), each entry's symlink followed on its own (a report folder may link
    its entries into the compute output). ``result`` may also be a dataset's ``all`` output
    (``reelset build``'s ``result``: an aggregate of steps): then the member that ``target``
    takes is used — ReelsetError listing the members (``result/step3-…``) when none or several
    fit. ReelsetError when there is no step output there or it is invalid."""
    if not result.exists():
        raise ReelsetError(f"{result}: no such file or directory")
    agg_file = result / "aggregate.json"
    if agg_file.is_file() and not (result / "manifest.json").exists() and not (result / "latents.json").exists():
        try:
            agg = orjson.loads(agg_file.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ReelsetError(f"{agg_file}: not valid JSON: {exc}") from exc
        if agg.get("kind") == "steps":
            members = {m["name"]: m["link"] for m in agg.get("members", [])}
            here = [k for k in SOURCES if k in members]
            fit = [k for k in here if target is None or target in SOURCES[k]]
            if len(fit) == 1 and target is not None:
                return resolve_source(result / members[fit[0]], target)
            if not here:
                raise ReelsetError(f"{result}: a build of dataset {agg.get('dataset')} without a package: it has "
                                   f"{', '.join(members) or 'no steps'}; build {' or '.join(f.package_step for f in families.every() if f.package_step in SOURCES)} "
                                   f"(reelset build), then export {result}")
            if not fit:
                raise ReelsetError(f"{result}: no output of this build exports --for {target} "
                                   f"(it takes {' or '.join(k for k, t in SOURCES.items() if target in t)}); "
                                   f"here: {', '.join(f'{result / k} (--for {chr(124).join(SOURCES[k])})' for k in here)}")
            raise ReelsetError(f"{result}: a build of several steps; name the one to export: {_choices(result, fit)}")
    if (result / StillsArtifact.FILE).exists() and not (result / "manifest.json").exists():
        real = (result / StillsArtifact.FILE).resolve()
        try:
            return Source("step3-stills", real.parent, stills=StillsArtifact.model_validate(orjson.loads(real.read_bytes())))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise ReelsetError(f"{result / StillsArtifact.FILE}: not a valid stills.json: {exc}") from exc
    for name, schema in (("manifest.json", PackageManifest), ("latents.json", LatentIndex)):
        entry = result / name
        if not entry.exists():
            continue
        real = entry.resolve()
        try:
            art = schema.model_validate(orjson.loads(real.read_bytes()))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise ReelsetError(f"{entry}: not a valid {name}: {exc}") from exc
        fam = families.get(art.trainer if isinstance(art, PackageManifest) else art.family)
        if isinstance(art, PackageManifest):
            facts = result / card.FACTS  # beside the report's manifest.json link (reports/package.py)
            return Source(fam.package_step, real.parent, manifest=art,
                          facts=orjson.loads(facts.read_bytes()) if facts.is_file() else None)
        if fam.preprocess_step not in SOURCES:
            raise ReelsetError(f"{result}: a {fam.preprocess_step} output; no outside trainer reads its files "
                               f"(see {fam.model_ref}): export the {fam.package_step} instead")
        return Source(fam.preprocess_step, real.parent, index=art)
    raise ReelsetError(f"{result}: not a {' / '.join(SOURCES)} output "
                       f"(no manifest.json or latents.json there); export `reelset build`'s result (or "
                       f"{', '.join(f'result/{k}' for k in SOURCES)}) or a `reelset build STEP` link")


def _copy_clips(src: Source, dest: Path, folder: str, sidecars: bool) -> list[tuple[PackagedClip, Path, str]]:
    """Link every kept clip to ``dest/folder/<name>``; with ``sidecars`` write ``<stem>.txt``
    captions beside them. Returns (clip, absolute path in dest, caption with the trigger once)."""
    out = []
    for c in kept_items(src.manifest):
        dst = dest / folder / Path(c.file).name
        place(src.root / c.file, dst)
        caption = caption_for(c.caption or "", src.manifest.trigger_word)
        if sidecars:
            dst.with_suffix(".txt").write_text(caption + "\n", encoding="utf-8")
        out.append((c, dst, caption))
    return out


# --------------------------------------------------------------------------- LTX-2 trainer
def export_ltx2_package(src: Source, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """step3-ltx2-data → LTX-2 trainer: videos/, dataset.json (absolute ``video`` paths, captions
    with the trigger once), .precomputed/ (empty, the --output-dir), training.yaml, TRAIN.md."""
    m = src.manifest
    clips = _copy_clips(src, dest, "videos", sidecars=False)
    rows = [{"caption": cap, "video": str(path)} for _, path, cap in clips]
    (dest / "dataset.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    pre = dest / ".precomputed"
    pre.mkdir()
    buckets = _buckets(m, [c for c, _, _ in clips])
    audio = all(has_audio(p) for _, p, _ in clips)
    tm = trainer_models(_variant_of(src, None), model_path, text_encoder)
    w, h, f = (int(v) for v in buckets[0].split("x"))
    write_yaml(dest / "training.yaml", training_config(dest, pre, audio, (w, h, f), clips[0][2], float(m.config["fps"]), tm))
    others = [v.name for v in families.of_step(src.step).variants if v != tm.variant]
    skip = "" if audio else " \\\n  --skip-audio"
    text = f"""# Train with the LTX-2 trainer ({LTX2_REPO})

Exported by `reelset export --for ltx2-trainer` from `{src.root}` ({len(clips)} clips, dataset {m.dataset}).
Files: `dataset.json` (columns `caption`, `video`; absolute paths into `videos/`), `training.yaml`,
`.precomputed/` (where the preprocessing writes; this folder is writable).

{trigger_note(m.trigger_word)}

{models_note(tm)} A package does not depend on the variant: to train
{' or '.join(others)} on it, take that variant's files (docs/training.md, "Variants"; LTX-2.5's
conditions are not interchangeable with LTX-2's, so preprocess with its own text encoder).

Audio: {'every clip has sound, so audio latents are made and trained (`audio` modality).' if audio else 'not every clip has sound: the trainer would silently drop those clips from audio training, so this export trains video only (`--skip-audio`, no `audio` modality).'}
Buckets: {';'.join(buckets)}{' (several buckets: batch_size must stay 1)' if len(buckets) > 1 else ''}.

```sh
cd LTX-2/packages/ltx-trainer
uv run python scripts/process_dataset.py {dest / 'dataset.json'} \\
  --resolution-buckets "{';'.join(buckets)}" \\
{model_flags(tm)} \\
  --output-dir {pre}{skip}
uv run python scripts/train.py {dest / 'training.yaml'}
```

LoRA checkpoints go to `{dest / 'outputs'}`.
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["dataset.json", "training.yaml", "TRAIN.md"]


def _buckets(m: PackageManifest, kept: list[PackagedClip]) -> list[str]:
    """The LTX-2 buckets the kept items were written at, in the order of the configured buckets
    they come from (an item scaled down to a smaller source: its ``scaled_from``), then by label."""
    order = m.config["buckets"]
    rank = lambda c: order.index(c.scaled_from or c.bucket) if (c.scaled_from or c.bucket) in order else len(order)  # noqa: E731
    return list(dict.fromkeys(c.bucket for c in sorted(kept, key=lambda c: (rank(c), c.bucket))))


def validation_prompt(idx: LatentIndex) -> str:
    """The caption the exported LTX-2 training.yaml samples during training: a reviewer's edited
    caption when the package (``idx.package``, its manifest.json) has one among the encoded items,
    else the first item's (a model caption: with a try-out model that is noise, so edit one in
    review). Returns ``idx.clips[0].caption`` when the package is not at hand."""
    path = Path(idx.package) / PackageManifest.FILE
    encoded = {c.item_id: c.caption for c in idx.clips}
    if path.is_file():
        m = PackageManifest.model_validate_json(path.read_bytes())
        edited = [c.item_id for c in m.clips if c.fate == "kept" and c.caption_source == "edited" and c.item_id in encoded]
        if edited:
            return encoded[edited[0]]
    return idx.clips[0].caption


def export_ltx2_latents(src: Source, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """step4-ltx2-preprocess → LTX-2 trainer: .precomputed/{latents,conditions,audio_latents}
    (the .pt files as step4 wrote them), training.yaml, TRAIN.md."""
    idx = src.index
    if not idx.clips:
        raise ReelsetError(f"{src.root / 'latents.json'}: no clips: nothing to export")
    pre = dest / ".precomputed"
    for c in idx.clips:
        for rel in c.files.values():
            place(src.root / rel, pre / rel)
    audio = all("audio_latents" in c.files for c in idx.clips)
    tm = trainer_models(_variant_of(src, idx), model_path, text_encoder)
    first = idx.clips[0]
    buckets = sorted({c.bucket for c in idx.clips})
    w, h, f = (int(v) for v in first.bucket.split("x"))
    prompt = validation_prompt(idx)
    write_yaml(dest / "training.yaml", training_config(dest, pre, audio, (w, h, f), prompt, first.fps, tm))
    text = f"""# Train with the LTX-2 trainer ({LTX2_REPO}) on reelset's latents

Exported by `reelset export --for ltx2-trainer` from `{src.root}` ({len(idx.clips)} clips, dataset
{idx.dataset}). `.precomputed/` holds the trainer's own precomputed layout (`latents/`,
`conditions/`{', `audio_latents/`' if audio else ''}; `.pt` files, text features before the connectors),
made with `{idx.model.repo}` @ {idx.model.revision}: no `process_dataset.py` run is needed.

The checkpoint must be the model the latents were made with: {tm.variant.label} (variant
`{tm.variant.name}`{'' if tm.variant.model == idx.model.name else f'; these were made with `{idx.model.name}`, whose files do not fit it'}).
{models_note(tm)} The text encoder is needed for every run, not only for validation prompts:
the trainer always builds its embeddings processor from it (`trainer.py` `_load_models` →
`load_embeddings_processor(…, gemma_model_path=text_encoder_path)`: the connectors that turn the stored
text features into the transformer's embeddings at each step).

Captions were encoded as packaged (the trigger word is in them only if the package put it there;
validation prompt, a reviewed caption (an edited one where the review has one): "{prompt}").
Audio: {'every clip has audio latents: the `audio` modality is trained.' if audio else 'not every clip has audio latents (the trainer would drop those clips): video only.'}
Buckets: {', '.join(buckets)}{' (several: batch_size stays 1)' if len(buckets) > 1 else ''}.

```sh
cd LTX-2/packages/ltx-trainer
uv run python scripts/train.py {dest / 'training.yaml'}
```

LoRA checkpoints go to `{dest / 'outputs'}`.
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["training.yaml", "TRAIN.md"]


def export_ltxv(src: Source, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """step3-ltx2-data → LTX-Video-Trainer: videos/, one dataset-<bucket>.json per bucket
    (``caption`` / ``media_path``; paths relative to the dataset file, ``videos/<clip>.mp4``: its
    caption step writes ``<output>/conditions/<media_path>.pt``, which an absolute path would put
    beside the video, where training never finds it), TRAIN.md. LTX-Video 0.9 makes no sound, so
    each caption is its picture part (:func:`reelset.captiontext.picture_part`: the [VISUAL]
    section of an LTX-2 audio caption)."""
    del model_path, text_encoder  # the LTXV trainer fetches its model by --model-source
    m = src.manifest
    clips = _copy_clips(src, dest, "videos", sidecars=False)
    buckets = _buckets(m, [c for c, _, _ in clips])
    files, cmds = [], []
    for b in buckets:
        name = f"dataset-{b}.json"
        rows = [{"caption": picture_part(cap), "media_path": p.relative_to(dest).as_posix()} for c, p, cap in clips if c.bucket == b]
        (dest / name).write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (dest / f".precomputed-{b}").mkdir()
        files.append(name)
        cmds.append(f"python scripts/preprocess_dataset.py {dest / name} --resolution-buckets {b} "
                    f"--output-dir {dest / f'.precomputed-{b}'}")
    text = f"""# Train with LTX-Video-Trainer (Lightricks/LTX-Video-Trainer, LTX-Video 0.9.x)

Exported by `reelset export --for ltxv-trainer` from `{src.root}` ({len(clips)} clips, dataset {m.dataset}).
This trainer takes one resolution bucket per preprocessed dataset, so there is one dataset file per
bucket (columns `caption`, `media_path`; paths relative to the dataset file, `videos/<clip>.mp4`, as the
trainer needs to find the text embeddings it writes): {', '.join(files)}.

{trigger_note(m.trigger_word)}

LTX-Video 0.9 is not LTX-2 (T5 text encoder, patchified latents): reelset's step4 latents do not
apply; its preprocessing below makes its own.

```sh
cd LTX-Video-Trainer
{chr(10).join(cmds)}
```

Then set `data.preprocessed_data_root` of one of its configs (e.g. `configs/ltxv_2b_lora.yaml`) to
one of the `.precomputed-<bucket>` folders above and run `python scripts/train.py <that config>`.
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return [*files, "TRAIN.md"]


# --------------------------------------------------------------------------- Wan trainers
def _wan_sizes(clips) -> tuple[list[tuple[int, int]], list[int]]:
    """(written sizes, largest area first — :func:`reelset.package.written_sizes`; frame counts) of the copied items."""
    return package.written_sizes([c for c, _, _ in clips], []), sorted({c.frames for c, _, _ in clips})


def export_musubi(src: Source, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """step3-wan21-package → musubi-tuner: videos/ (clips + .txt), cache/, dataset.toml
    (absolute paths), TRAIN.md."""
    import tomli_w

    m = src.manifest
    clips = _copy_clips(src, dest, "videos", sidecars=True)
    (dest / "cache").mkdir()
    sizes, frames = _wan_sizes(clips)
    cfg = musubi.dataset_config(sizes, max(frames), str(dest / "videos"), str(dest / "cache"))
    (dest / "dataset.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    dit = placeholder(model_path, "wan2.1_t2v_1.3B_bf16.safetensors")
    t5 = placeholder(text_encoder, "models_t5_umt5-xxl-enc-bf16.pth")
    toml = dest / "dataset.toml"
    text = f"""# Train with musubi-tuner (kohya-ss/musubi-tuner, Wan 2.1)

Exported by `reelset export --for musubi` from `{src.root}` ({len(clips)} clips, dataset {m.dataset}).
`videos/` holds the clips (16 fps, {', '.join(map(str, frames))} frames, sizes {', '.join(f'{w}x{h}' for w, h in sizes)})
with `.txt` captions; `dataset.toml` uses absolute paths, so the commands work from any folder;
`cache/` is where musubi-tuner's cachers write (writable).

{trigger_note(m.trigger_word)}

Model files (placeholders unless given to `reelset export`): DiT `{dit}`, T5 `{t5}`, VAE `<wan_2.1_vae.safetensors>`.

{musubi.train_commands(toml, dit, t5, dest / 'outputs', m.dataset)}

`--task t2v-14B` with the 14B DiT. reelset's step4-wan21-preprocess files are not musubi-tuner's
cache format (see tools/reelset/wan.py): let its cachers make their own.
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["dataset.toml", "TRAIN.md"]


def export_diffusion_pipe(src: Source, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """A Wan family's package (step3-wan21-package, step3-wan22-package) → diffusion-pipe: videos/
    (clips + .txt only), dataset.toml, train.toml (model paths as placeholders unless given),
    TRAIN.md naming the family's release checkpoint (``Family.trainer_files``)."""
    import tomli_w

    del text_encoder  # diffusion-pipe reads the T5 from the checkpoint folder
    m = src.manifest
    fam = families.get(m.trainer)
    release = fam.trainer_files["checkpoint"]
    clips = _copy_clips(src, dest, "videos", sidecars=True)
    sizes, frames = _wan_sizes(clips)
    dataset = diffusion_pipe.dataset_config(sizes, frames, str(dest / "videos"))
    (dest / "dataset.toml").write_text(tomli_w.dumps(dataset), encoding="utf-8")
    ckpt = placeholder(model_path, f"{release.split('/')[-1]} checkpoint folder")
    train = {"output_dir": str(dest / "outputs"), "dataset": str(dest / "dataset.toml"), "epochs": 100,
             "micro_batch_size_per_gpu": 1, "pipeline_stages": 1, "gradient_accumulation_steps": 1,
             "gradient_clipping": 1.0, "warmup_steps": 10, "save_every_n_epochs": 10,
             "activation_checkpointing": True, "partition_method": "parameters", "save_dtype": "bfloat16",
             "caching_batch_size": 1, "steps_per_print": 1, "video_clip_mode": "single_beginning",
             "model": {"type": "wan", "ckpt_path": ckpt, "dtype": "bfloat16"},
             "adapter": {"type": "lora", "rank": 32, "dtype": "bfloat16"},
             "optimizer": {"type": "adamw_optimi", "lr": 2e-5, "betas": [0.9, 0.99], "weight_decay": 0.01,
                           "eps": 1e-8}}
    (dest / "train.toml").write_text(tomli_w.dumps(train), encoding="utf-8")
    text = f"""# Train with diffusion-pipe (tdrussell/diffusion-pipe, {fam.label})

Exported by `reelset export --for diffusion-pipe` from `{src.root}` ({len(clips)} clips, dataset {m.dataset}).
`videos/` holds only the clips and their `.txt` captions (diffusion-pipe takes every other file there
for media) and is writable: diffusion-pipe writes its cache to `videos/cache/wan/`. `dataset.toml`
and `train.toml` use absolute paths. Frame buckets {sorted({1, *frames})}, sizes {', '.join(f'{w}x{h}' for w, h in sizes)}
(as written; diffusion-pipe resizes each item to the area of `resolutions`, the largest of them).

{trigger_note(m.trigger_word)}

Set `[model] ckpt_path` in train.toml to the original {fam.label} checkpoint folder (e.g.
{release}; now `{ckpt}`).

```sh
cd diffusion-pipe
deepspeed --num_gpus=1 train.py --deepspeed --config {dest / 'train.toml'}
```

LoRAs (ComfyUI format) go to `{dest / 'outputs'}`.
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["dataset.toml", "train.toml", "TRAIN.md"]


def export_diffsynth(src: Source, dest: Path, model_path: str | None, text_encoder: str | None) -> list[str]:
    """A Wan family's package → DiffSynth-Studio: videos/, metadata.csv (``video`` absolute,
    ``prompt``), TRAIN.md with ``--max_pixels`` (no fixed height/width), ``--num_frames`` and the
    family's release files (``Family.trainer_files``; DiffSynth-Studio
    ``examples/wanvideo/model_training/lora/<release>.sh``)."""
    del model_path, text_encoder  # DiffSynth fetches its models by --model_id_with_origin_paths
    m = src.manifest
    fam = families.get(m.trainer)
    release, vae = fam.trainer_files["checkpoint"], fam.trainer_files["vae"]
    clips = _copy_clips(src, dest, "videos", sidecars=False)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video", "prompt"])
    for _, path, cap in clips:
        writer.writerow([str(path), cap])
    (dest / "metadata.csv").write_text(buf.getvalue(), encoding="utf-8")
    sizes, frames = _wan_sizes(clips)
    max_pixels = max(w * h for w, h in sizes)
    text = f"""# Train with DiffSynth-Studio (modelscope/DiffSynth-Studio, {fam.label})

Exported by `reelset export --for diffsynth` from `{src.root}` ({len(clips)} clips, dataset {m.dataset}).
`metadata.csv` has columns `video` (absolute paths into `videos/`) and `prompt`.
Sizes {', '.join(f'{w}x{h}' for w, h in sizes)}: `--max_pixels {max_pixels}` (the largest clip's area) keeps each
clip's size and orientation; a fixed `--height 480 --width 832` would centre-crop portrait clips.
`--num_frames {max(frames)}`: the longest clip; shorter clips are read whole (DiffSynth lowers the count
to the largest 4n+1 the clip has).

{trigger_note(m.trigger_word)}

Its training script needs `librosa` even for video-only data (`train.py` builds a `LoadAudio`
operator, which imports it): install DiffSynth with its `audio` extra. The models of
`--model_id_with_origin_paths` are downloaded from **ModelScope** (modelscope.cn) by default; set
`DIFFSYNTH_DOWNLOAD_SOURCE=HuggingFace` to fetch them from Hugging Face instead
(`diffsynth/core/loader/config.py`).

{diffsynth.train_commands(dest, max_pixels, max(frames), release, vae)}
"""
    (dest / "TRAIN.md").write_text(text, encoding="utf-8")
    return ["metadata.csv", "TRAIN.md"]


# (source role, target) -> exporter; which family's outputs take which target is the family's
# `exports` (reelset/families), so a family reusing a target adds no row here
EXPORTERS = {
    ("package", "ltx2-trainer"): export_ltx2_package,
    ("latents", "ltx2-trainer"): export_ltx2_latents,
    ("package", "ltxv-trainer"): export_ltxv,
    ("package", "musubi"): export_musubi,
    ("package", "diffusion-pipe"): export_diffusion_pipe,
    ("package", "diffsynth"): export_diffsynth,
}
# step3-stills' image datasets and ai-toolkit (videos and images): reelset/export_stills.py
EXPORTERS |= export_stills.EXPORTERS
SOURCES["step3-stills"] = export_stills.TARGETS
TARGETS = tuple(dict.fromkeys(t for _, t in EXPORTERS))  # every trainer an exporter writes for


# the trainer commit each export format was read against (the module docstring's facts)



def _package_manifest(src: Source) -> PackageManifest | None:
    """The package behind ``src``: its own manifest, or for latents the manifest of the package
    they were made from (``latents.json`` ``package``), when that is at hand."""
    if src.manifest is not None:
        return src.manifest
    path = Path(src.index.package) / PackageManifest.FILE if src.index is not None else None
    return PackageManifest.model_validate_json(path.read_bytes()) if path is not None and path.is_file() else None


def dataset_card(src: Source, target: str) -> str:
    """README.md of an export: the dataset card of its package (:func:`reelset.card.card`: counts,
    episodes, written sizes, models, balance, left-out reasons, licence) naming ``target`` and the
    trainer commit its format was checked against. The Nix-side facts (episode hashes, model pins)
    come from the package report's ``card.json`` when the export is made from it (``src.facts``)."""
    m = _package_manifest(src)
    title = f"Dataset card: {m.dataset if m else src.index.dataset} for {target}"
    if m is None:
        return "\n".join([f"# {title}", "", f"Exported from `{src.root}`; its package is not at hand, so counts and balance "
                          "are not known here.", "", f"How to train: TRAIN.md in this folder (format checked against "
                          f"{CHECKED[target]}).", ""])
    return card.card(m, [(target, CHECKED[target])], src.facts, title).replace(
        "`reelset export <this package> DEST --for <target>` writes", "This export was written for it; `TRAIN.md` in this "
        "folder has the commands. `reelset export <package> DEST --for <target>` writes")


def export(result: Path, dest: Path, target: str, *, model_path: str | None = None,
           text_encoder_path: str | None = None) -> list[Path]:
    """Export the step output at ``result`` for ``target`` into the new folder ``dest``; returns
    the config/instruction files written (absolute). ReelsetError: see the module docstring."""
    if target not in TARGETS:
        raise ReelsetError(f"--for {target}: not a target (known: {', '.join(TARGETS)})")
    src = resolve_source(result, target)
    if target not in SOURCES.get(src.kind, ()):
        raise ReelsetError(f"{result}: a {src.kind} output; --for {target} takes "
                           f"{' or '.join(k for k, t in SOURCES.items() if target in t)} "
                           f"(this output exports --for {' | '.join(SOURCES[src.kind])})")
    dest = dest.absolute()
    if str(dest).startswith("/nix/store/"):
        raise ReelsetError(f"{dest}: in the Nix store (read-only); export to a folder of yours")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ReelsetError(f"{dest}: exists and is not an empty folder; choose a new DEST")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        role = "stills" if src.stills is not None else "latents" if src.index is not None else "package"
        names = EXPORTERS[(role, target)](src, dest, model_path, text_encoder_path)
        card = export_stills.card(src, target) if src.stills is not None else dataset_card(src, target)
        (dest / "README.md").write_text(card, encoding="utf-8")
        names = [*names, "README.md"]
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return [dest / n for n in names]


def export_commands(kind: str, result: str = "result") -> list[str]:
    """The ``reelset export`` command lines for an output of step ``kind`` (for reports)."""
    return [f"bin/reelset export {result} ./{t}-dataset --for {t}" for t in SOURCES.get(kind, ())]
