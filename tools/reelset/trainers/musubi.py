"""musubi-tuner (kohya-ss/musubi-tuner): its dataset config (TOML) for video LoRAs.

Facts, read at kohya-ss/musubi-tuner @ 30c658c4f4b0bf05038b3346eff9670259b10fc7 (config keys)
and @ 51be3dc5a202c7e0c3d4521065b769379c7a5b46 (tasks):
- ``src/musubi_tuner/dataset/config_utils.py`` passes ``video_directory`` / ``cache_directory``
  to glob/open unchanged (relative = the current directory's); ``cache_directory`` is a
  ``[[datasets]]`` key only.
- ``dataset/image_video_dataset.py``: ``frame_extraction = "full"`` takes up to ``max_frames``
  frames rounded down to 4n+1; the ``.txt`` caption lies beside each video (non-recursive glob).
- ``dataset/bucket.py`` ``BucketSelector.get_bucket_resolution``: with ``bucket_no_upscale`` an
  item whose area is at most ``resolution``'s keeps its own size (rounded down to 16); without
  it every item is resized to ``resolution``'s area — so reelset's written sizes (never
  upscaled) survive only with it.
- ``wan/configs/__init__.py`` ``WAN_CONFIGS``: tasks t2v-1.3B, t2v-14B, i2v-14B, … and Wan 2.2's
  t2v-A14B / i2v-A14B; no ti2v-5B — so the Wan 2.2 TI2V-5B package gets no musubi config.
"""

from __future__ import annotations

REPO = "kohya-ss/musubi-tuner"
COMMIT = "30c658c4f4b0bf05038b3346eff9670259b10fc7"
FAMILIES = ("wan21",)  # reelset families musubi-tuner trains (WAN_CONFIGS, see above)


def trains(family: str) -> bool:
    """Whether musubi-tuner trains reelset family ``family`` (e.g. 'wan21' True, 'wan22' False)."""
    return family in FAMILIES


def dataset_config(sizes: list[tuple[int, int]], max_frames: int, video_directory: str, cache_directory: str) -> dict:
    """The dataset config of one video folder: ``sizes`` are the written (width, height) pixels,
    largest area first (``resolution`` is the first; bucketing on when there are several, no
    upscaling); ``max_frames`` the longest item's frames (4n+1); the two directories as the
    trainer will see them (relative to where it runs, or absolute). Returns the TOML as a dict."""
    if not sizes:
        raise ValueError("musubi dataset_config: no written size (an empty package has no config)")
    return {
        "general": {"resolution": list(sizes[0]), "caption_extension": ".txt", "batch_size": 1,
                    "enable_bucket": len(sizes) > 1, "bucket_no_upscale": True},
        # items are already 4n+1 frames at the family's fps: "full" takes all of them (max_frames caps)
        "datasets": [{"video_directory": video_directory, "cache_directory": cache_directory,
                      "frame_extraction": "full", "max_frames": max_frames}],
    }
