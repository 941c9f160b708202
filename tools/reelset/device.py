"""Device policy of the cuda steps: pick the device, refuse a silent CPU fallback, record the GPU.

A cuda step (``device = "cuda"`` in nix/steps.nix) needs a working CUDA device. Without one
it fails with a :class:`ReelsetError` that says why the GPU is not usable (no /dev/nvidiactl,
libcuda.so.1 not loadable, the library's own message) — unless the dataset explicitly allows
the CPU with ``[device] allow_cpu = true`` (:class:`reelset.schemas.device.DeviceConfig`).
Nix passes ``[device]`` to cuda steps only, so the policy is part of their spec and their hash.

The policy is an object, :class:`DevicePolicy`, not module state (issue 40): the harness
(:func:`reelset.step.main`) builds it from the step spec (:meth:`DevicePolicy.from_spec`), hands
it to a cuda tool's ``run`` (keyword ``policy``), which passes it to the model loaders
(``reelset.asr.whisper.load_whisper``, ``reelset.vlm.load``, ``reelset.voice.load_encoder``,
``reelset.train.device_and_dtype``; they call :meth:`DevicePolicy.pick`), and records it into
the tool's meta afterwards (:meth:`DevicePolicy.record`). Used outside a step (tests,
benchmarks, a REPL) ``DevicePolicy()`` has no rule: the GPU when there is one, else the CPU (logged).
``tools/cuda_probe.py`` (run by builders/check) reuses :func:`diagnose` and :func:`driver_info`.

Minimum drivers (:data:`MIN_DRIVER`): NVIDIA, "CUDA Compatibility", Table "CUDA Toolkit and
Minimum Required Driver Version for CUDA Minor Version Compatibility"
(https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html):
CUDA 13.x needs driver >= 580, 12.x >= 525, 11.x >= 450 (Linux).
"""

from __future__ import annotations

import ctypes
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reelset import ReelsetError
from reelset.schemas.base import GpuInfo, StepMeta, StepSpec
from reelset.schemas.device import DeviceConfig

Library = Literal["torch", "ctranslate2"]
GPU_REQUIRED = "gpu-required"
CPU_ALLOWED = "cpu-allowed"

# CUDA major version of a library build -> minimum Linux driver branch (see module docstring).
MIN_DRIVER = {13: 580, 12: 525, 11: 450}
DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")
# libraries whose kernels decide a cuda step's numbers; recorded when the step imported them
_NUMERIC_LIBRARIES = ("numpy", "torch", "ctranslate2", "onnxruntime", "transformers", "diffusers", "xgrammar")


@dataclass
class DevicePolicy:
    """The device policy of one step process and what it found: the harness
    (:func:`reelset.step.main`) builds it from the step spec (:meth:`from_spec`), hands it to the
    tool, which passes it to the model loaders (:meth:`pick`, :meth:`note`), and writes what it
    found into the step's meta afterwards (:meth:`record`). No module state: two policies in
    one process (tests) never see each other.

    ``rule``: :data:`GPU_REQUIRED`, :data:`CPU_ALLOWED`, or None — a cpu step, or no step at all
    (``DevicePolicy()``: tests, benchmarks, a REPL), where :meth:`pick` takes the GPU when there
    is one, else the CPU (logged)."""

    step: str | None = None
    dataset: str | None = None
    rule: str | None = None
    gpu: GpuInfo | None = None
    picked: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)  # see note()
    told: bool = False  # the "using the CPU" notice was logged (once per step process)

    @classmethod
    def from_spec(cls, spec: StepSpec) -> DevicePolicy:
        """The policy of the step ``spec`` describes: cpu steps have none; cuda steps are
        ``gpu-required`` unless ``spec.config["device"]`` says ``allow_cpu = true``.
        ReelsetError when ``[device]`` has unknown keys or wrong types."""
        if spec.device != "cuda":
            return cls(step=spec.step, dataset=spec.dataset)
        cfg = spec.section("device", DeviceConfig)
        return cls(step=spec.step, dataset=spec.dataset, rule=CPU_ALLOWED if cfg.allow_cpu else GPU_REQUIRED)

    def note(self, key: str, value: str) -> None:
        """Record a fact the step's numbers depend on beyond its derivation (e.g. the CPU ISA and
        GEMM backend CTranslate2 picked: ``ctranslate2_isa`` = ``AVX2``); :meth:`record` writes it
        into ``meta.json`` ``versions`` of a cuda step."""
        self.facts[key] = value

    def record(self, meta: StepMeta) -> None:
        """Write the policy, the GPU used (if any) and, for cuda steps, what their numbers depend on
        beyond the derivation into the step's meta (harness, after the tool): ``versions`` gets
        ``cpu`` (:func:`cpu_model`), the version of every numeric library the step imported
        (:data:`_NUMERIC_LIBRARIES`; ``torch_cuda`` for torch's CUDA build) and the facts of
        :meth:`note`. Two builders' differing outputs are then explainable from their meta.json
        (issue 23: tiny.en hears a name differently with oneDNN's int8 GEMM than with MKL's)."""
        meta.device_policy = self.rule
        meta.gpu = self.gpu
        if self.rule is None:
            return
        import sys
        facts = {"cpu": cpu_model()}
        for name in _NUMERIC_LIBRARIES:
            module = sys.modules.get(name)
            if module is not None and getattr(module, "__version__", None):
                facts[name] = str(module.__version__)
        torch = sys.modules.get("torch")
        if torch is not None and getattr(getattr(torch, "version", None), "cuda", None):
            facts["torch_cuda"] = str(torch.version.cuda)
        meta.versions = {**facts, **self.facts, **meta.versions}

    def pick(self, library: Library) -> str:
        """``'cuda'`` when ``library`` sees a working CUDA device, else ``'cpu'`` if the policy
        allows it (logged once per policy, however often a step asks); ReelsetError naming the
        step, the reason and the two fixes when the policy requires a GPU. Records the GPU (name,
        driver, CUDA versions) for meta.json."""
        from reelset.log import log

        ok, reason = _library_sees_cuda(library)
        if ok:
            self.gpu = _gpu_info(library)
            self.picked.append("cuda")
            return "cuda"
        where = f"{self.step} (dataset '{self.dataset}')" if self.step else "reelset"
        if self.rule == GPU_REQUIRED:
            raise ReelsetError(
                f"{where}: this cuda step needs a working CUDA device, but {library} sees none: {reason}. "
                "Fix the GPU builder (run builders/check; docs/builders.md), or, to run cuda steps on the CPU on "
                "purpose, set `[device]` `allow_cpu = true` in the dataset's dataset.toml (a different derivation: "
                "its outputs never replace the GPU ones).")
        if not self.told:  # once per step: the reason does not change between the libraries' calls
            log(f"{where}: {library} sees no CUDA device ({reason}); using the CPU"
                + (" ([device] allow_cpu = true)" if self.rule == CPU_ALLOWED else ""))
            self.told = True
        self.picked.append("cpu")
        return "cpu"


def cpu_model() -> str:
    """The CPU's vendor and model name from /proc/cpuinfo (``GenuineIntel Intel(R) Xeon(R)
    Processor``, ``AuthenticAMD AMD EPYC 9R14``), or '' where there is none."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    field_of = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in info.splitlines()) if v}
    return " ".join(x for x in (field_of.get("vendor_id", ""), field_of.get("model name", "")) if x)


def _library_sees_cuda(library: Library) -> tuple[bool, str]:
    """(usable, reason if not) for one library; the reason adds :func:`diagnose`."""
    if library == "torch":
        import torch

        if torch.cuda.is_available():
            return True, ""
        try:
            torch.cuda.init()           # raises with torch's own explanation
            own = "torch.cuda.is_available() is False"
        except Exception as exc:  # noqa: BLE001 - any torch error is the reason we report
            own = f"torch {torch.__version__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        facts = diagnose()
        need, have = min_driver(torch.version.cuda), driver_info()["driver_version"]
        if need and have and int(have.split(".")[0]) < need:
            facts.append(f"driver {have} is older than {need}, the minimum for CUDA {torch.version.cuda} builds")
        return False, "; ".join([own, *facts])
    if library == "ctranslate2":
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return True, ""
        return False, "; ".join([f"ctranslate2 {ctranslate2.__version__}: get_cuda_device_count() is 0", *diagnose()])
    raise ReelsetError(f"reelset.device.DevicePolicy.pick: unknown library {library!r} (use 'torch' or 'ctranslate2')")


def diagnose() -> list[str]:
    """Why this process may see no GPU, as short facts (device nodes, libcuda.so.1); empty
    when both are there."""
    facts = []
    if not os.path.exists("/dev/nvidiactl"):
        facts.append("/dev/nvidiactl does not exist (no NVIDIA driver loaded, or not mapped into the build "
                     "sandbox: extra-sandbox-paths)")
    elif not glob.glob("/dev/nvidia[0-9]*"):
        facts.append("no /dev/nvidia<N> GPU node")
    _, err = _libcuda()
    if err:
        facts.append(f"{err} (LD_LIBRARY_PATH={os.environ.get('LD_LIBRARY_PATH', '')!r})")
    return facts


def _libcuda() -> tuple[ctypes.CDLL | None, str | None]:
    """libcuda.so.1 (the driver's user-space library, found through LD_LIBRARY_PATH/ld.so) or
    the loader's error text."""
    try:
        return ctypes.CDLL("libcuda.so.1"), None
    except OSError as exc:
        return None, f"libcuda.so.1 cannot be loaded: {exc}"


def driver_info() -> dict[str, str | None]:
    """``{'driver_version': '580.65.06' | None, 'driver_cuda': '13.0' | None}``: the kernel
    driver (/proc/driver/nvidia/version, visible inside the sandbox's /proc) and the newest
    CUDA version its libcuda supports (cuDriverGetVersion, 1000*major + 10*minor)."""
    version = None
    try:
        text = DRIVER_VERSION_FILE.read_text(errors="replace")
        # "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 …"
        for tok in text.split("Kernel Module", 1)[-1].split():
            if tok[:1].isdigit() and "." in tok:
                version = tok
                break
    except OSError:
        pass
    cuda = None
    lib, _ = _libcuda()
    if lib is not None:
        v = ctypes.c_int(0)
        try:
            if lib.cuDriverGetVersion(ctypes.byref(v)) == 0 and v.value > 0:
                cuda = f"{v.value // 1000}.{(v.value % 1000) // 10}"
        except AttributeError:
            pass
    return {"driver_version": version, "driver_cuda": cuda}


def min_driver(cuda: str | None) -> int | None:
    """Minimum driver branch for a CUDA version string ('13.0' → 580), None when unknown."""
    try:
        return MIN_DRIVER.get(int(str(cuda).split(".")[0]))
    except ValueError:
        return None


def _gpu_name_from_proc() -> str:
    """GPU model from /proc/driver/nvidia/gpus/*/information ('Model: …'), for libraries that
    do not report one (CTranslate2)."""
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            for line in Path(info).read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            continue
    return "unknown NVIDIA GPU"


def _gpu_info(library: Library) -> GpuInfo:
    """The GPU ``library`` will use (device 0) with the driver's and the library's CUDA versions."""
    if library == "torch":
        import torch

        name, lib, lib_cuda = torch.cuda.get_device_name(0), f"torch {torch.__version__}", torch.version.cuda
    else:
        import ctranslate2

        name, lib, lib_cuda = _gpu_name_from_proc(), f"ctranslate2 {ctranslate2.__version__}", None
    return GpuInfo(name=name, library=lib, library_cuda=lib_cuda, **driver_info())

