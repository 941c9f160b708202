"""LTX-2 (Lightricks, audio + video): the family declaration (see :mod:`reelset.families`).

Package step step3-ltx2-data (tools/step3_ltx2_data.py, ``[ltx2]``); latents and training through
:mod:`reelset.ltx2` (LTX2Pipeline, diffusers 0.42.1); exports for the LTX-2 trainer and the
LTX-Video-Trainer (reelset/export.py); tiny model: ``tools/make_tiny_models.py ltx2``.
"""

from __future__ import annotations

from reelset.families import Family, Rules, TinyModel
from reelset.schemas.ltx2_data import Ltx2Config

FAMILY = Family(
    name="ltx2",
    label="LTX-2",
    package_step="step3-ltx2-data",
    package_script="step3_ltx2_data.py",
    # the rules' one home is the package config (Ltx2Config: its docstring gives the sources)
    rules=Rules(frame_step=Ltx2Config.FRAME_STEP, size_multiple=Ltx2Config.SIZE_MULTIPLE,
                fps=float(Ltx2Config.model_fields["fps"].default),
                source="ltx-trainer docs/dataset-preparation.md: W, H multiples of 32 (VAE), F % 8 == 1; trained at 24 or 25 fps"),
    package_config_ref="reelset.schemas.ltx2_data:Ltx2Config",
    preprocess_config_ref="reelset.schemas.latents:Ltx2PreprocessConfig",
    train_config_ref="reelset.schemas.train:Ltx2TrainConfig",
    model_module="reelset.ltx2",
    default_model="ltx-2",
    tiny=TinyModel(name="tiny-ltx2", kind="ltx2", package={"fps": 24, "buckets": ["96x64x17", "64x96x9"]}),
    exports={"package": ("ltx2-trainer", "ltxv-trainer"), "latents": ("ltx2-trainer",)},
)
