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
"""

from __future__ import annotations

from pathlib import Path

REPO = "kohya-ss/musubi-tuner"
COMMIT = "30c658c4f4b0bf05038b3346eff9670259b10fc7"
FAMILIES = ("wan21",)  # reelset families musubi-tuner trains (WAN_CONFIGS, see above)


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


def train_commands(toml: Path, dit: str, t5: str, outputs: Path, name: str) -> str:
    """TRAIN.md's musubi-tuner block: cache latents, cache T5 outputs, train a Wan 2.1 LoRA on ``toml``."""
    return f"""```sh
cd musubi-tuner
python src/musubi_tuner/wan_cache_latents.py --dataset_config {toml} --vae <wan_2.1_vae.safetensors>
python src/musubi_tuner/wan_cache_text_encoder_outputs.py --dataset_config {toml} --t5 {t5}
accelerate launch --num_cpu_threads_per_process 1 --mixed_precision bf16 src/musubi_tuner/wan_train_network.py \\
  --task t2v-1.3B --dit {dit} --dataset_config {toml} --sdpa --mixed_precision bf16 \\
  --optimizer_type adamw8bit --learning_rate 2e-4 --gradient_checkpointing \\
  --network_module networks.lora_wan --network_dim 32 --network_alpha 32 \\
  --timestep_sampling shift --discrete_flow_shift 3.0 --max_train_epochs 16 --save_every_n_epochs 1 \\
  --seed 42 --output_dir {outputs} --output_name {name}
```"""
