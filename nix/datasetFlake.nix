# mkDatasetFlake: the outputs of a user's own flake for one dataset folder — every step of the
# step table as flake attributes, for both toolchains. `nix flake init -t <reelset>#dataset`
# writes a flake.nix that is just a call of this (templates/dataset/).
#
# Arguments of `import ./datasetFlake.nix`:
#   mkPipeline : { system; datasetDir; toolchain; } -> pipeline   the flake's lib.mkPipeline
#   steps      : attrset                                         nix/steps.nix
# The returned function takes:
#   datasetDir : path            the folder with dataset.toml (+ bible.yaml, review.json, videos);
#                                usually ./. of the user's flake
#   systems    : [ string ]      default [ "x86_64-linux" "aarch64-linux" ]
# and returns flake outputs:
#   packages.<system>.<step>             nixpkgs toolchain (pure; Nix >= 2.18 + nixpkgs access);
#                                        every step, plus `all` and `default`
#   legacyPackages.<system>.host.<step>  host toolchain (impure: --impure; the Python env of
#                                        reelset's requirements.lock as a store path); every step
#                                        of the table, plus `all` and `plan` (what
#                                        `reelset status` / `build` read, nix/pipeline.nix)
#   Video-level steps have `.shards.<video id>`.
#   lib.steps                            the step table (nix/steps.nix) of this reelset
#
# Example (flake.nix of a dataset folder):
#   outputs = { self, reelset }: reelset.lib.mkDatasetFlake { datasetDir = ./.; };
#   $ nix build --impure .#host.step1-scenes
{ mkPipeline, steps }:
{ datasetDir, systems ? [ "x86_64-linux" "aarch64-linux" ] }:
let
  dir = datasetDir;
  forAll = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
  pick = pipeline: names: builtins.listToAttrs (map (n: { name = n; value = pipeline.${n}; }) names);
in
if !builtins.isPath datasetDir then
  throw "reelset lib.mkDatasetFlake: datasetDir must be a Nix path such as ./. (no quotes), not ${builtins.typeOf datasetDir} ${builtins.toJSON datasetDir}"
else {
  lib = { inherit steps; };   # the step table of the reelset this flake uses (read by `reelset status`)
  packages = forAll (system:
    let p = mkPipeline { inherit system; datasetDir = dir; toolchain = "nixpkgs"; };
    in pick p (map (s: s.name) steps.list) // { all = p.all; default = p.all; });
  legacyPackages = forAll (system:
    let p = mkPipeline { inherit system; datasetDir = dir; toolchain = "host"; };
    in { host = pick p steps.names // { all = p.all; inherit (p) plan; }; });
}
