"""Wan 2.2 T2V-A14B (text-to-video LoRAs on two experts): the family declaration (see
:mod:`reelset.families`), its config models and its experts.

What A14B is (Wan-Video/Wan2.2 @ 42bf4cf ``wan/configs/wan_t2v_A14B.py``, ``shared_config.py``;
the same numbers in kohya-ss/musubi-tuner @ 30c658c ``src/musubi_tuner/wan/configs/wan_t2v_A14B.py``
and tdrussell/diffusion-pipe @ 8f83dbf ``models/wan/configs.py``): two 14B transformers of Wan 2.1's
shape, ``high_noise_model`` and ``low_noise_model``, switched at ``boundary = 0.875`` of the 1000
timesteps (the high-noise expert denoises timesteps >= 875, the low-noise one below); Wan 2.1's
VAE (``Wan2.1_VAE.pth``, ``vae_stride = (4, 8, 8)``), patch ``(1, 2, 2)``, UMT5-XXL text encoder;
``sample_fps = 16``, ``frame_num = 81``, ``sample_shift = 12.0``. In diffusers
(``Wan-AI/Wan2.2-T2V-A14B-Diffusers``; ``WanPipeline`` of diffusers 0.42.1) the high-noise expert
is ``transformer``, the low-noise one ``transformer_2``, and ``boundary_ratio`` 0.875 in
``model_index.json`` switches them (``WanPipeline.__call__``: ``transformer`` for
``t >= boundary_ratio * num_train_timesteps``). So the clip rules are Wan 2.1's — 16 fps, 4n+1
frames, sizes multiples of 16 — and the package step is step3_wan_package.py with them.

Experts (:data:`EXPERTS`): ``high`` trains ``transformer`` on timesteps [875, 1000), ``low``
trains ``transformer_2`` on [0, 875) — musubi-tuner's recommended ``--min_timestep`` /
``--max_timestep`` for T2V (docs/wan.md, "Recommended Min/Max Timestep Settings for Wan2.2") and
diffusion-pipe's ``min_t`` / ``max_t`` (docs/supported_models.md, "Wan2.2"). ``[wan22_a14b_train]
experts`` picks which are trained (both by default); each is its own LoRA and its own chain of
segment derivations (tools/step5_train_segment.py), and the validation samples put each LoRA on
its own expert.

Why I2V-A14B is no variant: its clip rules are the same, but its boundary is 0.9 (the experts'
ranges are family data) and it is image-to-video — its transformers take 36 input channels (the
noisy latents, a first-frame mask and the first frame's latents), inputs this family's model code
does not make. It would be a family of its own.
"""

from __future__ import annotations

from reelset.families import Family, Rules, TinyModel, Variant
from reelset.families.model import Expert
from reelset.families.wan22_a14b.config import Wan22A14BConfig

# timestep fraction where the experts switch (wan_t2v_A14B.py boundary; model_index.json boundary_ratio)
BOUNDARY = 0.875
_RANGES = ("Wan-Video/Wan2.2 @ 42bf4cf wan/configs/wan_t2v_A14B.py boundary 0.875; kohya-ss/musubi-tuner @ 30c658c "
           "docs/wan.md: T2V min/max timestep 875-1000 (high), 0-875 (low)")
EXPERTS = (Expert(name="high", component="transformer", low=BOUNDARY, high=1.0, source=_RANGES),
           Expert(name="low", component="transformer_2", low=0.0, high=BOUNDARY, source=_RANGES))

FAMILY = Family(
    name="wan22_a14b",
    label="Wan 2.2 T2V-A14B",
    package_step="step3-wan22_a14b-package",
    package_script="step3_wan_package.py",
    rules=Rules(frame_step=Wan22A14BConfig.FRAME_STEP, size_multiple=Wan22A14BConfig.SIZE_MULTIPLE,
                fps=Wan22A14BConfig.model_fields["fps"].default,
                source="Wan-Video/Wan2.2 @ 42bf4cf wan/configs/wan_t2v_A14B.py: vae_stride (4, 8, 8), patch_size (1, 2, 2); "
                       "shared_config.py: sample_fps 16, frame_num 81; WanPipeline (diffusers 0.42.1): frames 4n+1, W, H "
                       "multiples of 8 x 2"),
    package_config_ref="reelset.families.wan22_a14b.config:Wan22A14BConfig",
    preprocess_config_ref="reelset.families.wan22_a14b.training:Wan22A14BPreprocessConfig",
    train_config_ref="reelset.families.wan22_a14b.training:Wan22A14BTrainConfig",
    model_ref="reelset.families.wan22_a14b.model:WanA14BModel",
    experts=EXPERTS,
    variants=(
        Variant(name="t2v-a14b", label="Wan 2.2 T2V-A14B", model="wan2.2-t2v-a14b", text_encoder="UMT5-XXL",
                rules=Rules(frame_step=4, size_multiple=8 * 2, fps=16.0,
                            source="Wan-Video/Wan2.2 @ 42bf4cf wan/configs/wan_t2v_A14B.py: vae_stride (4, 8, 8), "
                                   "patch_size (1, 2, 2); shared_config.py: sample_fps 16"),
                source="Wan-AI/Wan2.2-T2V-A14B-Diffusers (nix/models.toml wan2.2-t2v-a14b); Wan-Video/Wan2.2 @ 42bf4cf "
                       "wan/configs/wan_t2v_A14B.py"),
    ),
    default_variant="t2v-a14b",
    tiny=TinyModel(name="tiny-wan2.2-a14b", kind="wan22_a14b", recipe="reelset.families.wan22_a14b.tiny:make",
                   package={"max_frames": 17, "min_frames": 9, "sizes": ["64x48"]}),
    exports={"package": ("musubi", "diffusion-pipe", "diffsynth")},
    # and each expert's folder of the release (musubi-tuner's wan_t2v_A14B.py high_noise_checkpoint /
    # low_noise_checkpoint; DiffSynth-Studio's and diffusion-pipe's examples load from them)
    trainer_files={"checkpoint": "Wan-AI/Wan2.2-T2V-A14B", "vae": "Wan2.1_VAE.pth", "high": "high_noise_model",
                   "low": "low_noise_model"},
    in_all=False,
)
