# nixpkgs toolchain (pure): runs step tools with a Python environment built from nixpkgs —
# a plain one for cpu steps, a CUDA one (`config.cudaSupport = true`) for cuda steps — and
# nixpkgs' ffmpeg. Nothing here is evaluated until a step asks for it, so a host-toolchain
# build never imports nixpkgs, and cpu steps never import the CUDA package set.
#
# This file cannot be evaluated on machines without GitHub access; every attribute name was
# checked against NixOS/nixpkgs sources (see docs/nixpkgs-toolchain.md for the table).
#
# Inputs:
#   nixpkgs    : flake input or path   NixOS/nixpkgs (anything `import` accepts; `rev` is read
#                                      if present, for the fingerprint)
#   system     : string                "x86_64-linux", "aarch64-linux" (cpu + cuda) or
#                                      "aarch64-darwin", "x86_64-darwin" (cpu only)
#   cudaConfig : attrset (optional)    extra nixpkgs config for the CUDA set, e.g.
#                                      { cudaCapabilities = [ "8.9" ]; } (fewer GPU targets,
#                                      much shorter torch build)
#
# Output (the toolchain interface of nix/mkStep.nix, plus the package sets):
#   name        = "nixpkgs"
#   pythonFor   : "cpu"|"cuda" -> string   absolute interpreter path (carries its context)
#   binPath     : string                   PATH with ffmpeg and ffprobe (ffmpeg-headless)
#   fingerprint : string                   "nixpkgs-<rev>" ("nixpkgs-dirty" without a rev)
#   impure      = false
#   env         = { }                      extra env for every step derivation
#   envFor      : "cpu"|"cuda" -> attrset  device-specific env: cuda steps get
#                                          LD_LIBRARY_PATH = "/run/opengl-driver/lib" (the
#                                          NVIDIA driver's libcuda on NixOS builders)
#   pkgs, pkgsCuda                         the two nixpkgs instances
#   python, pythonCuda                     the two Python environments (derivations)
#   pythonPackageNames                     the python3Packages attributes in both envs
#   qwen-vl-utils                          our package of it, for the cpu set
#
# Example:
#   tc = import ./nix/toolchains/nixpkgs.nix { inherit nixpkgs; system = "x86_64-linux"; }
#   tc.pythonFor "cuda"  → "/nix/store/…-python3-3.13.x-env/bin/python3.13"
#   tc.binPath           → "/nix/store/…-ffmpeg-headless-7.1.x-bin/bin"
{ nixpkgs, system, cudaConfig ? { } }:
let
  where = "reelset nixpkgs toolchain (nix/toolchains/nixpkgs.nix)";
  cudaSystems = [ "x86_64-linux" "aarch64-linux" ];
  cpuSystems = cudaSystems ++ [ "aarch64-darwin" "x86_64-darwin" ];

  pkgs =
    if builtins.elem system cpuSystems then import nixpkgs { inherit system; }
    else throw "${where}: system \"${toString system}\" is not supported; use one of ${builtins.concatStringsSep ", " cpuSystems}, or the host toolchain (nix/toolchains/host.nix) on this machine";

  pkgsCuda =
    if builtins.elem system cudaSystems then
      import nixpkgs {
        inherit system;
        config = { allowUnfree = true; cudaSupport = true; } // cudaConfig;
        # python3Packages.ctranslate2 is built against top-level `ctranslate2` (python-packages.nix:
        # `ctranslate2-cpp = pkgs.ctranslate2`), whose withCUDA defaults to config.cudaSupport in
        # current nixpkgs. Saying it explicitly keeps faster-whisper on CUDA with older pins too;
        # where the defaults already match, this is the same derivation.
        overlays = [
          (_final: prev: {
            ctranslate2 = prev.ctranslate2.override { withCUDA = true; withCuDNN = true; };
          })
        ];
      }
    else throw "${where}: cuda steps need a Linux system (${builtins.concatStringsSep ", " cudaSystems}), not \"${system}\"; build them on a Linux GPU builder (nix build --builders 'ssh-ng://gpu-box x86_64-linux - - - cuda') or use the host toolchain";

  # python3Packages attribute names, shared by both environments (checked against nixpkgs,
  # see docs/nixpkgs-toolchain.md). scenedetect brings its OpenCV (python3Packages.opencv-python).
  pythonPackageNames = [
    "pydantic" "orjson" "pyyaml" "jinja2" "srt" "numpy"
    "scenedetect" "av" "faster-whisper" "ctranslate2" "huggingface-hub"
    "rapidfuzz" "jellyfish" "pillow" "filelock"
    "torch" "torchvision" "transformers" "accelerate" "diffusers" "peft" "safetensors"
    "matplotlib" "tomli-w"
  ];

  # qwen-vl-utils is not in nixpkgs. sdist from PyPI: qwen_vl_utils-0.0.14.tar.gz
  # (sha256 9c7cad5a…7346ad, as listed by PyPI). Its module imports torch, torchvision and
  # numpy at import time without declaring them, so they are dependencies here.
  qwenVlUtils = ps: ps.buildPythonPackage rec {
    pname = "qwen-vl-utils";
    version = "0.0.14";
    pyproject = true;
    src = ps.fetchPypi {
      pname = "qwen_vl_utils";
      inherit version;
      hash = "sha256-nHytWugDs6EPi7cZTesSrqzdAy+S9CJOiAxzWHpzRq0=";
    };
    build-system = [ ps.hatchling ];
    dependencies = with ps; [ av packaging pillow requests numpy torch torchvision ];
    pythonImportsCheck = [ "qwen_vl_utils" ];
    meta = {
      description = "Helpers for the vision inputs of Qwen-VL models";
      homepage = "https://github.com/QwenLM/Qwen2-VL/tree/main/qwen-vl-utils"; # as in its pyproject.toml
      license = pkgs.lib.licenses.asl20;
    };
  };

  pick = set: ps:
    map (n: ps.${n} or (throw "${where}: python3Packages.${n} does not exist in this nixpkgs (${set}); remove it from pythonPackageNames or pin a nixpkgs that has it"))
      pythonPackageNames
    ++ [ (qwenVlUtils ps) ];

  python = pkgs.python3.withPackages (pick "cpu set");

  pythonCuda =
    let ps = pkgsCuda.python3Packages; in
    if !(ps.torch.cudaSupport or true) then
      throw "${where}: python3Packages.torch of the CUDA set was built without CUDA; check the `config` passed to nixpkgs (cudaSupport = true) and cudaConfig"
    else pkgsCuda.python3.withPackages (pick "cuda set");
in
{
  name = "nixpkgs";
  pythonFor = device:
    if device == "cpu" then python.interpreter
    else if device == "cuda" then pythonCuda.interpreter
    else throw "${where}: pythonFor got device \"${toString device}\"; use \"cpu\" or \"cuda\" (nix/steps.nix)";
  binPath = pkgs.lib.makeBinPath [ pkgs.ffmpeg-headless ];
  fingerprint = "nixpkgs-${nixpkgs.rev or "dirty"}";
  impure = false;
  env = { };
  envFor = device:
    if device == "cuda" then { LD_LIBRARY_PATH = "/run/opengl-driver/lib"; }
    else if device == "cpu" then { }
    else throw "${where}: envFor got device \"${toString device}\"; use \"cpu\" or \"cuda\"";
  inherit pkgs pkgsCuda python pythonCuda pythonPackageNames;
  qwen-vl-utils = qwenVlUtils pkgs.python3Packages;
}
