"""The numeric kernels a CPU run of the ASR steps is pinned to, so that every x86-64-v3 (AVX2) CPU
writes the same transcript bytes (issue 37).

Without them each library picks its kernels from the CPU it finds, and the int8 / float sums
of tiny.en's decoder come out in another order on another CPU (bench/RESULTS.md, issues 23 and 37):

- ``CT2_USE_MKL=0``: CTranslate2's GEMM backend is oneDNN on every x86 CPU (by default Intel MKL on
  GenuineIntel CPUs, oneDNN elsewhere; CTranslate2 ``src/cpu/backend.cc``, ``mayiuse_mkl_init``);
- ``CT2_FORCE_CPU_ISA=AVX2``: CTranslate2's own kernels (``src/cpu/cpu_isa.cc``);
- ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN's JIT kernels, which ``CT2_FORCE_CPU_ISA`` does not reach
  (oneDNN's "CPU dispatcher control", ``dev_guide_cpu_dispatcher_control``);
- ``OPENBLAS_CORETYPE=Haswell``: numpy's OpenBLAS (the log-mel filterbank's matrix product);
- ``NPY_DISABLE_CPU_FEATURES``: numpy's own SIMD loops (log10 of the mel spectrum) stay at x86-64-v3
  (numpy 2.4 dispatches ``X86_V3``, ``X86_V4``, ``AVX512_ICL``, ``AVX512_SPR``);
- the intra-op threads are ``[asr] cpu_threads`` (a config key, so already an input).

They are read when the libraries load, so they must be in the process environment before Python
starts: the Nix derivation of each step that runs CTranslate2 carries them (``nix/steps.nix``
``cpuKernels``, from ``nix/cpu-kernels.json``, written from :data:`PINNED` by tools/gen_docs.py),
and the tests run the tools' CLIs with them (tests/conftest.py ``run_tool``). GPU runs are not
affected: CTranslate2 decodes on the device and only the log-mel features stay on the CPU.
Silero VAD's onnxruntime picks its kernels by CPU with no switch; it is recorded, not pinned.
"""

from __future__ import annotations

import os

PINNED: dict[str, str] = {
    "CT2_USE_MKL": "0",
    "CT2_FORCE_CPU_ISA": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}


def pinned_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with :data:`PINNED` over it."""
    return {**(os.environ if env is None else env), **PINNED}


def in_effect() -> dict[str, str]:
    """The pinning variables as this process got them ("" when unset): meta.json's record."""
    return {k: os.environ.get(k, "") for k in PINNED}


def unpinned() -> list[str]:
    """The variables of :data:`PINNED` whose value in this process differs from the pinned one."""
    return [k for k, v in PINNED.items() if os.environ.get(k) != v]
