# mkStep: one reelset step (or one per-video shard of it) as a plain Nix `derivation`.
#
# No stdenv and no shell: the builder is the toolchain's Python and its argument is the
# step's tool script (cuda steps: the GPU-slot launcher, then the script); the tool reads the
# JSON spec from env `reelsetSpec` and writes `$out` (artifact JSON, media, meta.json,
# index.html) and nothing else.
#
# Arguments of `import ./mkStep.nix`:
#   toolchain : attrset  from nix/toolchains/{host,nixpkgs}.nix:
#                 { name; pythonFor = device: "<interpreter path>"; binPath; fingerprint;
#                   impure (bool); env (attrset of extra env vars);
#                   envFor = device: attrset (optional, e.g. LD_LIBRARY_PATH of the driver) }
#   system    : string   e.g. "x86_64-linux"
#   toolsDir  : path     the repo's tools/ folder
#
# The returned function takes:
#   step : attrset  an entry of nix/steps.nix (name, device, script, sources; cpuKernels = true:
#                   the environment of nix/cpu-kernels.json pins the numeric kernels of a CPU run,
#                   tools/reelset/cpu_kernels.py)
#   name : string   derivation name, e.g. "reelset-demo-step1-scenes-demo01"
#   spec : attrset  JSON-able spec for the tool (store paths as strings keep their context,
#                   so upstream outputs, videos and models become build inputs)
#
# Example:
#   mkStep { step = steps.byName.step1-scenes; name = "reelset-demo-step1-scenes-ep01";
#            spec = { step = "step1-scenes"; dataset = "demo"; video = "${video}"; ... }; }
#
# Device mapping: "cuda" → requiredSystemFeatures = [ "cuda" ] (only a machine or builder
# with the cuda system feature builds it) and the tool runs under reelset/gpu_slots.py, which
# holds one GPU of the builder for it (CUDA_VISIBLE_DEVICES); "cpu" → preferLocalBuild = true
# (never shipped to a remote builder). Host toolchain: __noChroot = true (needs sandbox = relaxed or false).
{ toolchain, system, toolsDir }:
{ step, name, spec }:
let
  # cuda steps start through the GPU-slot launcher (one GPU per step, tools/reelset/gpu_slots.py)
  launcher = if step.device == "cuda" then [ "reelset/gpu_slots.py" ] else [ ];
  declared = [ step.script ] ++ step.sources ++ builtins.filter (f: !builtins.elem f step.sources) launcher;
  missing = builtins.filter (f: !builtins.pathExists (toolsDir + "/${f}")) declared;
  src = import ./narrowSource.nix { inherit toolsDir declared; name = "reelset-${step.name}-src"; };
  kernelAttrs = if step.cpuKernels or false then builtins.fromJSON (builtins.readFile ./cpu-kernels.json) else { };
  deviceAttrs =
    if step.device == "cuda" then { requiredSystemFeatures = [ "cuda" ]; }
    else if step.device == "cpu" then { preferLocalBuild = true; allowSubstitutes = false; }
    else throw "mkStep: step ${step.name} has device '${step.device}'; use \"cpu\" or \"cuda\" in nix/steps.nix";
in
if missing != [ ] then
  throw "mkStep: step ${step.name} declares ${builtins.concatStringsSep ", " (map (f: "tools/${f}") missing)}, which does not exist; fix `script`/`sources` in nix/steps.nix"
else
  derivation ({
    inherit name system;
    builder = toolchain.pythonFor step.device;
    # -B: no .pyc next to the read-only sources; -s: ignore the user's site-packages
    args = [ "-B" "-s" ] ++ map (f: "${src}/${f}") launcher ++ [ "${src}/${step.script}" ];
    reelsetSpec = builtins.toJSON (spec // { toolchain = { inherit (toolchain) name fingerprint; }; });
    reelsetToolchain = toolchain.fingerprint;
    PATH = toolchain.binPath;
    PYTHONDONTWRITEBYTECODE = "1";
    PYTHONUNBUFFERED = "1";
    HF_HUB_OFFLINE = "1";
    TRANSFORMERS_OFFLINE = "1";
  } // kernelAttrs // toolchain.env // (toolchain.envFor or (_: { })) step.device // deviceAttrs // (if toolchain.impure then { __noChroot = true; } else { }))
