# checkConfig: dataset.toml's sections, keys and primitive types, checked at evaluation time,
# before anything builds (full validation, ranges and cross-field rules, stays in the tools).
#
# The allowed keys and their `builtins.typeOf` types come from the pydantic models
# (DatasetConfig, tools/reelset/schemas/dataset.py) through nix/config-keys.json, which
# `python tools/gen_docs.py` generates (tests/test_docs.py fails when it is stale).
#
# Inputs:
#   where : string   the user's file, for messages, as the user knows it (e.g. "pipelines/demo/dataset.toml",
#                    "dataset.toml" in a dataset flake; never its /nix/store copy)
#   cfg   : attrset  builtins.fromTOML of that file
# Returns cfg unchanged, or throws naming the file, the section, the key and the allowed keys.
#
# Example:
#   (import ./config.nix) "pipelines/x/dataset.toml" { name = "x"; videos = [ ]; scenes = { treshold = 20; }; }
#   → error: reelset dataset.toml check: pipelines/x/dataset.toml: [scenes] has no key `treshold`;
#            allowed: clip_crf, min_scene_len_frames, threshold, thumbnail_width (docs/reference/dataset-toml.md)
let
  spec = builtins.fromJSON (builtins.readFile ./config-keys.json);
  inherit (builtins) attrNames concatStringsSep elem filter typeOf isAttrs isList;
  list = xs: concatStringsSep ", " xs;
  fail = where: msg: throw "reelset dataset.toml check: ${where}: ${msg} (docs/reference/dataset-toml.md)";
  # check one table against its key spec; `path` is the section name for messages ("" = top level)
  table = where: path: keys: value:
    let
      label = if path == "" then "the top level" else "[${path}]";
      unknown = filter (k: !(keys ? ${k})) (attrNames value);
      checkKey = k:
        let
          v = value.${k};
          s = keys.${k};
          sub = if path == "" then k else "${path}.${k}";
        in
        if !(elem (typeOf v) s.types)
        then fail where "${label}: `${k}` is a ${typeOf v}, but must be ${concatStringsSep " or " s.types}"
        else if s ? keys && isAttrs v then table where sub s.keys v
        else if s ? keys && isList v then builtins.all (e: !isAttrs e || table where "[${sub}]" s.keys e) v
        else true;
    in
    if unknown != [ ]
    then fail where "${label} has no key `${builtins.head unknown}`; allowed: ${list (attrNames keys)}"
    else builtins.all checkKey (attrNames value);
in
where: cfg: builtins.seq (table where "" spec cfg) cfg
