"""Every dataset folder in pipelines/ is valid: dataset.toml against its schema, videos present."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from conftest import REPO
from reelset.schemas.dataset import DatasetConfig

DATASETS = sorted(p.parent for p in (REPO / "pipelines").glob("*/dataset.toml"))


@pytest.mark.parametrize("folder", DATASETS, ids=lambda p: p.name)
def test_dataset_toml_validates(folder):
    cfg = DatasetConfig.model_validate(tomllib.loads((folder / "dataset.toml").read_text()))
    assert cfg.name == folder.name
    for video in cfg.videos:
        if video.path is not None:
            assert (folder / video.path).is_file(), video


def test_video_entry_needs_one_source():
    with pytest.raises(ValidationError, match="exactly one of 'path'"):
        DatasetConfig.model_validate({"name": "x", "videos": [{"id": "a"}]})
    with pytest.raises(ValidationError, match="'file' needs 'sha256'"):
        DatasetConfig.model_validate({"name": "x", "videos": [{"id": "a", "file": "a.mkv"}]})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        DatasetConfig.model_validate({"name": "x", "videos": [{"id": "a", "path": "a.mp4"}], "scenes": {"treshold": 3}})


def test_sections_come_from_the_step_declarations():
    """Issue 40: dataset.toml's sections are the ones the steps declare (``Step.config``, section →
    model) and the families' own; a new step with settings adds its section without an edit of
    reelset/schemas/dataset.py, an opt-in section defaults to null, and one section with two
    models is refused naming both steps."""
    from pydantic import Field

    from reelset import ReelsetError, families
    from reelset.declare import Step, collect
    from reelset.schemas.base import Strict
    from reelset.schemas.dataset import TOOLS, step_sections
    from reelset.schemas.scenes import SceneConfig

    declared = {sec for s in collect(TOOLS) for sec in s.config}
    assert set(DatasetConfig.model_fields) == {"name", "description", "videos", "bible"} | declared
    assert {f.name for f in families.every()} <= declared and {"asr", "device", "stills"} <= declared

    class ExtraConfig(Strict):
        """``[extra]`` of dataset.toml."""

        strength: float = Field(0.5, description="How strong.")

    extra = Step(name="step9-extra", device="cpu", level="dataset", script="x.py", config={"extra": ExtraConfig},
                 opt_in="extra")
    other = Step(name="step9-other", device="cpu", level="dataset", script="y.py", config={"scenes": SceneConfig})
    sections = step_sections([other, extra])
    assert list(sections) == ["scenes", "extra"]
    assert sections["extra"][0] == ExtraConfig | None and sections["extra"][1].default is None
    assert "Taken by step9-extra; without this section" in sections["extra"][1].description
    clash = Step(name="step9-clash", device="cpu", level="dataset", script="z.py", config={"scenes": ExtraConfig})
    with pytest.raises(ReelsetError, match=r"\[scenes\]: step step9-clash \(z.py\) declares it as ExtraConfig, step9-other as SceneConfig"):
        step_sections([other, clash])
