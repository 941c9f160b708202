# mkPipeline: every step of one dataset as derivations, from the step table.
#
# Arguments of `import ./pipeline.nix`:
#   system   : string  e.g. "x86_64-linux"
#   toolsDir : path    the repo's tools/ folder
# The returned function takes:
#   toolchain  : attrset  nix/toolchains/host.nix or nix/toolchains/nixpkgs.nix
#   datasetDir : path     folder with dataset.toml (and later bible.yaml, review.json)
# and returns:
#   { <step name> = derivation;   # video-level steps: the dataset aggregate, with
#                                 #   .shards.<video id> = the per-video derivation
#     all = derivation;           # links every implemented step's output (the demo target);
#                                 #   steps whose dataset files (e.g. bible.yaml) are missing
#                                 #   are left out, with everything downstream of them, and so
#                                 #   are opt-in steps (`optIn`) whose section dataset.toml lacks
#     <segmented step>.segments = [ derivation ];  # LoRA training: one derivation per segment
#     config = <parsed dataset.toml>; videos = { <id> = store path; }; }
#   Steps without a tool yet (script = null in nix/steps.nix) are attributes that throw
#   an error naming the issue that will implement them.
#
# Example:
#   (import ./nix/pipeline.nix { system = "x86_64-linux"; toolsDir = ./tools; }) {
#     toolchain = import ./nix/toolchains/host.nix { lockFile = ./requirements.lock; };
#     datasetDir = ./pipelines/demo; }
#   → { step1-scenes = «derivation»; step2-transcript-base = «derivation»; all = …; … }
#
# Sharding: a video-level step gets one derivation per [[videos]] entry, whose spec holds
# only that video, the dataset.toml sections the step declares and its upstream outputs, so
# adding a video builds only that video's shards and the aggregates.
{ system, toolsDir }:
{ toolchain, datasetDir }:
let
  steps = import ./steps.nix;
  models = import ./models.nix;
  mkStep = import ./mkStep.nix { inherit toolchain system toolsDir; };
  inputs = import ./inputs.nix { inherit toolchain system toolsDir; };
  tomlPath = datasetDir + "/dataset.toml";
  where = "${toString datasetDir}/dataset.toml";
  cfg =
    if !builtins.pathExists tomlPath
    then throw "reelset mkPipeline: ${where} does not exist; a dataset folder needs a dataset.toml (see docs/datasets.md)"
    else builtins.fromTOML (builtins.readFile tomlPath);
  dataset = cfg.name or (throw "reelset mkPipeline: ${where} has no `name = \"…\"`");
  videoList = cfg.videos or (throw "reelset mkPipeline: ${where} has no [[videos]] entry; add one per source video");
  videos = builtins.listToAttrs (map (v: {
    name = v.id or (throw "reelset mkPipeline: a [[videos]] entry of ${where} has no `id`");
    value = inputs.video datasetDir v;
  }) videoList);
  attrsFrom = f: names: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);

  # "asr.model" → cfg.asr.model, or `default`
  lookup = key: default:
    let parts = builtins.filter builtins.isString (builtins.split "\\." key);
    in builtins.foldl' (acc: p: if builtins.isAttrs acc && acc ? ${p} then acc.${p} else default) cfg parts;
  modelsFor = step: builtins.mapAttrs (role: m:
    let
      name = lookup m.key m.default;
      pinned = models.${name} or (throw "reelset mkPipeline: ${where}: ${m.key} = \"${name}\" is not a model of nix/models.toml (known: ${builtins.concatStringsSep ", " (builtins.attrNames models)})");
    # models built by a tool (`builder` in models.toml, see nix/inputs.nix) have no hub
    # repo/revision: they are recorded as repo "reelset:<builder> <args>" and revision "built"
    in { inherit name; path = inputs.model name pinned;
         repo = pinned.repo or "reelset:${pinned.builder or "?"} ${builtins.concatStringsSep " " (pinned.args or [ ])}";
         revision = pinned.revision or "built"; }) step.models;

  # Dataset-folder files a step declares (`files = { role = { key; default; }; }` in
  # nix/steps.nix, e.g. the bible): each copied into the store by content, so editing one
  # rebuilds only the steps that declare it (and their dependents).
  fileRel = f: lookup f.key f.default;
  # `optional = true` files (e.g. review.json) may be missing: then they are left out of the spec.
  fileExists = f: builtins.pathExists (datasetDir + "/${fileRel f}");
  hasFiles = step: builtins.all (f: (f.optional or false) || fileExists f) (builtins.attrValues (step.files or { }));
  missingOptional = step: builtins.filter (r: let f = step.files.${r}; in (f.optional or false) && !fileExists f)
    (builtins.attrNames (step.files or { }));
  filesFor = step: builtins.removeAttrs (builtins.mapAttrs (role: f:
    let rel = fileRel f; p = datasetDir + "/${rel}"; in
    if builtins.pathExists p then "${builtins.path { path = p; name = baseNameOf rel; }}"
    else throw "reelset: step ${step.name} needs ${toString datasetDir}/${rel} (${role}; set `${f.key}` in dataset.toml to use another file); see docs/datasets.md") (step.files or { }))
    (missingOptional step);
  # a step can be built for this dataset when its files exist and so can its inputs; `all`
  # also needs the dataset.toml section of an `optIn` step (GPU-heavy steps are opt-in)
  available = name: let s = steps.byName.${name}; in hasFiles s && builtins.all available s.inputs;
  inAll = name: let s = steps.byName.${name}; in available name && (!(s ? optIn) || cfg ? ${s.optIn})
    && builtins.all inAll s.inputs;

  # Segmented steps (`segments` in nix/steps.nix, LoRA training): `steps` optimizer steps run as
  # a chain of derivations of `segment_steps` steps each; segment k gets segment k-1's output as
  # inputs.previous. A segment's spec holds the training section *without* `steps` and
  # `validation` plus its own [start, end): a crash loses at most one segment, and raising
  # `steps` keeps every finished segment's hash (only new segments are built).
  # segmentDefault must equal TrainConfig.segment_steps (tests/test_train.py checks it).
  segmentDefault = 250;
  segmentsOf = step: upstream:
    let
      section = step.segments.section;
      sc = cfg.${section} or (throw "reelset mkPipeline: ${step.name} needs a [${section}] section with `steps = N` in ${where} (see docs/training.md)");
      total = sc.steps or (throw "reelset mkPipeline: [${section}] of ${where} has no `steps = N` (optimizer steps of the run)");
      k = sc.segment_steps or segmentDefault;
      count = if !(builtins.isInt total) || total < 1 || !(builtins.isInt k) || k < 1
        then throw "reelset mkPipeline: [${section}] of ${where}: steps (${builtins.toJSON total}) and segment_steps (${builtins.toJSON k}) must be integers >= 1"
        else (total + k - 1) / k;
      segCfg = builtins.removeAttrs sc [ "steps" "validation" ];
      segStep = step // { inherit (step.segments) script sources; };
      pad = i: let t = toString i; in builtins.substring 0 (3 - builtins.stringLength t) "00" + t;
      end = i: let e = (i + 1) * k; in if e < total then e else total;
      one = i: mkStep {
        step = segStep;
        name = "reelset-${dataset}-${step.name}-seg${pad i}";
        spec = {
          step = step.name; inherit dataset; inherit (step) device;
          config = { ${section} = segCfg; segment = { index = i; start = i * k; end = end i; }; };
          inputs = upstream // (if i == 0 then { } else { previous = "${builtins.elemAt list (i - 1)}"; });
          models = modelsFor step;
        };
      };
      list = builtins.genList one count;
    in { inherit list; inputs = builtins.listToAttrs (builtins.genList (i: { name = "segment-${pad i}"; value = "${builtins.elemAt list i}"; }) count); };

  aggregateStep = { name = "aggregate"; device = "cpu"; script = "aggregate.py"; sources = steps.closureOf "aggregate.py"; };
  aggregate = { stepName, drvName, kind, members }: mkStep {
    step = aggregateStep;
    name = drvName;
    spec = { step = stepName; inherit dataset; device = "cpu";
             config = { aggregate = { inherit kind; }; };
             inputs = builtins.mapAttrs (_: d: "${d}") members; };
  };

  build = step:
    let
      upstream = videoId: attrsFrom (u:
        let up = outputs.${u}; in
        if steps.byName.${u}.level == "video" && videoId != null then "${up.shards.${videoId}}" else "${up}") step.inputs;
      spec = videoId: {
        step = step.name; inherit dataset; inherit (step) device;
        config = attrsFrom (s: cfg.${s} or { }) step.config;
        inputs = upstream videoId;
        models = modelsFor step;
        files = filesFor step;
      } // (if videoId == null then { } else { video_id = videoId; video = videos.${videoId}; })
        // (if (step.videos or false) && videoId == null then { inherit videos; } else { });
      drvName = "reelset-${dataset}-${step.name}";
    in
    if step.level == "video" then
      let shards = builtins.mapAttrs (id: _: mkStep { inherit step; name = "${drvName}-${id}"; spec = spec id; }) videos;
      in aggregate { stepName = step.name; inherit drvName; kind = "shards"; members = shards; } // { inherit shards; }
    else if step ? segments then
      let segs = segmentsOf step (upstream null);
      in mkStep { inherit step; name = drvName; spec = spec null // { inputs = upstream null // segs.inputs; }; }
         // { segments = segs.list; }
    else mkStep { inherit step; name = drvName; spec = spec null; };

  outputs = attrsFrom (n: build steps.byName.${n}) steps.names;
in
outputs // {
  all = aggregate {
    stepName = "pipeline"; drvName = "reelset-${dataset}";
    kind = "steps"; members = attrsFrom (n: outputs.${n}) (builtins.filter inAll steps.names);
  };
  config = cfg;
  inherit videos;
}
