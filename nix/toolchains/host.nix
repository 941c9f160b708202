# Host toolchain (impure): runs step tools with a local interpreter — the repo's `.venv`
# (made from requirements.lock by `make venv`) — and the host's ffmpeg. This is how reelset
# runs on machines without nixpkgs (air-gapped GPU boxes, CI) and needs `--impure`.
#
# Inputs:
#   lockFile : path          requirements.lock; its sha256 is the toolchain fingerprint, mixed
#                            into every step (a changed env changes every derivation hash) and
#                            checked at build time against <venv>/reelset-lock.sha256
#   python   : string|null   interpreter path; default: env REELSET_PYTHON, else $PWD/.venv/bin/python
#   binPath  : string|null   PATH for ffmpeg/ffprobe; default: env REELSET_HOST_PATH, else
#                            /usr/local/bin:/usr/bin:/bin
# Example:
#   import ./nix/toolchains/host.nix { lockFile = ./requirements.lock; }
#   → { name = "host"; pythonFor = _: "/home/me/reelset/.venv/bin/python"; impure = true; ... }
#
# Steps built with it carry __noChroot = true: a sandboxing Nix needs `sandbox = relaxed`
# (or false). A remote builder needs the same interpreter path (see docs/builders.md).
{ lockFile, python ? null, binPath ? null }:
let
  getEnv = builtins.getEnv;
  pwd = getEnv "PWD";
  interpreter =
    if python != null then python
    else if getEnv "REELSET_PYTHON" != "" then getEnv "REELSET_PYTHON"
    else if pwd != "" then "${pwd}/.venv/bin/python"
    else throw ("reelset host toolchain (nix/toolchains/host.nix): no interpreter, because the evaluation is pure. "
      + "Re-run with --impure from the repo root (e.g. `nix build --impure .#host.demo`), "
      + "or set REELSET_PYTHON=/path/to/venv/bin/python and pass --impure.");
  lockSha256 = builtins.hashFile "sha256" lockFile;
  # fail at evaluation, naming the variable, instead of Nix's "error executing '…/python'"
  checked =
    if builtins.pathExists interpreter then interpreter
    else throw ("reelset host toolchain (nix/toolchains/host.nix): interpreter ${interpreter} does not exist "
      + (if python != null then "(the `python` argument)" else if getEnv "REELSET_PYTHON" != "" then "(REELSET_PYTHON)"
         else "(REELSET_PYTHON is not set, so $PWD/.venv/bin/python)")
      + ". Set REELSET_PYTHON=/path/to/reelset/.venv/bin/python (`make venv` in reelset makes it), "
      + "or build with reelset's `bin/reelset build`, which sets it.");
in
{
  name = "host";
  pythonFor = _device: checked;
  # The interpreter's own folder comes first: Nix starts the builder with argv[0] = "python"
  # (no slash), so Python finds itself on PATH, and only through that path does it see the
  # venv's pyvenv.cfg and site-packages.
  binPath = "${dirOf interpreter}:" + (
    if binPath != null then binPath
    else if getEnv "REELSET_HOST_PATH" != "" then getEnv "REELSET_HOST_PATH"
    else "/usr/local/bin:/usr/bin:/bin");
  fingerprint = "host-lock-${lockSha256}";
  impure = true;
  env = { reelsetLockSha256 = lockSha256; };
  inherit interpreter lockSha256;
}
