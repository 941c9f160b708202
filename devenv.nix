# reelset's devenv (https://devenv.sh) shell: the tools to build, test and look at the pipeline,
# and tasks GENERATED FROM THE STEP TABLE (nix/steps.nix) — a step added to the table is a task
# without touching this file.
#
# Module arguments (devenv passes them): pkgs (nixpkgs of devenv.yaml), config (devenv.root:
# the project folder). Nothing else is read, so the file also evaluates with stubs
# (tests/test_devenv.py).
#
# Tasks (`devenv tasks list`, `devenv tasks run NAME`):
#   reelset:<step>   nix build --impure .#host.<step> --out-link result-<step>  (one per table entry;
#                    )
#   reelset:demo     nix build --impure .#host.demo --out-link result   (every working step; report:
#                    result/index.html)
#   reelset:test     make test
#   reelset:venv     make venv     (.venv from requirements.lock; the host toolchain's interpreter)
#   reelset:docs     regenerate docs/reference and docs/schemas from the step table and schemas
#   builder:check    builders/check   (is the GPU builder reachable and able to build cuda steps)
# Process (`devenv up`): review — the review server, tools/review.py serve (defined only once
#   that tool exists).
#
# Example: devenv tasks run reelset:step1-scenes && bin/reelset inspect result-step1-scenes
{ pkgs, config, ... }:
let
  steps = import ./nix/steps.nix;
  root = config.devenv.root;
  stepTask = s: {
    name = "reelset:${s.name}";
    value = {
      description = "build ${s.name} (${s.device}, ${s.level}-level) of the demo dataset → ./result-${s.name}";
      exec = "nix build --impure .#host.${s.name} --out-link result-${s.name}";
    };
  };
  reviewTool = ./tools/review.py;
in
{
  packages = [
    pkgs.python3            # creates .venv (make venv); the host toolchain runs .venv/bin/python
    pkgs.ffmpeg-headless    # ffmpeg/ffprobe for the step tools (host toolchain PATH below)
    pkgs.espeak-ng          # regenerating the demo video (pipelines/demo/make_demo.py)
    pkgs.gnumake
    pkgs.git
    pkgs.nix-diff           # why did this step rebuild: nix-diff OLD.drv NEW.drv
    pkgs.nix-tree           # browse a step's closure: nix-tree ./result
  ] ++ (if pkgs.stdenv.isLinux then [ pkgs.chromium pkgs.chromedriver ] else [ ]);  # report browser test

  env = {
    # Same cuda declaration as the Makefile; the steps' interpreter is the store env of
    # requirements.lock (nix/toolchains/host.nix), as with `make`. Remove
    # `extra-system-features = cuda` when a GPU builder takes the cuda steps (docs/builders.md);
    # with it, cuda steps run here (on the CPU without a GPU).
    REELSET_HOST_PATH = "${pkgs.ffmpeg-headless}/bin:/usr/local/bin:/usr/bin:/bin";
    NIX_CONFIG = "extra-experimental-features = nix-command flakes\nextra-system-features = cuda";
  };

  scripts.reelset.exec = ''exec "${root}/bin/reelset" "$@"'';

  tasks = builtins.listToAttrs (map stepTask steps.list) // {
    "reelset:demo" = { description = "build every working step of the demo → ./result (open result/index.html)";
                       exec = "nix build --impure .#host.demo --out-link result"; };
    "reelset:test" = { description = "the test suite, as CI runs it"; exec = "make test"; };
    "reelset:venv" = { description = ".venv from requirements.lock (host toolchain interpreter)"; exec = "make venv"; };
    "reelset:docs" = { description = "regenerate docs/reference + docs/schemas from nix/steps.nix and the schemas";
                       exec = "${root}/.venv/bin/python tools/gen_docs.py"; };
    "builder:check" = { description = "check the GPU builder (docs/builders.md)"; exec = "builders/check"; };
  };

  processes = if builtins.pathExists reviewTool
    then { review.exec = "${root}/.venv/bin/python tools/review.py serve"; }
    else { };

  enterShell = ''
    if [ ! -x "${root}/.venv/bin/python" ]; then
      echo "reelset: no .venv yet — run: devenv tasks run reelset:venv"
    fi
    echo "reelset: devenv tasks list · bin/reelset status · bin/reelset inspect result"
  '';
}
