"""Each video-LoRA trainer's OWN dataset loader over reelset's exports (`reelset export`).

Not a test (pytest collects only tests/): it needs the trainers' sources, fetched as git
snapshots (GitHub is not reachable from the dev machines; the session tool `fetch` gives a bare
git dir), and a few small PyPI packages the trainers import, installed with `pip install --target`
into folders passed as --deps (never into .venv, which is a read-only store path).

    export NIX_CONFIG=$'experimental-features = nix-command flakes\\nsubstituters =\\nbuild-users-group =\\nsandbox = relaxed\\nextra-system-features = cuda'
    nix build --impure .#host.demo --out-link /tmp/demo-result
    pip install --no-deps --target /tmp/ldr/deps toml==0.10.2 voluptuous==0.15.2       # musubi-tuner
    # diffusion-pipe (requirements.txt leaves `datasets` unpinned; datasets 5.2.0 + dill 0.4.1 fail here in
    # Dataset.from_dict's fingerprint: "Can't pickle <class 'MonthDayNano'>")
    pip install --no-deps --target /tmp/ldr/dpdeps datasets==3.6.0 dill==0.3.8 multiprocess==0.70.16 pyarrow==20.0.0 xxhash
    pip install --no-deps --target /tmp/ldr/ltxdeps torchaudio==2.11.1 pillow-heif decord  # LTX-2 / LTX-Video-Trainer
    nix build --impure .#host.datasets.demo-lora.step4-ltx2-preprocess --out-link /tmp/ldr/step4-result  # tiny LTX-2
    .venv/bin/python bench/check_trainer_loaders.py --result /tmp/demo-result --work /tmp/ldr/run \\
      --deps /tmp/ldr/deps --deps /tmp/ldr/dpdeps --deps /tmp/ldr/ltxdeps \\
      --ltx2 /work/.mirror/Lightricks+LTX-2/repo --ltxv /work/.mirror/Lightricks+LTX-Video-Trainer/repo \\
      --ltx2-latents /work/.mirror/Lightricks+LTX-2/repo --latents /tmp/ldr/step4-result \\
      --musubi /work/.mirror/kohya-ss+musubi-tuner/repo --diffusion-pipe /work/.mirror/tdrussell+diffusion-pipe/repo \\
      --diffsynth /work/.mirror/modelscope+DiffSynth-Studio/repo --out /tmp/ldr/loaders.json

ai-toolkit and the image exports of step3-stills (issue 42): ai-toolkit's dataloader needs torchaudio (its
config module imports it) and two stubs (albumentations, torchao: see the row's notes); --stills adds one
row per trainer given over `reelset export <stills> --for <target>`:

    pip install --no-deps --target /tmp/ldr/aideps torchaudio==2.11.1
    nix build --impure .#host.datasets.demo-lora.all --out-link /tmp/ldr/demo-lora-all   # has step3-stills
    .venv/bin/python bench/check_trainer_loaders.py --result /tmp/ldr/demo-lora-all \
      --stills /tmp/ldr/demo-lora-all/step3-stills --work /tmp/ldr/run \
      --deps /tmp/ldr/deps --deps /tmp/ldr/dpdeps --deps /tmp/ldr/ltxdeps --deps /tmp/ldr/aideps \
      --ltx2 /work/.mirror/Lightricks+LTX-2/repo --ltx2-latents /work/.mirror/Lightricks+LTX-2/repo \
      --latents /tmp/ldr/demo-lora-all/step4-ltx2-preprocess --musubi /work/.mirror/kohya-ss+musubi-tuner/repo \
      --diffusion-pipe /work/.mirror/tdrussell+diffusion-pipe/repo --diffsynth /work/.mirror/modelscope+DiffSynth-Studio/repo \
      --ai-toolkit /work/.mirror/ostris+ai-toolkit/repo --out bench/loaders_stills.json

Wan 2.2 T2V-A14B (issue 41): --a14b adds a row per trainer (musubi-tuner, diffusion-pipe, DiffSynth-Studio)
over the exports of a step3-wan22_a14b-package output (or a build holding one), with each expert's run as
the export gives it (`expert_runs`); bench/loaders_a14b.json was made with a folder linking the demo's
step3-wan21-package and an A14B package of the demo (tests/conftest.py family_toml) as both --result and --a14b:

    .venv/bin/python bench/check_trainer_loaders.py --result RES --a14b RES --work /tmp/ldr/a14b \
      --deps /tmp/ldr/deps --deps /tmp/ldr/dpdeps --musubi /work/.mirror/kohya-ss+musubi-tuner/repo \
      --diffusion-pipe /work/.mirror/tdrussell+diffusion-pipe/repo --diffsynth /work/.mirror/modelscope+DiffSynth-Studio/repo

For each trainer given: `bin/reelset export RESULT WORK/exp/<target>-<step> --for <target>`, the modules its
dataset loading needs are copied out of the snapshot (`git show HEAD:<path>`) into WORK/src/<target>,
and a child interpreter (.venv's python, PYTHONPATH = those sources + --deps, one thread) runs the
trainer's own classes over the export the way our TRAIN.md says, up to the first step that needs model
weights. It prints one JSON line per trainer: commit, what ran, items loaded / clips packaged, shapes,
frame counts, captions, and where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIT_PATHS = ["toolkit", "info.py", "version.py"]  # ai-toolkit's dataloader and what it imports
TARGETS = {  # --flag: (export target, package member, snapshot paths the loader needs)
    "ltx2": ("ltx2-trainer", "step3-ltx2-data",
             ["packages/ltx-trainer/src", "packages/ltx-trainer/scripts", "packages/ltx-core/src"]),
    "ltx2_latents": ("ltx2-trainer", "step4-ltx2-preprocess",
                     ["packages/ltx-trainer/src", "packages/ltx-trainer/scripts", "packages/ltx-core/src"]),
    "ltxv": ("ltxv-trainer", "step3-ltx2-data", ["src", "scripts"]),
    "musubi": ("musubi", "step3-wan21-package",
               ["src/musubi_tuner/__init__.py", "src/musubi_tuner/dataset", "src/musubi_tuner/utils"]),
    "diffusion_pipe": ("diffusion-pipe", "step3-wan21-package", ["utils"]),
    "diffsynth": ("diffsynth", "step3-wan21-package", ["diffsynth/core/data"]),
    # ai-toolkit (issue 42): its own dataloader (toolkit/) over the LTX-2 and Wan 2.1 packages and the stills
    "ai_toolkit": ("ai-toolkit", "step3-ltx2-data", AIT_PATHS),
    "ai_toolkit_wan21": ("ai-toolkit", "step3-wan21-package", AIT_PATHS),
    "ai_toolkit_stills": ("ai-toolkit", "step3-stills", AIT_PATHS),
}
# the image exports of step3-stills for the other trainers: the same loaders, --stills output, the base flag's snapshot
for _flag in ("musubi", "diffusion_pipe", "diffsynth", "ltx2"):
    TARGETS[f"{_flag}_stills"] = (TARGETS[_flag][0], "step3-stills", TARGETS[_flag][2])
STILLS = "step3-stills"
# Wan 2.2 T2V-A14B (issue 41): the same loaders over the A14B package's exports (--a14b: a
# step3-wan22_a14b-package output or a build holding one); the rows also record each expert's
# training settings as the export gives them (TRAIN.md commands, diffusion-pipe's per-expert configs)
A14B = "step3-wan22_a14b-package"
for _flag in ("musubi", "diffusion_pipe", "diffsynth"):
    TARGETS[f"{_flag}_a14b"] = (TARGETS[_flag][0], A14B, TARGETS[_flag][2])


def base_flag(flag: str) -> str:
    """The snapshot flag of a row ('musubi_stills' → 'musubi', 'ai_toolkit_wan21' → 'ai_toolkit')."""
    return flag.removesuffix("_stills").removesuffix("_wan21").removesuffix("_a14b")


# --------------------------------------------------------------------------- parent
def git(gitdir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], check=True, capture_output=True, text=True).stdout


def extract(gitdir: Path, paths: list[str], dest: Path) -> None:
    """Copy the .py files under `paths` at HEAD (git show, one by one: some snapshots lack large
    non-Python blobs, which `git archive` refuses)."""
    for name in git(gitdir, "ls-tree", "-r", "--name-only", "HEAD", "--", *paths).split():
        if name.endswith(".py"):
            out = dest / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(subprocess.run(["git", f"--git-dir={gitdir}", "show", f"HEAD:{name}"], check=True,
                                           capture_output=True).stdout)


def package_clips(result: Path, member: str) -> list[dict]:
    """The kept clips of the package (or the clips of step4's latents.json, or the stills of step3-stills as
    one-frame items): RESULT is `reelset build`'s result or the step output itself."""
    name = "latents.json" if member.startswith("step4") else "stills.json" if member == STILLS else "manifest.json"
    root = result if (result / name).exists() else result / member
    manifest = json.loads((root / name).read_text())
    if member == STILLS:
        return [{**st, "frames": 1} for s in manifest["sets"] for st in s["stills"]]
    return [c for c in manifest["clips"] if c.get("fate", "kept") == "kept"]


def size_ok(clip: dict, w: int, h: int, member: str) -> bool:
    """A loaded item's size: a package's clips are written at the trainer's size (equal); a still is
    bucketed by the trainer: never more pixels than it has, each side at most its own rounded up to 16
    (diffusion-pipe rounds its size buckets to the nearest multiple of 16)."""
    if member != STILLS:
        return (w, h) == (clip["width"], clip["height"])
    return w * h <= clip["width"] * clip["height"] and w < clip["width"] + 16 and h < clip["height"] + 16


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--result", type=Path, required=True, help="reelset build result (e.g. .#host.demo)")
    ap.add_argument("--work", type=Path, required=True, help="new scratch folder (exports, extracted sources)")
    ap.add_argument("--deps", type=Path, action="append", default=[], help="pip --target folder (repeatable)")
    ap.add_argument("--latents", type=Path, help="a step4-ltx2-preprocess output, for --ltx2-latents (default --result)")
    ap.add_argument("--stills", type=Path, help="a step3-stills output: its image exports are loaded too, by each "
                    "trainer given (default: none)")
    for flag in TARGETS:
        if base_flag(flag) != flag:
            continue
        ap.add_argument(f"--{flag.replace('_', '-')}", type=Path, help="the trainer's git snapshot (bare git dir)"
                        + (" (its PrecomputedDataset over `reelset export <step4 output> --for ltx2-trainer`)"
                           if flag == "ltx2_latents" else ""))
    ap.add_argument("--a14b", type=Path, help=f"a {A14B} output (or a build holding one): its exports are loaded "
                    "too, by musubi-tuner, diffusion-pipe and DiffSynth-Studio when given (default: none)")
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--exp", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--member", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.src, args.exp, args.result, args.member)

    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for flag, (target, member, paths) in TARGETS.items():
        gitdir = getattr(args, base_flag(flag))
        if gitdir is None or (member == STILLS and args.stills is None) or (member == A14B and args.a14b is None):
            continue
        result = args.latents if flag == "ltx2_latents" and args.latents else args.stills if member == STILLS else \
            args.a14b if member == A14B else args.result
        exp, src = args.work / "exp" / f"{target}-{member}", args.work / "src" / target
        if not exp.exists():
            source = result / member if (result / member).is_dir() else result  # a build's member (several may fit)
            subprocess.run([str(ROOT / "bin/reelset"), "export", str(source), str(exp), "--for", target], check=True,
                           stdout=subprocess.DEVNULL)
        if not src.exists():
            extract(gitdir, paths, src)
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
                   PYTHONPATH=os.pathsep.join(str(d) for d in args.deps), HF_HUB_OFFLINE="1")
        proc = subprocess.run(["nice", str(ROOT / ".venv/bin/python"), __file__, "--child", flag, "--src", str(src),
                               "--exp", str(exp), "--result", str(result), "--work", str(args.work), "--member", member],
                              env=env, capture_output=True, text=True, timeout=1800)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        row = json.loads(lines[-1]) if lines else {"error": (proc.stderr or proc.stdout)[-3000:]}
        row.update(trainer=flag, target=target, commit=git(gitdir, "rev-parse", "HEAD").strip(), rc=proc.returncode,
                   clips=len(package_clips(result, member)))
        if proc.returncode and "error" not in row:
            row["error"] = proc.stderr[-3000:]
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if all(not r.get("error") and r.get("items") == r["clips"] for r in rows) else 1


# --------------------------------------------------------------------------- children (trainer code runs here)
def stub(name: str, **attrs) -> types.ModuleType:
    """A module that is not installable here; what it stands for is recorded in the row's notes."""
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def expected(result: Path, member: str) -> dict[str, dict]:
    return {key(c["file"], member): c for c in package_clips(result, member)}


def key(path, member: str, stem: str | None = None) -> str:
    """An item's key: its file's stem (``stem`` when the loader names it otherwise); a still's set folder
    too ('Archer/demo01-s0001-f00126': one frame may be a still of two characters, captioned for each)."""
    p = Path(str(path))
    return f"{p.parent.name}/{stem or p.stem}" if member == STILLS else (stem or p.stem)


def trainmd_commands(exp: Path) -> str:
    """The ```sh blocks of the export's TRAIN.md (the commands a user runs)."""
    return "\n".join(re.findall(r"```sh\n(.*?)```", (exp / "TRAIN.md").read_text(encoding="utf-8"), re.S))


def trainmd_opt(exp: Path, opt: str) -> str:
    m = re.search(rf"{opt}[ =]\"?([^\s\"\\]+)", trainmd_commands(exp))
    if not m:
        raise RuntimeError(f"{exp / 'TRAIN.md'}: no {opt}")
    return m.group(1)


def expert_settings(exp: Path) -> dict:
    """Wan 2.2 A14B: what each expert's run is given, as the export writes it: the options of every
    training command of TRAIN.md that name a model, a timestep range or boundary (musubi-tuner,
    DiffSynth-Studio) and the ``[model]`` table of every ``--config`` file (diffusion-pipe)."""
    import tomllib

    opts = ("--task", "--dit", "--dit_high_noise", "--timestep_boundary", "--min_timestep", "--max_timestep",
            "--preserve_distribution_shape", "--min_timestep_boundary", "--max_timestep_boundary", "--output_path")
    runs = []
    for block in re.split(r"\n(?=accelerate |deepspeed )", trainmd_commands(exp)):
        if not block.startswith(("accelerate ", "deepspeed ")):
            continue
        words = block.replace("\\\n", " ").split()
        run = {w: (words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith(("--", "#")) else True)
               for i, w in enumerate(words) if w in opts}
        if "--config" in words:
            run["model"] = tomllib.loads(Path(words[words.index("--config") + 1]).read_text())["model"]
        if "--model_id_with_origin_paths" in words:
            run["dit"] = words[words.index("--model_id_with_origin_paths") + 1].strip('"').split(",")[0]
        runs.append(run)
    return {"expert_runs": runs}


def child(flag: str, src: Path, exp: Path, result: Path, member: str) -> int:
    import torch

    torch.set_num_threads(1)
    row = globals()[f"run_{base_flag(flag)}"](src, exp, result, member)
    if member == A14B:
        row.update(expert_settings(exp))
    print(json.dumps(row, ensure_ascii=False, default=str), flush=True)
    return 0


def audio_load_with_pyav(notes: list[str]) -> None:
    """torchaudio >= 2.9 ``load()`` needs torchcodec (a torch-ABI wheel): where it is missing, decode with
    PyAV instead (same waveform layout (C, N) float32, native rate) and say so in ``notes``."""
    try:
        import torchcodec  # noqa: F401
    except ImportError:
        import numpy as np
        import torch
        import torchaudio

        def load_with_pyav(path, *a, **k):
            import av

            with av.open(str(path)) as c:
                frames = [f.to_ndarray() for f in c.decode(audio=0)]
                sr = c.streams.audio[0].sample_rate
            x = np.concatenate(frames, axis=-1).astype(np.float32)  # fltp: (channels, samples)
            return torch.from_numpy(x), sr

        torchaudio.load = load_with_pyav
        notes.append("torchcodec not installable (no wheel for this torch): torchaudio.load, which the trainer's "
                     "audio loading calls, decodes with PyAV here (same waveform layout (C, N), native rate)")


def run_musubi(src: Path, exp: Path, result: Path, member: str) -> dict:
    sys.path.insert(0, str(src / "src"))
    from musubi_tuner.dataset import config_utils
    from musubi_tuner.dataset.config_utils import BlueprintGenerator, ConfigSanitizer
    from musubi_tuner.dataset.image_video_dataset import ARCHITECTURE_WAN

    want = expected(result, member)
    # wan_cache_latents.py main(): the same four calls, then retrieve_latent_cache_batches (the frames the VAE gets)
    toml = trainmd_opt(exp, "--dataset_config")
    user_config = config_utils.load_user_config(toml)
    blueprint = BlueprintGenerator(ConfigSanitizer()).generate(user_config, argparse.Namespace(), architecture=ARCHITECTURE_WAN)
    group = config_utils.generate_dataset_group_by_blueprint(blueprint.dataset_group)
    items, problems = {}, []
    for ds in group.datasets:
        for _, batch in ds.retrieve_latent_cache_batches(1):
            for it in batch:
                stem = key(it.item_key, member, Path(it.item_key).stem.rsplit("_", 1)[0])
                shape = it.content.shape  # (F, H, W, C) of a video, (H, W, C) of an image
                f, (h, w, c) = (shape[0], shape[1:]) if len(shape) == 4 else (1, shape)
                items[stem] = {"frames": f, "size": f"{w}x{h}", "latent_cache": Path(it.latent_cache_path).name}
                clip = want.get(stem)
                if clip is None:
                    problems.append(f"{it.item_key}: not a packaged clip")
                elif f != clip["frames"] or not size_ok(clip, w, h, member):
                    problems.append(f"{stem}: {f} frames {w}x{h}, packaged {clip['frames']} {clip['width']}x{clip['height']}")
        # wan_cache_text_encoder_outputs.py: the captions the T5 gets
        for batch in ds.retrieve_text_encoder_output_cache_batches(1):
            for it in batch:
                stem = key(it.item_key, member)
                items.setdefault(stem, {})["caption"] = it.caption
                clip = want.get(stem)
                if clip and it.caption != clip["caption"]:
                    problems.append(f"{stem}: caption {it.caption!r} != packaged {clip['caption']!r}")
    done = sum(1 for s in want if "frames" in items.get(s, {}) and items[s].get("caption"))
    return {"items": done, "loader": "config_utils.load_user_config → BlueprintGenerator(ConfigSanitizer()).generate(…, "
            "architecture=wan) → generate_dataset_group_by_blueprint → VideoDataset.retrieve_latent_cache_batches + "
            "retrieve_text_encoder_output_cache_batches", "samples": items, "problems": problems,
            "stopped_at": "WanVAE(vae_path=…) in wan_cache_latents.py / T5EncoderModel in wan_cache_text_encoder_outputs.py "
                          "(model weights); training reads only those caches (prepare_for_training globs *_wan.safetensors)"}


def run_diffsynth(src: Path, exp: Path, result: Path, member: str) -> dict:
    notes = []
    # only the snapshot's diffsynth/core/data (diffsynth/__init__ imports every model module)
    for name, path in (("diffsynth", src / "diffsynth"), ("diffsynth.core", src / "diffsynth/core")):
        stub(name, __path__=[str(path)])
    try:
        import librosa  # noqa: F401
    except ImportError:
        stub("librosa", load=None)
        notes.append("librosa not installed: train.py's LoadAudio(sr=16000) is built with a stub (never called: no "
                     "input_audio column); install the `audio` extra as TRAIN.md says")
    from diffsynth.core.data import UnifiedDataset
    from diffsynth.core.data.operators import ImageCropAndResize, LoadAudio, LoadVideo, ToAbsolutePath

    want = expected(result, member)
    base, meta = trainmd_opt(exp, "--dataset_base_path"), trainmd_opt(exp, "--dataset_metadata_path")
    num_frames, max_pixels = int(trainmd_opt(exp, "--num_frames")), int(trainmd_opt(exp, "--max_pixels"))
    # examples/wanvideo/model_training/train.py, the dataset as built there (diffusion/parsers.py defaults:
    # --data_file_keys image,video, --height/--width None)
    ds = UnifiedDataset(
        base_path=base, metadata_path=meta, repeat=1, data_file_keys="image,video".split(","),
        main_data_operator=UnifiedDataset.default_video_operator(
            base_path=base, max_pixels=max_pixels, height=None, width=None, height_division_factor=16,
            width_division_factor=16, num_frames=num_frames, time_division_factor=4, time_division_remainder=1),
        special_operator_map={
            "animate_face_video": ToAbsolutePath(base) >> LoadVideo(num_frames, 4, 1, frame_processor=ImageCropAndResize(512, 512, None, 16, 16)),
            "input_audio": ToAbsolutePath(base) >> LoadAudio(sr=16000),
            "wantodance_music_path": ToAbsolutePath(base),
        })
    items, problems = {}, []
    for i in range(len(ds)):
        s = ds[i]
        stem = key(ds.data[i]["video"], member)
        w, h = s["video"][0].size
        items[stem] = {"frames": len(s["video"]), "size": f"{w}x{h}", "caption": s["prompt"]}
        clip = want.get(stem)
        if clip is None:
            problems.append(f"{stem}: not a packaged clip")
        elif len(s["video"]) != clip["frames"] or not size_ok(clip, w, h, member) or s["prompt"] != clip["caption"]:
            problems.append(f"{stem}: {items[stem]} != packaged {clip['frames']} {clip['width']}x{clip['height']} {clip['caption']!r}")
    return {"items": sum(1 for s in want if s in items), "loader": "diffsynth.core.data.UnifiedDataset (snapshot) as built in "
            "examples/wanvideo/model_training/train.py, ds[i] for every row", "samples": items, "problems": problems,
            "notes": notes, "stopped_at": "WanTrainingModule(model_id_with_origin_paths=…) (downloads the Wan 2.1 weights)"}


def run_diffusion_pipe(src: Path, exp: Path, result: Path, member: str) -> dict:
    import logging

    import av

    notes = ["deepspeed not installed: `deepspeed.utils.logging.logger` and `deepspeed.comm` stubbed as one process "
             "(rank 0, world size 1)",
             "ComfyUI submodule (pinned 9a9fdb10…) not fetchable here (1.1 GB snapshot): comfy_api.latest.InputImpl."
             "VideoFromFile stubbed with PyAV following ComfyUI's comfy_api/latest/_input_impl/video_types.py "
             "(frame count = stream.frames, else round(duration × average_rate); fps = average_rate; size = stream size)"]
    sys.path.insert(0, str(src))
    one = {"get_rank": lambda *a, **k: 0, "get_world_size": lambda *a, **k: 1, "barrier": lambda *a, **k: None,
           "is_initialized": lambda: False}
    stub("deepspeed", __path__=[])
    stub("deepspeed.utils", __path__=[])
    stub("deepspeed.utils.logging", logger=logging.getLogger("deepspeed"))
    stub("deepspeed.comm", __path__=[], **one)
    stub("deepspeed.comm.comm", **one)

    class VideoFromFile:
        def __init__(self, file):
            self.file = file

        def _stream(self):
            c = av.open(self.file)
            return c, c.streams.video[0]

        def get_dimensions(self):
            c, s = self._stream()
            with c:
                return s.width, s.height

        def get_frame_count(self):
            c, s = self._stream()
            with c:
                if s.frames:
                    return int(s.frames)
                return int(round(float(s.duration * s.time_base) * float(s.average_rate)))

        def get_frame_rate(self):
            c, s = self._stream()
            with c:
                return s.average_rate

    stub("comfy_api", __path__=[])
    stub("comfy_api.latest", InputImpl=types.SimpleNamespace(VideoFromFile=VideoFromFile))
    stub("comfy", __path__=[])
    sys.modules["comfy"].model_management = stub("comfy.model_management", unload_all_models=lambda: None)
    import toml
    from utils import dataset as dp

    dp.NUM_PROC = 1  # light CPU use; the map is the same with 2
    want = expected(result, member)
    train = toml.load(trainmd_opt(exp, "--config"))
    with open(train["dataset"]) as f:
        dataset_config = toml.load(f)
    # Dataset.__init__ for model type wan: name 'wan', framerate 16, pixels_round_to_multiple 16 (models/wan/wan.py, base.py)
    items, problems, buckets = {}, [], []
    for directory_config in dataset_config["directory"]:
        dd = dp.DirectoryDataset(directory_config, dataset_config, "wan", framerate=16, round_to_multiple=16)
        dd.cache_metadata(regenerate_cache=True)
        for ar_ds in dd.ar_bucket_datasets:
            ar, frames = ar_ds.ar_frames
            for res in ar_ds.resolutions:  # ARBucketDataset.cache_latents: the size bucket each item is cropped to
                import math

                w = dp.round_to_nearest_multiple(math.sqrt(res**2 * ar), 16)
                h = dp.round_to_nearest_multiple(res**2 / math.sqrt(res**2 * ar), 16)
                buckets.append(f"{w}x{h}x{frames}")
            for ex in ar_ds.metadata_dataset:
                stem = key(ex["image_spec"][1], member)
                items[stem] = {"frame_bucket": int(frames), "size_bucket": buckets[-1], "caption": ex["caption"][0],
                               "is_video": ex["is_video"]}
                clip = want.get(stem)
                if clip is None:
                    problems.append(f"{stem}: not a packaged clip")
                    continue
                if (int(frames), ex["caption"][0]) != (clip["frames"], clip["caption"]) or not size_ok(clip, w, h, member):
                    problems.append(f"{stem}: bucket {buckets[-1]}, caption {ex['caption'][0]!r}; packaged "
                                    f"{clip['width']}x{clip['height']}x{clip['frames']} {clip['caption']!r}")
    return {"items": sum(1 for s in want if s in items), "loader": "utils/dataset.py DirectoryDataset(…, 'wan', framerate=16, "
            "round_to_multiple=16).cache_metadata() (file listing, .txt captions, frame count, AR/frame buckets, grouping "
            "with HF datasets) + ARBucketDataset size buckets", "samples": items, "problems": problems, "notes": notes,
            "stopped_at": "ARBucketDataset.cache_latents(map_fn): map_fn is models/base.py PreprocessMediaFile + the Wan VAE; "
                          "models/base.py imports comfy.sd / peft / diffusers (ComfyUI submodule)"}


def run_ltx2(src: Path, exp: Path, result: Path, member: str) -> dict:
    pkg = src / "packages"
    sys.path[:0] = [str(pkg / "ltx-trainer/scripts"), str(pkg / "ltx-trainer/src"), str(pkg / "ltx-core/src")]
    import yaml
    from ltx_trainer.config import LtxTrainerConfig
    from process_captions import CaptionsDataset
    from process_dataset import _resolve_columns
    from process_videos import MediaDataset, detect_dataset_columns, parse_resolution_buckets

    notes, problems, items = [], [], {}
    want = expected(result, member)
    text = trainmd_commands(exp)
    dataset_file = Path(re.search(r"process_dataset\.py (\S+)", text).group(1))
    buckets = parse_resolution_buckets(trainmd_opt(exp, "--resolution-buckets"))
    with_audio = "--skip-audio" not in text
    # process_dataset.py: auto-detected columns, then process_videos.compute_latents → MediaDataset,
    # process_captions.compute_captions_embeddings → CaptionsDataset
    audio_load_with_pyav(notes)
    roles = _resolve_columns(detect_dataset_columns(dataset_file), None, None)
    ds = MediaDataset(dataset_file=dataset_file, main_media_column=roles["video"], video_column=roles["video"],
                      resolution_buckets=buckets, with_audio=with_audio)
    caps = CaptionsDataset(dataset_file, caption_column=roles["caption"], media_column=roles["video"])
    cap_by_out = dict(zip(caps.output_paths, caps.prompts, strict=True))
    for i in range(len(ds)):
        s = ds[i]
        stem = key(s["relative_path"], member)
        c, f, h, w = s["video"].shape
        out = str(Path(s["main_media_relative_path"]).with_suffix(".pt"))
        items[stem] = {"video": [c, f, h, w], "fps": s["video_metadata"]["fps"], "latent_file": out,
                       "audio": None if "audio" not in s else list(s["audio"]["waveform"].shape),
                       "caption_file_pairs": out in cap_by_out, "caption": cap_by_out.get(out)}
        clip = want.get(stem)
        if clip is None:
            problems.append(f"{stem}: not a packaged clip")
            continue
        if f != clip["frames"] or not size_ok(clip, w, h, member) or cap_by_out.get(out) != clip["caption"]:
            problems.append(f"{stem}: {items[stem]} vs packaged {clip['frames']} {clip['width']}x{clip['height']}")
        if with_audio and "audio" not in s:
            problems.append(f"{stem}: with_audio but no audio returned")
    cfg = yaml.safe_load((exp / "training.yaml").read_text())
    fake = Path(tempfile.mkdtemp())  # TRAIN.md: fill in the model paths; existing stand-ins so only the keys are judged
    (fake / "ltx-2-19b-dev.safetensors").touch()
    cfg["model"]["model_path"], cfg["model"]["text_encoder_path"] = str(fake / "ltx-2-19b-dev.safetensors"), str(fake)
    # and the folders process_dataset.py makes in --output-dir (the check wants them to exist)
    for sub in ("latents", "conditions", "audio_latents"):
        (fake / "pre" / sub).mkdir(parents=True)
    cfg["data"]["preprocessed_data_root"] = str(fake / "pre")
    try:
        LtxTrainerConfig(**cfg)
        notes.append("training.yaml (model paths and preprocessed_data_root as stand-ins that exist) validates against LtxTrainerConfig "
                     "(extra='forbid')")
    except Exception as e:  # placeholders for the model paths are expected to fail only on those
        notes.append(f"training.yaml vs LtxTrainerConfig: {type(e).__name__}: {str(e)[:600]}")
    return {"items": sum(1 for s in want if s in items and items[s]["caption_file_pairs"]), "roles": roles,
            "buckets": buckets, "with_audio": with_audio, "samples": items, "problems": problems, "notes": notes,
            "loader": "scripts/process_dataset.py column detection (_resolve_columns) → process_videos.MediaDataset "
                      "(every item: frames, crop, audio) + process_captions.CaptionsDataset (output names); LtxTrainerConfig",
            "stopped_at": "process_videos.compute_latents → load_video_vae_encoder(model_path) and process_captions → "
                          "load_text_encoder(Gemma): model weights; src/ltx_trainer/datasets.py PrecomputedDataset reads only their .pt"}


def run_ltx2_latents(src: Path, exp: Path, result: Path, member: str) -> dict:
    pkg = src / "packages"
    sys.path[:0] = [str(pkg / "ltx-trainer/src"), str(pkg / "ltx-core/src")]
    import yaml
    from ltx_trainer.config import LtxTrainerConfig
    from ltx_trainer.datasets import PrecomputedDataset
    from ltx_trainer.timestep_samplers import SAMPLERS
    from ltx_trainer.training_strategies import get_training_strategy
    from torch.utils.data import DataLoader

    notes, problems, items = [], [], {}
    cfg = yaml.safe_load((exp / "training.yaml").read_text())
    fake = Path(tempfile.mkdtemp())  # TRAIN.md: fill in the model paths; existing stand-ins (weights are not read here)
    (fake / "ltx-2-19b-dev.safetensors").touch()
    cfg["model"]["model_path"], cfg["model"]["text_encoder_path"] = str(fake / "ltx-2-19b-dev.safetensors"), str(fake)
    config = LtxTrainerConfig(**cfg)
    notes.append("training.yaml (model paths as existing stand-ins) validates against LtxTrainerConfig")
    # trainer.py _init_dataloader
    sources = config.training_strategy.get_data_sources()
    ds = PrecomputedDataset(config.data.preprocessed_data_root, data_sources=sources)
    loader = DataLoader(ds, batch_size=config.optimization.batch_size, shuffle=False, drop_last=True, num_workers=0)
    strategy = get_training_strategy(config.training_strategy)
    sampler = SAMPLERS[config.flow_matching.timestep_sampling_mode](**config.flow_matching.timestep_sampling_params)
    want = {c["item_id"]: c for c in package_clips(result, "step4-ltx2-preprocess")}
    prepared = 0
    for i, batch in enumerate(loader):
        rel = ds.sample_files["video_latents"][i]
        v, cond = batch["video_latents"], batch["conditions"]
        it = {"video_latents": list(v["latents"].shape), "dtype": str(v["latents"].dtype),
              "conditions": {k: list(t.shape) for k, t in cond.items()}}
        if "audio_latents" in batch:
            it["audio_latents"] = list(batch["audio_latents"]["latents"].shape)
        try:  # the step after the connectors (which need the Gemma folder): noise, patchify, masks
            mi = strategy.prepare_training_inputs(batch, sampler)
            it["prepared"] = {"video_targets": list(mi.video_targets.shape),
                              "audio_targets": None if mi.audio_targets is None else list(mi.audio_targets.shape)}
            prepared += 1
        except Exception as e:
            it["prepared"] = f"{type(e).__name__}: {str(e)[:300]}"
        items[str(rel)] = it
        stem = Path(rel).stem
        if stem not in want and not any(str(rel).endswith(f) for c in want.values() for f in c["files"].values()):
            problems.append(f"{rel}: not in latents.json")
    return {"items": len(items), "prepared": prepared, "sources": sources, "samples": items, "problems": problems,
            "notes": notes, "loader": "LtxTrainerConfig → training_strategy.get_data_sources() → datasets.PrecomputedDataset "
            "→ DataLoader (trainer.py _init_dataloader) → FlexibleStrategy.prepare_training_inputs (without the connectors)",
            "stopped_at": "trainer.py _training_step: _embeddings_processor.create_embeddings (connectors from the checkpoint, "
                          "load_embeddings_processor needs the Gemma folder) and the transformer"}


def run_ltxv(src: Path, exp: Path, result: Path, member: str) -> dict:
    sys.path[:0] = [str(src / "scripts"), str(src / "src")]
    from process_captions import CaptionsDataset
    from process_videos import MediaDataset, parse_resolution_buckets

    want = expected(result, "step3-ltx2-data")
    problems, items, notes = [], {}, []
    text = trainmd_commands(exp)
    runs = re.findall(r"preprocess_dataset\.py (\S+) --resolution-buckets (\S+)", text)
    for dataset_file, bucket in runs:
        # scripts/preprocess_dataset.py defaults: --caption-column caption, --video-column media_path
        ds = MediaDataset(dataset_file=dataset_file, main_media_column="media_path", video_column="media_path",
                          resolution_buckets=parse_resolution_buckets(bucket))
        caps = CaptionsDataset(dataset_file, caption_column="caption", media_column="media_path")
        for i in range(len(ds)):
            s = ds[i]
            rel = Path(s["main_media_relative_path"])
            items[rel.stem] = {"video": list(s["video"].shape), "fps": s["video_metadata"]["fps"], "bucket": bucket,
                               "latent_out": str(rel.with_suffix(".pt"))}
        for out, cap in caps.caption_data.items():
            stem = Path(out).stem
            items.setdefault(stem, {})["caption"] = cap
            items[stem]["caption_out"] = str(out)
        for stem, it in items.items():
            clip = want.get(stem)
            if clip is None:
                problems.append(f"{stem}: not a packaged clip")
                continue
            shape = it.get("video", [])
            if clip["frames"] not in shape or it.get("caption") != clip["caption"]:
                problems.append(f"{stem}: {it} vs packaged {clip['frames']} {clip['width']}x{clip['height']}")
            # process_videos writes latents/<media_path>.pt, process_captions conditions/<caption_out>:
            # PrecomputedDataset pairs latents/X.pt with conditions/X.pt
            if "latent_out" in it and it["latent_out"] != it.get("caption_out"):
                problems.append(f"{stem}: latents/{it['latent_out']} and conditions/{it.get('caption_out')} do not pair")
    return {"items": sum(1 for s in want if s in items and "video" in items[s] and items[s].get("caption")),
            "samples": items, "problems": problems, "notes": notes,
            "loader": "scripts/process_videos.py MediaDataset (decord) + scripts/process_captions.py CaptionsDataset per dataset file",
            "stopped_at": "compute_latents → load_vae / compute_captions_embeddings → load_text_encoder (T5): model weights"}


def run_ai_toolkit(src: Path, exp: Path, result: Path, member: str) -> dict:
    """ai-toolkit's own dataloader over the export, as jobs/process/BaseSDTrainProcess.py builds it: each
    ``datasets`` entry of the config TRAIN.md runs → ``DatasetConfig(**entry)`` →
    ``get_dataloader_from_datasets(configs, train.batch_size, sd=<model>)``, every batch iterated."""
    import importlib.machinery

    import yaml

    notes = ["albumentations not installed: stubbed (used only for `augments`, which the export sets none of)",
             "torchao not installed: stubbed (quantization of the model; config_modules imports one constant)",
             "cache_latents_to_disk and cache_text_embeddings set false, num_workers 0 here: caching latents / text "
             "embeddings are the first calls of the VAE / text encoder (model weights); the items are then the "
             "dataloader's own tensors"]
    sys.path.insert(0, str(src))
    for name, attrs in (("albumentations", {}), ("torchao", {"__path__": []}), ("torchao.quantization", {"__path__": []}),
                        ("torchao.quantization.quant_primitives", {"_DTYPE_TO_BIT_WIDTH": {}})):
        stub(name, **attrs).__spec__ = importlib.machinery.ModuleSpec(name, None)  # diffusers probes find_spec
    audio_load_with_pyav(notes)
    from toolkit.config_modules import DatasetConfig, preprocess_dataset_raw_config
    from toolkit.data_loader import get_dataloader_from_datasets

    cfg = yaml.safe_load(Path(trainmd_opt(exp, "run.py")).read_text(encoding="utf-8"))
    proc = cfg["config"]["process"][0]
    arch = proc["model"]["arch"]
    # get_bucket_divisibility() of the model classes (ltx2.py, wan21.py, wan22_5b_model.py @ the snapshot) and
    # their VAEs' temporal factor (vae.config.scale_factor_temporal: LTX-2 8, Wan 4), which the dataset reads
    divisibility = {"ltx2": 32, "wan21": 16, "wan22_5b": 32}[arch]
    temporal = {"ltx2": 8, "wan21": 4, "wan22_5b": 4}[arch]

    class Model:  # what the dataloader asks of the model object before it loads any weights
        use_raw_control_images = False
        model_config = types.SimpleNamespace(latent_space_version=None, arch=arch, is_pixart_sigma=False)
        latent_space_version = f"{arch}_v2"
        is_xl = is_v3 = is_auraflow = is_flux = is_vega = is_ssd = is_v = False
        vae = types.SimpleNamespace(config=types.SimpleNamespace(scale_factor_temporal=temporal))
        unet = adapter = None
        # toolkit/models/base_model.py BaseModel.__init__ defaults
        has_multiple_control_images, te_padding_side, text_embedding_space_version = False, "right", arch

        def encode_control_in_text_embeddings(self, *args, **kwargs):
            return None

        def get_bucket_divisibility(self):
            return divisibility

    configs = []
    for raw in preprocess_dataset_raw_config(proc["datasets"]):  # BaseSDTrainProcess.__init__: one per resolution
        d = DatasetConfig(**raw)
        d.cache_latents_to_disk = d.cache_text_embeddings = False
        d.num_workers = 0
        configs.append(d)
    loader = get_dataloader_from_datasets(configs, batch_size=proc["train"]["batch_size"], sd=Model())
    want = expected(result, member)
    items, problems = {}, []
    for batch in loader:
        for fi in batch.file_items:
            stem = key(fi.path, member)
            shape = list(fi.tensor.shape)  # (F, C, H, W) of a video, (C, H, W) of an image
            f, h, w = (shape[0], shape[2], shape[3]) if len(shape) == 4 else (1, shape[1], shape[2])
            audio = getattr(fi, "audio_data", None)
            items[stem] = {"tensor": shape, "caption": fi.raw_caption, "audio": audio is not None}
            clip = want.get(stem)
            if clip is None:
                problems.append(f"{stem}: not a packaged item")
            elif f != clip["frames"] or fi.raw_caption != clip["caption"] or not size_ok(clip, w, h, member):
                problems.append(f"{stem}: {f} frames {w}x{h} {fi.raw_caption!r} vs {clip['frames']} "
                                f"{clip['width']}x{clip['height']} {clip['caption']!r}")
            if any(d.do_audio for d in configs) and audio is None:
                problems.append(f"{stem}: do_audio but no audio loaded")
    return {"items": sum(1 for s in want if s in items), "samples": items, "problems": problems, "notes": notes,
            "loader": f"preprocess_dataset_raw_config → toolkit.config_modules.DatasetConfig(**entry) per `datasets` entry of {Path(trainmd_opt(exp, 'run.py')).name} "
                      "→ toolkit.data_loader.get_dataloader_from_datasets → every batch's file_items",
            "stopped_at": "LatentCachingMixin (cache_latents_to_disk) → the model's VAE encode, TextEmbeddingCachingMixin → "
                          "encode_prompt: model weights"}


if __name__ == "__main__":
    sys.exit(main())
