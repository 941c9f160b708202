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
  has the clip's sigma (reelset/wan.py ``training_loss`` reads the flag from the pipeline);
- 24 fps, 121 frames (5 s), 1280x704 / 704x1280 (reference: ``sample_fps = 24``,
  ``frame_num = 121``, sizes ``1280*704``, ``704*1280``); sampler shift 5.0
  (``sample_shift``; training keeps musubi-tuner's Wan shift 3.0 of reelset/wan.py);
- text: UMT5-XXL, 512 tokens, as Wan 2.1.

The model code is Wan 2.1's (:mod:`reelset.wan`, by reference), which reads these numbers from the
checkpoint's configs. Exports: DiffSynth-Studio (``examples/wanvideo/model_training/lora/
Wan2.2-TI2V-5B.sh``: metadata.csv, ``Wan-AI/Wan2.2-TI2V-5B`` files, ``Wan2.2_VAE.pth``) and
diffusion-pipe (model ``type = "wan"``, ``ckpt_path`` = the Wan2.2-TI2V-5B folder); musubi-tuner
trains the A14B experts (``--task t2v-A14B`` / ``i2v-A14B``), not TI2V-5B, so it is no target here
(kohya-ss/musubi-tuner @ 30c658c: ``wan/configs/__init__.py`` ``WAN_CONFIGS`` has no ``ti2v-5B``
task, only a leftover ``SUPPORTED_SIZES`` entry; docs/wan.md lists ``t2v-A14B``, ``i2v-A14B`` for
Wan 2.2 and calls ``Wan2.2_VAE.pth`` "for 5B model").
"""

from __future__ import annotations

from reelset.families import Family, Rules, TinyModel, Variant
from reelset.families.wan22.config import Wan22Config

FAMILY = Family(
    name="wan22",
    label="Wan 2.2 TI2V-5B",
    package_step="step3-wan22-package",
    package_script="step3_wan_package.py",
    rules=Rules(frame_step=Wan22Config.FRAME_STEP, size_multiple=Wan22Config.SIZE_MULTIPLE,
                fps=Wan22Config.model_fields["fps"].default,
                source="WanPipeline (diffusers 0.42.1): frames 4n+1, W, H multiples of vae scale_factor_spatial 16 x "
                       "patch 2; Wan2.2 wan/configs/wan_ti2v_5B.py: vae_stride (4, 16, 16), sample_fps 24, frame_num 121"),
    package_config_ref="reelset.families.wan22.config:Wan22Config",
    preprocess_config_ref="reelset.families.wan22.training:Wan22PreprocessConfig",
    train_config_ref="reelset.families.wan22.training:Wan22TrainConfig",
    model_ref="reelset.wan:WanModel",
    variants=(
        Variant(name="ti2v-5b", label="Wan 2.2 TI2V-5B", model="wan2.2-ti2v-5b", text_encoder="UMT5-XXL",
                rules=Rules(frame_step=4, size_multiple=16 * 2, fps=24.0,
                            source="Wan-Video/Wan2.2 @ 42bf4cf wan/configs/wan_ti2v_5B.py: vae_stride (4, 16, 16), "
                                   "patch_size (1, 2, 2), sample_fps 24, frame_num 121"),
                source="Wan-AI/Wan2.2-TI2V-5B-Diffusers (nix/models.toml wan2.2-ti2v-5b); Wan-Video/Wan2.2 @ 42bf4cf "
                       "wan/configs/wan_ti2v_5B.py"),
    ),
    default_variant="ti2v-5b",
    tiny=TinyModel(name="tiny-wan2.2", kind="wan22", recipe="reelset.families.wan22.tiny:make",
                   package={"max_frames": 17, "min_frames": 9, "sizes": ["96x64"]}),
    exports={"package": ("diffusion-pipe", "diffsynth", "ai-toolkit")},
    trainer_files={"checkpoint": "Wan-AI/Wan2.2-TI2V-5B", "vae": "Wan2.2_VAE.pth"},
    in_all=False,
)
