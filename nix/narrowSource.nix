# narrowSource: a store copy of the repo's tools/ folder holding only the declared files (and
# the folders on their way), so editing any other file never changes the copy's hash.
#
#   toolsDir : path             the repo's tools/ folder
#   name     : string           store name of the copy
#   declared : [ string ]       files relative to tools/ (e.g. "reelset/step.py")
#
# Used by mkStep (a step's sources) and nix/inputs.nix (a model builder's sources).
# Example: import ./narrowSource.nix { toolsDir = ./tools; name = "x-src"; declared = [ "step1_scenes.py" ]; }
{ toolsDir, name, declared }:
let
  root = toString toolsDir;
  # keep a file if declared, a directory if some declared file lies below it
  keep = path: type:
    let rel = builtins.substring (builtins.stringLength root + 1) (builtins.stringLength (toString path)) (toString path);
    in if type == "directory"
       then builtins.any (f: builtins.substring 0 (builtins.stringLength rel + 1) f == rel + "/") declared
       else builtins.elem rel declared;
in
builtins.path { path = toolsDir; inherit name; filter = keep; }
