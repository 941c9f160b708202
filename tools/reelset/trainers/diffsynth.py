"""DiffSynth-Studio (modelscope/DiffSynth-Studio): the commands that train a Wan LoRA on a
reelset package (``metadata.csv`` with ``video`` and ``prompt`` columns).

Facts read at modelscope/DiffSynth-Studio @ fed7b18fac2ed4cb802796eec91970e7659bccde (listed in
reelset.export's docstring: ``--dataset_base_path`` joins, ``LoadAudio`` needs librosa, sizes
floored to multiples of 16 under ``--max_pixels``).
"""

from __future__ import annotations

from pathlib import Path

# Wan 2.2 A14B: ``examples/wanvideo/model_training/lora/Wan2.2-T2V-A14B.sh`` trains each expert by
# its own command, the release's ``high_noise_model/`` or ``low_noise_model/`` weights, with
# ``--min_timestep_boundary`` / ``--max_timestep_boundary``: fractions of the scheduler's timestep
# list (``diffsynth/diffusion/loss.py``: ``timestep_id = randint(min x n, max x n)`` over
# ``pipe.scheduler.timesteps``, highest noise first), not of 1000 — the example gives 0..0.417 for
# timesteps [875, 1000] (high) and 0.417..1 for [0, 875) (low); I2V-A14B 0.358 for 900.
A14B_BOUNDARIES = {"high": (0.0, 0.417), "low": (0.417, 1.0)}

REPO = "modelscope/DiffSynth-Studio"
COMMIT = "fed7b18fac2ed4cb802796eec91970e7659bccde"


def _train(dest: Path, max_pixels: int, num_frames: int, release: str, vae: str, dit: str, output: Path,
           extra: str = "") -> str:
    """One ``train.py`` command of a Wan LoRA on ``dest/metadata.csv`` (``dit``: the release's weights glob)."""
    return f"""accelerate launch examples/wanvideo/model_training/train.py \\
  --dataset_base_path {dest} --dataset_metadata_path {dest / 'metadata.csv'} \\
  --max_pixels {max_pixels} --num_frames {num_frames} --dataset_repeat 10 \\
  --model_id_with_origin_paths "{release}:{dit},{release}:models_t5_umt5-xxl-enc-bf16.pth,{release}:{vae}" \\
  --learning_rate 1e-4 --num_epochs 5 --remove_prefix_in_ckpt "pipe.dit." \\
  --output_path {output} --lora_base_model dit --lora_target_modules "q,k,v,o,ffn.0,ffn.2" --lora_rank 32{extra}"""


INSTALL = """cd DiffSynth-Studio
pip install -e ".[audio]"          # librosa: train.py imports it
export DIFFSYNTH_DOWNLOAD_SOURCE=HuggingFace   # optional: models from Hugging Face, not ModelScope"""


def train_commands(dest: Path, max_pixels: int, num_frames: int, release: str, vae: str) -> str:
    """TRAIN.md's DiffSynth-Studio block: install (with librosa), train a Wan LoRA on ``dest/metadata.csv``."""
    return f"""```sh
{INSTALL}
{_train(dest, max_pixels, num_frames, release, vae, "diffusion_pytorch_model*.safetensors", dest / 'outputs')}
```"""


def a14b_commands(dest: Path, max_pixels: int, num_frames: int, release: str, vae: str,
                  experts: dict[str, str]) -> str:
    """TRAIN.md's DiffSynth-Studio block for Wan 2.2 A14B: one command per expert (``experts``:
    name "high"/"low" -> the release's folder of its weights), each with its
    :data:`A14B_BOUNDARIES` and its own output folder ``outputs/<name>``."""
    cmds = "\n".join(
        f"# the {name} expert\n" + _train(dest, max_pixels, num_frames, release, vae,
                                          f"{folder}/diffusion_pytorch_model*.safetensors", dest / "outputs" / name,
                                          f" \\\n  --min_timestep_boundary {A14B_BOUNDARIES[name][0]:g} "
                                          f"--max_timestep_boundary {A14B_BOUNDARIES[name][1]:g}")
        for name, folder in experts.items())
    return f"""```sh
{INSTALL}
{cmds}
```"""
