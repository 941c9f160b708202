"""cuda-probe: can the cuda steps' environment use the GPU? Built by builders/check on a builder.

Not a pipeline step: builders/check wraps it with nix/mkStep.nix as a derivation with
``requiredSystemFeatures = [ "cuda" ]`` and the step toolchain (same interpreter, PATH,
LD_LIBRARY_PATH, sandbox or __noChroot as a real cuda step), so what it finds is what a
cuda step will find. It never fails on a missing GPU: it writes ``$out/probe.json`` and
builders/check turns that into [ok]/[FAIL] lines.

Spec (env ``reelsetSpec``, JSON): ``{"nonce": str, "whisper": store path | null, ...}`` —
``whisper``: a CTranslate2 Whisper model directory (faster-whisper tiny.en) for a real
CTranslate2 CUDA op (the encoder runs cuBLAS GEMMs); without it only a device copy is tried.

probe.json::

    {"python": "3.11.9", "executable": "...", "ld_library_path": "...",
     "driver_version": "580.65.06" | null, "driver_cuda": "13.0" | null, "facts": [...],
     "programs": {"ffmpeg": "ffmpeg version 6.0-static …" | "error: …", "ffprobe": …},
     "imports": {"torch": "2.14.1+cu130" | "error: …", "ctranslate2", "transformers", "xgrammar", "diffusers"},
     "torch": {"version", "cuda", "available", "device", "op", "error"},
     "ctranslate2": {"version", "cuda_devices", "op", "error", "torch_loaded"},
     "constrained": {"backend", "op", "error"}, "cuda_visible_devices": "0" | null}

CTranslate2 is probed first, before torch is imported, as step2-transcript-base loads it;
``constrained`` is :func:`probe_constrained` (the steps' constrained-decoding mask on the GPU).

``op`` is a short description of the CUDA computation that ran and matched the CPU result,
null if none ran; ``error`` the first line of the exception (or why nothing ran).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from reelset import device


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:400]


def probe_torch() -> dict:
    """torch: version, built CUDA, is_available, and one matmul on the GPU checked on the CPU."""
    r: dict = {"version": None, "cuda": None, "available": False, "device": None, "op": None, "error": None}
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - report any import failure
        r["error"] = f"import torch failed: {first_line(exc)}"
        return r
    r.update(version=torch.__version__, cuda=torch.version.cuda)
    try:
        r["available"] = bool(torch.cuda.is_available())
        if not r["available"]:
            torch.cuda.init()   # raises with torch's reason
            r["error"] = "torch.cuda.is_available() is False"
            return r
        r["device"] = torch.cuda.get_device_name(0)
        g = torch.Generator().manual_seed(0)
        a = torch.randn(256, 256, generator=g)
        got = (a.cuda() @ a.cuda()).cpu()
        torch.cuda.synchronize()
        if not torch.allclose(got, a @ a, rtol=1e-3, atol=1e-2):
            r["error"] = "a 256x256 matmul on the GPU differs from the CPU result"
            return r
        r["op"] = "256x256 float32 matmul (cuBLAS) matches the CPU"
    except Exception as exc:  # noqa: BLE001
        r["error"] = first_line(exc)
    return r


def probe_ctranslate2(whisper: str | None) -> dict:
    """CTranslate2: version, CUDA device count, a device round trip and, with a model, the
    Whisper encoder in float16 on the GPU."""
    r: dict = {"version": None, "cuda_devices": 0, "op": None, "error": None}
    try:
        import ctranslate2
        import numpy as np
    except Exception as exc:  # noqa: BLE001
        r["error"] = f"import ctranslate2 failed: {first_line(exc)}"
        return r
    r["version"] = ctranslate2.__version__
    try:
        r["cuda_devices"] = ctranslate2.get_cuda_device_count()
        if r["cuda_devices"] < 1:
            r["error"] = "get_cuda_device_count() is 0"
            return r
        x = np.arange(16, dtype=np.float32)
        back = np.array(ctranslate2.StorageView.from_array(x).to_device(ctranslate2.Device.cuda)
                        .to_device(ctranslate2.Device.cpu))
        if not np.array_equal(back, x):
            r["error"] = "a host → GPU → host copy changed the data"
            return r
        ops = ["host/GPU copy"]
        if whisper:
            model = ctranslate2.models.Whisper(whisper, device="cuda", compute_type="float16")
            feats = ctranslate2.StorageView.from_array(np.zeros((1, 80, 3000), dtype=np.float32))
            enc = np.array(model.encode(feats, to_cpu=True))
            if enc.ndim != 3 or not np.isfinite(enc.astype(np.float32)).all():
                r["error"] = f"Whisper encoder on the GPU gave shape {enc.shape} / non-finite values"
                return r
            ops.append(f"Whisper encoder float16 on the GPU (cuBLAS), output {tuple(enc.shape)}")
        else:
            ops.append("no Whisper model given: encoder not run")
        r["op"] = "; ".join(ops)
    except Exception as exc:  # noqa: BLE001
        r["error"] = first_line(exc)
    return r


def probe_constrained() -> dict:
    """Constrained decoding as step2-caption and the multimodal pass run it
    (:class:`reelset.vlm.GrammarLogitsProcessor`) on logits on the GPU: the token bitmask of a
    tiny JSON grammar applied by the kernel the steps choose for CUDA (torch-native: no Triton,
    no compiler), checked against xgrammar's CPU kernel."""
    r: dict = {"backend": None, "op": None, "error": None}
    try:
        import torch
        import xgrammar as xgr

        from reelset import vlm

        if not torch.cuda.is_available():
            r["error"] = "no CUDA device for torch"
            return r
        vocab = ["</s>", "{", "}", '"', "n", ":", " ", ",", "x", *"0123456789"]
        compiled = xgr.GrammarCompiler(xgr.TokenizerInfo(vocab, stop_token_ids=[0])).compile_json_schema(
            json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
            any_whitespace=False)
        scores = torch.randn((1, len(vocab)), generator=torch.Generator().manual_seed(0))
        processor = vlm.GrammarLogitsProcessor(compiled)
        got = processor(torch.zeros((1, 1), dtype=torch.long).cuda(), scores.clone().cuda()).cpu()
        want = vlm.GrammarLogitsProcessor(compiled)(torch.zeros((1, 1), dtype=torch.long), scores.clone())
        r["backend"] = processor.backend
        if not torch.equal(torch.isinf(got), torch.isinf(want)) or torch.isinf(got).all():
            r["error"] = f"the {processor.backend} token mask on the GPU differs from xgrammar's CPU kernel"
            return r
        allowed = int((~torch.isinf(got)).sum())
        r["op"] = f"JSON-grammar token mask ({processor.backend} kernel, {allowed} of {len(vocab)} tokens allowed) matches the CPU"
    except Exception as exc:  # noqa: BLE001 - report any failure
        r["error"] = first_line(exc)
    return r


# what the cuda steps import (step2-transcript-*, step2-caption, step4/5) and run
PACKAGES = ("torch", "ctranslate2", "transformers", "xgrammar", "diffusers")
PROGRAMS = ("ffmpeg", "ffprobe")


def probe_environment() -> dict:
    """``{"programs": {name: first line of -version | "error: …"}, "imports": {package: version |
    "error: …"}}`` for :data:`PROGRAMS` (the ones reelset.media runs: the env's own static build)
    and :data:`PACKAGES`."""
    import importlib
    import importlib.metadata
    import subprocess

    from reelset import media

    programs, imports = {}, {}
    for name in PROGRAMS:
        try:
            proc = subprocess.run([media.tool(name), "-version"], capture_output=True, text=True, timeout=60)
            programs[name] = proc.stdout.splitlines()[0] if proc.returncode == 0 and proc.stdout else \
                f"error: exit {proc.returncode}: {proc.stderr.strip()[:200]}"
        except Exception as exc:  # noqa: BLE001 - report any failure
            programs[name] = f"error: {first_line(exc)}"
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
            imports[name] = str(getattr(module, "__version__", None) or importlib.metadata.version(name))
        except Exception as exc:  # noqa: BLE001
            imports[name] = f"error: {first_line(exc)}"
    return {"programs": programs, "imports": imports}


def main() -> int:
    spec = json.loads(os.environ.get("reelsetSpec") or "{}")
    out = Path(os.environ.get("out") or sys.argv[1])
    # the steps' import order: CTranslate2 without torch first (step2-transcript-base), then the rest
    ct2 = probe_ctranslate2(spec.get("whisper"))
    ct2["torch_loaded"] = "torch" in sys.modules
    result = {"python": platform.python_version(), "executable": sys.executable,
              "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""), "nonce": spec.get("nonce"),
              "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
              **device.driver_info(), "facts": device.diagnose(), "ctranslate2": ct2,
              **probe_environment(), "torch": probe_torch(), "constrained": probe_constrained()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"[reelset] cuda-probe: {json.dumps(result)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
