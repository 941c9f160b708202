"""``[device]`` of dataset.toml: the device policy of every cuda step (reader: reelset/device.py).

Nix passes this section to the cuda steps only (``config = [ … "device" ]`` in nix/steps.nix),
so it is part of their spec and their hash: an output made with ``allow_cpu = true`` never
shares a store path with one made under the default policy (a GPU is required).
"""

from __future__ import annotations

from pydantic import Field

from reelset.schemas.base import Strict


class DeviceConfig(Strict):
    """``[device]`` of dataset.toml: may a cuda step run on the CPU?"""

    allow_cpu: bool = Field(False, description="false (default): a cuda step fails with a clear error when no working CUDA device is visible, instead of running silently on the CPU (a rented GPU builder whose driver is not visible in the build would otherwise cache a slow CPU result under the GPU step's store path). true: cuda steps run on the CPU when no GPU is visible (demo, tests, laptops); meta.json records the device used.")
