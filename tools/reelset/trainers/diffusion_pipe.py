"""diffusion-pipe (tdrussell/diffusion-pipe): its dataset config (TOML) for video LoRAs.

Facts, read at tdrussell/diffusion-pipe @ 8f83dbf25d03219df705570ec03e62be04bc402f:
``utils/dataset.py``: ``[[directory]] path`` is used as given (cwd-relative), the cache is
written to ``<path>/cache/<model>``, every file in ``path`` that is not ``.txt``/``.json``/… is
media (so only clips and their ``.txt`` captions go there); an item whose frame count is in no
``frame_buckets`` entry is dropped, so every written count is listed (and 1, for stills); each
item is resized to the area of ``resolutions`` within its aspect bucket (``ar_buckets``).
Wan 2.2 A14B (``docs/supported_models.md`` "Wan2.2", ``models/wan/configs.py``): model ``type =
"wan"``, ``ckpt_path`` the release folder, ``transformer_path`` the expert's subfolder
(``high_noise_model`` / ``low_noise_model``: one expert per run, "you can train LoRAs for either
one, or both"), and ``min_t`` / ``max_t`` its timestep range as fractions (t = 1 is noise; T2V:
high 0.875..1, low 0..0.875).
"""

from __future__ import annotations

REPO = "tdrussell/diffusion-pipe"
COMMIT = "8f83dbf25d03219df705570ec03e62be04bc402f"
FAMILIES = ("wan21", "wan22", "wan22_a14b")  # model type "wan" (Wan 2.1, Wan 2.2 TI2V-5B and A14B checkpoints)


def trains(family: str) -> bool:
    """Whether diffusion-pipe trains reelset family ``family``."""
    return family in FAMILIES


def dataset_config(sizes: list[tuple[int, int]], frames: list[int], directory: str) -> dict:
    """The dataset config of one media folder: ``sizes`` the written (width, height) pixels,
    largest area first (``resolutions`` is the first, every size an aspect bucket); ``frames``
    the written frame counts (all listed, with 1); ``directory`` as the trainer will see it.
    Returns the TOML as a dict."""
    if not sizes:
        raise ValueError("diffusion-pipe dataset_config: no written size (an empty package has no config)")
    return {"resolutions": [list(sizes[0])], "enable_ar_bucket": True, "ar_buckets": [list(s) for s in sizes],
            "frame_buckets": sorted({1, *frames}), "directory": [{"path": directory, "num_repeats": 1}]}


def expert_model(ckpt: str, folder: str, low: float, high: float) -> dict:
    """The ``[model]`` table of one Wan 2.2 A14B expert's run: the release folder ``ckpt``, the
    expert's weights ``<ckpt>/<folder>`` and its timestep range [low, high] (fractions)."""
    return {"type": "wan", "ckpt_path": ckpt, "transformer_path": f"{ckpt}/{folder}", "dtype": "bfloat16",
            "min_t": low, "max_t": high}
