"""musubi-tuner (kohya-ss/musubi-tuner): its dataset config (TOML) for video LoRAs.

Facts, read at kohya-ss/musubi-tuner @ 30c658c4f4b0bf05038b3346eff9670259b10fc7 (config keys)
and @ 51be3dc5a202c7e0c3d4521065b769379c7a5b46 (tasks):
- ``src/musubi_tuner/dataset/config_utils.py`` passes ``video_directory`` / ``cache_directory``
  to glob/open unchanged (relative = the current directory's); ``cache_directory`` is a
  ``[[datasets]]`` key only.
- ``dataset/image_video_dataset.py``: ``frame_extraction = "full"`` takes up to ``max_frames``
  frames rounded down to 4n+1; the ``.txt`` caption lies beside each video (non-recursive glob).
- ``dataset/bucket.py`` ``BucketSelector.get_bucket_resolution``: with ``bucket_no_upscale`` an
  item whose area is at most ``resolution``'s keeps its own size (rounded down to 16); without
  it every item is resized to ``resolution``'s area — so reelset's written sizes (never
  upscaled) survive only with it.
- ``wan/configs/__init__.py`` ``WAN_CONFIGS``: tasks t2v-1.3B, t2v-14B, i2v-14B, … and Wan 2.2's
  t2v-A14B / i2v-A14B; no ti2v-5B — so the Wan 2.2 TI2V-5B package gets no musubi config.
- Wan 2.2 A14B (@ 30c658c, ``docs/wan.md`` "Wan2.2", ``wan_train_network.py``,
  ``training/trainer_base.py``): ``--task t2v-A14B``; ``--dit`` is the low-noise expert and
  ``--dit_high_noise`` the high-noise one, trained together (one LoRA file per run is saved for
  the model being trained; with both, the run switches experts per step at
  ``--timestep_boundary``, default the task's ``boundary`` 0.875, given as 0..1 or 0..1000); one
  expert alone is trained as ``--dit`` with ``--min_timestep``/``--max_timestep`` (0..1000: T2V
  high noise 875..1000, low noise 0..875, the doc's table) and ``--preserve_distribution_shape``
  (rejection sampling: the timestep distribution cut to the range, not squeezed into it); VAE
  ``Wan2.1_VAE.pth`` ("``Wan2.2_VAE.pth`` is for 5B model"), T5 as Wan 2.1, no CLIP.
"""

from __future__ import annotations

from pathlib import Path

REPO = "kohya-ss/musubi-tuner"
COMMIT = "30c658c4f4b0bf05038b3346eff9670259b10fc7"
FAMILIES = ("wan21", "wan22_a14b")  # reelset families musubi-tuner trains (WAN_CONFIGS, see above)


def trains(family: str) -> bool:
    """Whether musubi-tuner trains reelset family ``family`` (e.g. 'wan21' True, 'wan22' False)."""
    return family in FAMILIES


def dataset_config(sizes: list[tuple[int, int]], max_frames: int, video_directory: str, cache_directory: str) -> dict:
    """The dataset config of one video folder: ``sizes`` are the written (width, height) pixels,
    largest area first (``resolution`` is the first; bucketing on when there are several, no
    upscaling); ``max_frames`` the longest item's frames (4n+1); the two directories as the
    trainer will see them (relative to where it runs, or absolute). Returns the TOML as a dict."""
    if not sizes:
        raise ValueError("musubi dataset_config: no written size (an empty package has no config)")
    return {
        "general": {"resolution": list(sizes[0]), "caption_extension": ".txt", "batch_size": 1,
                    "enable_bucket": len(sizes) > 1, "bucket_no_upscale": True},
        # items are already 4n+1 frames at the family's fps: "full" takes all of them (max_frames caps)
        "datasets": [{"video_directory": video_directory, "cache_directory": cache_directory,
                      "frame_extraction": "full", "max_frames": max_frames}],
    }


def _train(task: str, models: str, toml: Path, outputs: Path, name: str, extra: str = "") -> str:
    """One ``wan_train_network.py`` command (the settings of its Wan guide's example)."""
    return f"""accelerate launch --num_cpu_threads_per_process 1 --mixed_precision bf16 src/musubi_tuner/wan_train_network.py \\
  --task {task} {models} --dataset_config {toml} --sdpa --mixed_precision bf16 \\
  --optimizer_type adamw8bit --learning_rate 2e-4 --gradient_checkpointing \\
  --network_module networks.lora_wan --network_dim 32 --network_alpha 32 \\
  --timestep_sampling shift --discrete_flow_shift 3.0 --max_train_epochs 16 --save_every_n_epochs 1 \\
  --seed 42 --output_dir {outputs} --output_name {name}{extra}"""


def _cache(toml: Path, t5: str, vae: str) -> str:
    return f"""cd musubi-tuner
python src/musubi_tuner/wan_cache_latents.py --dataset_config {toml} --vae {vae}
python src/musubi_tuner/wan_cache_text_encoder_outputs.py --dataset_config {toml} --t5 {t5}"""


def train_commands(toml: Path, dit: str, t5: str, outputs: Path, name: str) -> str:
    """TRAIN.md's musubi-tuner block: cache latents, cache T5 outputs, train a Wan 2.1 LoRA on ``toml``."""
    return f"""```sh
{_cache(toml, t5, "<wan_2.1_vae.safetensors>")}
{_train("t2v-1.3B", f"--dit {dit}", toml, outputs, name)}
```"""


def a14b_commands(toml: Path, dits: dict[str, str], t5: str, vae: str, outputs: Path, name: str,
                  experts: list[tuple[str, float, float]], boundary: float) -> str:
    """TRAIN.md's musubi-tuner block for Wan 2.2 T2V-A14B: cache once, then both experts in one run
    (``--dit`` low noise, ``--dit_high_noise``, ``--timestep_boundary``) and each expert alone
    (``--min_timestep``/``--max_timestep`` in 0..1000, ``--preserve_distribution_shape``).
    ``dits``: expert name ("high", "low") -> DiT file; ``experts``: (name, low, high) timestep
    fractions of each expert; ``boundary``: the switch, a fraction of 1000."""
    both = _train("t2v-A14B", f"--dit {dits['low']} --dit_high_noise {dits['high']}", toml, outputs, name,
                  f" \\\n  --timestep_boundary {round(boundary * 1000)} --offload_inactive_dit")
    alone = "\n".join(
        f"# the {e} expert alone\n"
        + _train("t2v-A14B", f"--dit {dits[e]}", toml, outputs, f"{name}-{e}",
                 f" \\\n  --min_timestep {round(lo * 1000)} --max_timestep {round(hi * 1000)} --preserve_distribution_shape")
        for e, lo, hi in experts)
    return f"""```sh
{_cache(toml, t5, vae)}
# both experts in one run (each step trains the expert its timestep falls to)
{both}
```

Or one expert at a time (as reelset trains them):

```sh
{alone}
```"""
