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
