"""DiffSynth-Studio (modelscope/DiffSynth-Studio): the commands that train a Wan LoRA on a
reelset package (``metadata.csv`` with ``video`` and ``prompt`` columns).

Facts read at modelscope/DiffSynth-Studio @ fed7b18fac2ed4cb802796eec91970e7659bccde (listed in
reelset.export's docstring: ``--dataset_base_path`` joins, ``LoadAudio`` needs librosa, sizes
floored to multiples of 16 under ``--max_pixels``).
"""

from __future__ import annotations

from pathlib import Path

REPO = "modelscope/DiffSynth-Studio"
COMMIT = "fed7b18fac2ed4cb802796eec91970e7659bccde"


def train_commands(dest: Path, max_pixels: int, num_frames: int, release: str, vae: str) -> str:
    """TRAIN.md's DiffSynth-Studio block: install (with librosa), train a Wan LoRA on ``dest/metadata.csv``."""
    return f"""```sh
cd DiffSynth-Studio
pip install -e ".[audio]"          # librosa: train.py imports it
export DIFFSYNTH_DOWNLOAD_SOURCE=HuggingFace   # optional: models from Hugging Face, not ModelScope
accelerate launch examples/wanvideo/model_training/train.py \\
  --dataset_base_path {dest} --dataset_metadata_path {dest / 'metadata.csv'} \\
  --max_pixels {max_pixels} --num_frames {num_frames} --dataset_repeat 10 \\
  --model_id_with_origin_paths "{release}:diffusion_pytorch_model*.safetensors,{release}:models_t5_umt5-xxl-enc-bf16.pth,{release}:{vae}" \\
  --learning_rate 1e-4 --num_epochs 5 --remove_prefix_in_ckpt "pipe.dit." \\
  --output_path {dest / 'outputs'} --lora_base_model dit --lora_target_modules "q,k,v,o,ffn.0,ffn.2" --lora_rank 32
```"""
