"""LTX-2 (Lightricks, audio + video): the family declaration (see :mod:`reelset.families`).

Package step step3-ltx2-data (tools/step3_ltx2_data.py, ``[ltx2]``); latents and training through
:mod:`reelset.families.ltx2.model` (LTX2Pipeline, diffusers 0.42.1); exports for the LTX-2 trainer and the
LTX-Video-Trainer (reelset/export.py); tiny model: ``tools/make_tiny_models.py ltx2`` (recipe: ``tiny.py``).

Variants (``[ltx2_preprocess] variant``; sources: Lightricks/LTX-2 @ 400fd31 README.md,
MODELS-LTX-2.3.md, packages/ltx-trainer/docs/quick-start.md and dataset-preparation.md;
diffusers 0.42.1 pipelines/ltx2): LTX-2 (19B, Gemma 3 12B), LTX-2.3 (22B, Gemma 3 12B, text
projection per modality) and LTX-2.5 (22B, an LTX-specific Gemma 4 12B: its text features are not
interchangeable with the Gemma 3 ones, so a switch re-makes every condition). The trainer's docs
give one bucket rule for all three (W, H multiples of 32, F = 8n+1: the default VAE's factors;
its scripts read the actual factors from the checkpoint): the variants share the family's
rules and package, which the 2.5 VAE config would confirm (not read here: the checkpoint is
gated; diffusers' ``dfr_layout.py`` gives its temporal factor, 8). ``model`` of 2.3 / 2.5 is the
diffusers folder the ``LTX2Pipeline`` docstrings load (``diffusers/LTX-2.3-Diffusers``,
``Lightricks/LTX-2.5-Diffusers``), not pinned yet (nix/models.toml). reelset's model code
(:mod:`reelset.families.ltx2.model`) follows the checkpoint's configs (e.g. ``per_modality_projections`` of
2.3); it is tested with the tiny LTX-2.0-layout model only.
"""

from __future__ import annotations

from reelset.families import Family, Rules, TinyModel, Variant
from reelset.families.ltx2.config import Ltx2Config

FAMILY = Family(
    name="ltx2",
    label="LTX-2",
    package_step="step3-ltx2-data",
    package_script="step3_ltx2_data.py",
    # the rules' one home is the package config (Ltx2Config: its docstring gives the sources)
    rules=Rules(frame_step=Ltx2Config.FRAME_STEP, size_multiple=Ltx2Config.SIZE_MULTIPLE,
                fps=float(Ltx2Config.model_fields["fps"].default),
                source="ltx-trainer docs/dataset-preparation.md: W, H multiples of 32 (VAE), F % 8 == 1; trained at 24 or 25 fps"),
    package_config_ref="reelset.families.ltx2.config:Ltx2Config",
    preprocess_config_ref="reelset.families.ltx2.training:Ltx2PreprocessConfig",
    train_config_ref="reelset.families.ltx2.training:Ltx2TrainConfig",
    model_ref="reelset.families.ltx2.model:LTX2Model",
    variants=(
        Variant(name="ltx-2", label="LTX-2 19B dev", model="ltx-2", text_encoder="Gemma 3 12B",
                trainer_models={"checkpoint": "ltx-2-19b-dev-checkpoint", "text_encoder": "gemma-3-12b-it-qat-q4_0-unquantized"},
                source="Lightricks/LTX-2 @ 9ce438b README.md, packages/ltx-trainer/docs/quick-start.md: "
                       "ltx-2-19b-dev.safetensors + a Gemma 3 folder; diffusers folder Lightricks/LTX-2"),
        Variant(name="ltx-2.3", label="LTX-2.3 22B dev", model="ltx-2.3", text_encoder="Gemma 3 12B",
                trainer_models={"checkpoint": "ltx-2.3-22b-dev-checkpoint", "text_encoder": "gemma-3-12b-it-qat-q4_0-unquantized"},
                source="Lightricks/LTX-2 @ 400fd31 MODELS-LTX-2.3.md: Lightricks/LTX-2.3 ltx-2.3-22b-dev.safetensors "
                       "(transformer, VAEs, text projection), Gemma 3 google/gemma-3-12b-it-qat-q4_0-unquantized; "
                       "diffusers folder diffusers/LTX-2.3-Diffusers (diffusers 0.42.1 pipeline_ltx2_ic_lora.py)"),
        Variant(name="ltx-2.5", label="LTX-2.5 22B dev", model="ltx-2.5",
                text_encoder="Gemma 4 12B fine-tuned for LTX (gemma4-12b-ltx-v1; Google's Gemma 4 is no substitute)",
                trainer_models={"checkpoint": "ltx-2.5-22b-dev-split", "text_encoder": "ltx-2.5-gemma4-12b-text-encoder"},
                source="Lightricks/LTX-2 @ 400fd31 README.md (Lightricks/LTX-2.5, one file per component), "
                       "packages/ltx-trainer/docs/quick-start.md + dataset-preparation.md (split pack: transformer, "
                       "text encoder, video and audio VAE paths; conditions/ not interchangeable with 2.3's); "
                       "diffusers folder Lightricks/LTX-2.5-Diffusers (diffusers 0.42.1 pipeline_ltx2_dfr.py)"),
    ),
    default_variant="ltx-2",
    tiny=TinyModel(name="tiny-ltx2", kind="ltx2", recipe="reelset.families.ltx2.tiny:make", package={"fps": 24, "buckets": ["96x64x17", "64x96x9"]}),
    exports={"package": ("ltx2-trainer", "ltxv-trainer", "ai-toolkit"), "latents": ("ltx2-trainer",),
             "stills": ("ltx2-trainer",)},
)
