"""Wan 2.2 TI2V-5B (text-to-video LoRAs): the family declaration (see :mod:`reelset.families`).

Why TI2V-5B: it is the Wan 2.2 checkpoint people train LoRAs on with one GPU (5B parameters, one
transformer), and diffusers loads it with the plain ``WanPipeline`` (``Wan-AI/Wan2.2-TI2V-5B-Diffusers``).
The A14B checkpoints are two 14B experts (``transformer`` for high noise, ``transformer_2`` below
``boundary_ratio`` x 1000), each trained as its own LoRA; they would need two train steps (new
code), and their clip rules are not TI2V-5B's (Wan-Video/Wan2.2 @ 42bf4cf
``wan/configs/wan_t2v_A14B.py``: Wan 2.1's VAE, ``vae_stride = (4, 8, 8)``, patch ``(1, 2, 2)``:
sizes multiples of 16; ``shared_config.py``: ``sample_fps = 16``, ``frame_num = 81``;
``high_noise_model`` / ``low_noise_model``, ``boundary = 0.875``), so they are no variant of this
family (whose variants share its package): the one variant is TI2V-5B.

Rules, from the model's own code (diffusers 0.42.1 and the Wan2.2 reference config
``wan/configs/wan_ti2v_5B.py``):

- VAE ``AutoencoderKLWan`` with ``z_dim`` 48, ``is_residual``, ``patch_size`` 2 (it folds 2x2
  pixels into 12 input channels before encoding), ``scale_factor_spatial`` 16,
  ``scale_factor_temporal`` 4 (reference: ``vae_stride = (4, 16, 16)``): a W x H x F clip gives
  latents (48, (F-1)/4+1, H/16, W/16);
- transformer patch (1, 2, 2), so W and H are multiples of 16 x 2 = 32 (``WanPipeline.__call__``:
  ``h_multiple_of = vae_scale_factor_spatial * patch_size[1]``) and F = 4n+1
  (``num_frames % vae_scale_factor_temporal == 1``);
- ``expand_timesteps = True`` in ``model_index.json``: the transformer takes one timestep per
  latent token, (B, F' x H'/2 x W'/2) (``WanPipeline.__call__``); for text-to-video every token
  has the clip's sigma (reelset/wan21.py ``training_loss`` reads the flag from the pipeline);
- 24 fps, 121 frames (5 s), 1280x704 / 704x1280 (reference: ``sample_fps = 24``,
  ``frame_num = 121``, sizes ``1280*704``, ``704*1280``); sampler shift 5.0
  (``sample_shift``; training keeps musubi-tuner's Wan shift 3.0 of reelset/wan21.py);
- text: UMT5-XXL, 512 tokens, as Wan 2.1.

The model code is Wan 2.1's (:mod:`reelset.wan21`), which reads these numbers from the
checkpoint's configs. Exports: DiffSynth-Studio (``examples/wanvideo/model_training/lora/
Wan2.2-TI2V-5B.sh``: metadata.csv, ``Wan-AI/Wan2.2-TI2V-5B`` files, ``Wan2.2_VAE.pth``) and
diffusion-pipe (model ``type = "wan"``, ``ckpt_path`` = the Wan2.2-TI2V-5B folder); musubi-tuner
trains the A14B experts (``--task t2v-A14B`` / ``i2v-A14B``), not TI2V-5B, so it is no target here
(kohya-ss/musubi-tuner @ 30c658c: ``wan/configs/__init__.py`` ``WAN_CONFIGS`` has no ``ti2v-5B``
task, only a leftover ``SUPPORTED_SIZES`` entry; docs/wan.md lists ``t2v-A14B``, ``i2v-A14B`` for
Wan 2.2 and calls ``Wan2.2_VAE.pth`` "for 5B model").
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import ClassVar

from pydantic import Field

from reelset.families import Family, Rules, TinyModel, Variant
from reelset.schemas.latents import PreprocessConfig
from reelset.schemas.train import TrainConfig
from reelset.schemas.wan21_package import WanPackageConfig


class Wan22Config(WanPackageConfig):
    """``[wan22]`` of dataset.toml: step3-wan22-package (Wan 2.2 TI2V-5B trainers: DiffSynth-Studio,
    diffusion-pipe). Without this section the step is not part of `all`."""

    LABEL: ClassVar[str] = "Wan 2.2 TI2V-5B"
    SIZE_MULTIPLE: ClassVar[int] = 32
    FRAME_STEP: ClassVar[int] = 4

    fps: float = Field(24.0, gt=0, description="Target frame rate, frames per second (Wan 2.2 TI2V-5B: sample_fps 24).")
    max_frames: int = Field(121, ge=1, description="Most frames per clip, 4n+1 (TI2V-5B's frame_num 121 = 5 s at 24 fps); longer clips are trimmed from the end.")
    min_frames: int = Field(17, ge=1, description="Fewest frames per clip, 4n+1; a clip with fewer frames at `fps` is dropped (reason in manifest.json).")
    sizes: list[str] = Field(default_factory=lambda: ["1280x704", "704x1280"], min_length=1, description="Output sizes 'WxH' (pixels, multiples of 32: VAE 16x x patch 2); each clip gets the size of nearest aspect ratio (ties: larger area), scaled to cover and center-cropped.")
    audio: bool = Field(False, description="Keep the clip's audio (AAC); Wan 2.2 TI2V-5B is video-only, so off by default.")


class Wan22PreprocessConfig(PreprocessConfig):
    """``[wan22_preprocess]`` of dataset.toml: step4-wan22-preprocess (VAE latents, 48 channels, and
    UMT5 text embeddings of every clip of step3-wan22-package)."""

    max_text_tokens: int = Field(512, ge=8, le=4096, description="Caption tokens kept by the UMT5 text encoder (WanPipeline's max_sequence_length is 512).")
    audio: bool = Field(False, description="Ignored: Wan 2.2 TI2V-5B is a video-only model.")


class Wan22TrainConfig(TrainConfig):
    """``[wan22_train]`` of dataset.toml: step5-wan22-train (Wan 2.2 TI2V-5B LoRA)."""


TINY_TEXT_HIDDEN = 32      # UMT5 d_model = transformer text_dim (4096 in TI2V-5B)
TINY_LATENT_CHANNELS = 48  # Wan 2.2 VAE z_dim, as the real one


def make_tiny(out: Path, kit: ModuleType) -> None:
    """Write a tiny random-config Wan 2.2 TI2V-5B diffusers pipeline into ``out`` (about 4 MB,
    float32, deterministic: ``kit.SEED``, one torch thread), loadable by ``WanPipeline.from_pretrained``:
    ``vae/`` AutoencoderKLWan with TI2V-5B's layout (z_dim 48, is_residual, patch 2, 12 in/out
    channels, 16x spatial / 4x temporal, dim_mult 1-2-4-4) at base width 8, one res block per stage,
    latents_mean 0 / latents_std 1; ``transformer/`` WanTransformer3DModel (2 blocks of 2 x 12,
    in/out 48, patch (1, 2, 2), text_dim 32); ``text_encoder/`` UMT5 (2 layers, d_model 32) and the
    T5 tokenizer of ``kit.make_t5_tokenizer``; ``scheduler/`` UniPC flow sigmas, shift 5.0
    (TI2V-5B's sample_shift); ``model_index.json`` with ``expand_timesteps = true``."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(kit.SEED)
    torch.set_num_threads(1)
    tok = kit.make_t5_tokenizer()
    text_config = UMT5Config(
        vocab_size=len(tok), d_model=TINY_TEXT_HIDDEN, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
        tie_word_embeddings=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id)
    text_config.architectures = ["UMT5EncoderModel"]
    text_encoder = UMT5EncoderModel(text_config).eval()
    vae = AutoencoderKLWan(base_dim=8, decoder_base_dim=8, z_dim=TINY_LATENT_CHANNELS, dim_mult=[1, 2, 4, 4],
                           num_res_blocks=1, attn_scales=[], temperal_downsample=[False, True, True], is_residual=True,
                           in_channels=12, out_channels=12, patch_size=2, scale_factor_spatial=16,
                           scale_factor_temporal=4, latents_mean=[0.0] * TINY_LATENT_CHANNELS,
                           latents_std=[1.0] * TINY_LATENT_CHANNELS)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=TINY_LATENT_CHANNELS,
        out_channels=TINY_LATENT_CHANNELS, text_dim=TINY_TEXT_HIDDEN, freq_dim=256, ffn_dim=48, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
    scheduler = UniPCMultistepScheduler(
        num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0,
        solver_order=2, solver_type="bh2", predict_x0=True, lower_order_final=True, final_sigmas_type="zero",
        timestep_spacing="linspace", beta_start=0.0001, beta_end=0.02, beta_schedule="linear")
    pipe = WanPipeline(tokenizer=tok, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer,
                       expand_timesteps=True)
    pipe.save_pretrained(out, safe_serialization=True)


FAMILY = Family(
    name="wan22",
    label="Wan 2.2 TI2V-5B",
    package_step="step3-wan22-package",
    package_script="step3_wan_package.py",
    rules=Rules(frame_step=Wan22Config.FRAME_STEP, size_multiple=Wan22Config.SIZE_MULTIPLE,
                fps=Wan22Config.model_fields["fps"].default,
                source="WanPipeline (diffusers 0.42.1): frames 4n+1, W, H multiples of vae scale_factor_spatial 16 x "
                       "patch 2; Wan2.2 wan/configs/wan_ti2v_5B.py: vae_stride (4, 16, 16), sample_fps 24, frame_num 121"),
    package_config_ref="reelset.families.wan22:Wan22Config",
    preprocess_config_ref="reelset.families.wan22:Wan22PreprocessConfig",
    train_config_ref="reelset.families.wan22:Wan22TrainConfig",
    model_module="reelset.wan21",
    variants=(
        Variant(name="ti2v-5b", label="Wan 2.2 TI2V-5B", model="wan2.2-ti2v-5b", text_encoder="UMT5-XXL",
                rules=Rules(frame_step=4, size_multiple=16 * 2, fps=24.0,
                            source="Wan-Video/Wan2.2 @ 42bf4cf wan/configs/wan_ti2v_5B.py: vae_stride (4, 16, 16), "
                                   "patch_size (1, 2, 2), sample_fps 24, frame_num 121"),
                source="Wan-AI/Wan2.2-TI2V-5B-Diffusers (nix/models.toml wan2.2-ti2v-5b); Wan-Video/Wan2.2 @ 42bf4cf "
                       "wan/configs/wan_ti2v_5B.py"),
    ),
    default_variant="ti2v-5b",
    tiny=TinyModel(name="tiny-wan2.2", kind="wan22", recipe=make_tiny,
                   package={"max_frames": 17, "min_frames": 9, "sizes": ["96x64"]}),
    exports={"package": ("diffusion-pipe", "diffsynth", "ai-toolkit")},
    trainer_files={"checkpoint": "Wan-AI/Wan2.2-TI2V-5B", "vae": "Wan2.2_VAE.pth"},
    in_all=False,
)
