# mkPipeline: every step of one dataset as derivations, from the step table.
#
# Arguments of `import ./pipeline.nix`:
#   system   : string  e.g. "x86_64-linux"
#   toolsDir : path    the repo's tools/ folder
# The returned function takes:
#   toolchain  : attrset  nix/toolchains/host.nix or nix/toolchains/nixpkgs.nix
#   datasetDir : path     folder with dataset.toml (and bible.yaml, review.json, small videos)
# and returns:
#   { <step name> = derivation;   # the step's report (index.html + links to every file of the
#                                 #   computed output); .data = the compute derivation itself
#                                 #   video-level steps: the dataset aggregate, with
#                                 #   .shards.<video id> = that video's report (.data: compute)
#                                 #   `perVideo` dataset steps (review, packaging): the gathering's
#                                 #   report, .shards.<video id> = that video's compute shard
#     all = derivation;           # links every step's report (the demo target); steps whose
#                                 #   dataset files (e.g. bible.yaml) are missing are left out,
#                                 #   with everything downstream of them, and so are opt-in
#                                 #   steps (`optIn`) whose section dataset.toml lacks
#     <segmented step>.segments = [ derivation ];  # LoRA training: one derivation per segment
#     step2-shot-reference.frames.<video>-<t> = derivation;  # one per reference shot
#     step2-speakers.voices."<character>/<video>-<start>-<end>" = derivation;  # one per voice reference
#     config = <parsed dataset.toml>; videos = { <id> = store path; };
#     plan = { sections; order; steps.<name> = { device; level; optIn; optedOut; inAll; why; state; drv; shards; }; }; }
#
# Example:
#   (import ./nix/pipeline.nix { system = "x86_64-linux"; toolsDir = ./tools; }) {
#     toolchain = import ./nix/toolchains/host.nix { lockFile = ./requirements.lock; };
#     datasetDir = ./pipelines/demo; }
#   → { step1-scenes = «derivation»; step2-transcript-base = «derivation»; all = …; … }
#
# Cache boundaries (docs/architecture.md; tests/test_rebuild.py checks them):
# - a compute derivation's spec holds only what its output depends on: its own video (never the
#   list of videos), the dataset.toml sections it declares, its upstream *compute* outputs, the
#   models it loads (a model switched off by its `when` key is no input) and its declared files;
# - reports are separate cheap derivations, so report code never rebuilds a compute step;
# - fan-outs (reference frames, voice references: `fanOut` in nix/steps.nix) are one derivation
#   per item of an upstream artifact (the video + the item's own config), read from it at
#   evaluation time (import from derivation): adding a video or editing a description extracts no
#   frame and embeds no voice again;
# - `perVideo` dataset steps (step2-reviewed, step3-*) run their per-clip work in one shard per
#   video (its clips, its captions, its own review decisions) and gather the shards by links:
#   a decision on one clip or a new video re-runs that video's shards and the gathering only;
#   a shard takes only the sections of its step's `shardConfig` (step2-reviewed: [review]; its
#   gathering also takes [repeats], the policy for clips repeated across videos);
# - dataset.toml is checked against the schemas' keys and types before anything builds
#   (nix/config.nix).
{ system, toolsDir }:
{ toolchain, datasetDir }:
let
  steps = import ./steps.nix;
  # reelset's pinned models, with the dataset folder's own models.toml (same format) merged over
  # them: a dataset flake pins a model without forking reelset
  models = import ./models.nix // (if builtins.pathExists (datasetDir + "/models.toml")
    then builtins.addErrorContext "while reading ${shown "models.toml"} (TOML)" (builtins.fromTOML (builtins.readFile (datasetDir + "/models.toml"))) else { });
  checkConfig = import ./config.nix;
  mkStep = import ./mkStep.nix { inherit toolchain system toolsDir; };
  inputs = import ./inputs.nix { inherit toolchain system toolsDir; };
  inherit (builtins) attrNames attrValues concatMap filter listToAttrs mapAttrs removeAttrs;
  # A dataset file as its user knows it, for messages only (never in a spec: a folder's place in a
  # checkout must not change a hash): a dataset
  # folder inside a flake's source (copied into the store) is named relative to that flake —
  # "pipelines/demo/dataset.toml" in reelset, "dataset.toml" in a dataset flake (./.) — never by
  # its /nix/store copy; a folder outside the store keeps its own path.
  #   shown : string -> string   (a path relative to the dataset folder)
  # Example: shown "bible.yaml" → "pipelines/demo/bible.yaml" (datasetDir = /nix/store/…-source/pipelines/demo)
  dirShown = let m = builtins.match "${builtins.storeDir}/[^/]+/?(.*)" (toString datasetDir); in
    if m == null then toString datasetDir else builtins.head m;
  shown = rel: if dirShown == "" then rel else "${dirShown}/${rel}";
  tomlPath = datasetDir + "/dataset.toml";
  where = shown "dataset.toml";
  cfg =
    if !builtins.pathExists tomlPath
    then throw "reelset mkPipeline: ${where} does not exist; a dataset folder needs a dataset.toml (see docs/datasets.md)"
    else checkConfig where (builtins.addErrorContext "while reading ${where} (TOML)" (builtins.fromTOML (builtins.readFile tomlPath)));
  dataset = cfg.name or (throw "reelset mkPipeline: ${where} has no `name = \"…\"`");
  videoList = cfg.videos or (throw "reelset mkPipeline: ${where} has no [[videos]] entry; add one per source video");
  videos = listToAttrs (map (v: {
    name = v.id or (throw "reelset mkPipeline: a [[videos]] entry of ${where} has no `id`");
    value =
      if v ? path && !builtins.pathExists (datasetDir + "/${v.path}")
      then throw "reelset mkPipeline: video '${v.id or "?"}' of ${where}: `path = \"${v.path}\"` is no file of the dataset folder (${shown v.path}; in a flake it must be git-added)"
      else if !(v ? path) && !(v ? file && v ? sha256)
      then throw "reelset mkPipeline: video '${v.id or "?"}' of ${where} needs `path = \"file in the dataset folder\"` or `file = \"name\"` + `sha256 = \"…\"` (fixed input)"
      else if v ? crop && builtins.match "auto|none|[0-9]+:[0-9]+:[0-9]+:[0-9]+" v.crop == null
      then throw "reelset mkPipeline: video '${v.id}' of ${where}: `crop = \"${v.crop}\"` must be \"auto\" (crop the bars cropdetect finds), \"none\" or \"W:H:X:Y\" (pixels of the displayed picture, e.g. \"1920:800:0:140\")"
      else inputs.video datasetDir v;
  }) videoList);
  # the keys of a video's [[videos]] entry that a video step declares (`videoKeys`, nix/steps.nix)
  # and the entry sets; {} for a dataset-level spec. Only set keys: adding the feature rebuilds nothing.
  # Example: videoOptions step1 "ep01" → { crop = "none"; } (with crop = "none" in ep01's entry)
  entries = listToAttrs (map (v: { name = v.id; value = v; }) videoList);
  videoOptions = step: videoId:
    if videoId == null then { } else
    let o = builtins.intersectAttrs (listToAttrs (map (k: { name = k; value = null; }) (step.videoKeys or [ ]))) entries.${videoId};
    in if o ? audio then builtins.seq (checkAudio videoId o.audio) o else o;
  # `audio = <stream index> | "<language>"` of a [[videos]] entry, checked against the file's audio
  # tracks at evaluation time: tools/audio_tracks.py (ffprobe, container header only) is built and
  # its tracks.json read (import from derivation) only for entries that set `audio`. The same rule
  # as reelset.media.choose_audio (index = ffmpeg's stream index; language tag, any case).
  # Example: checkAudio "ep01" "eng" → true, or throws naming the tracks ("#1 jpn (default), #2 eng")
  lower = builtins.replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  audioTracks = id: builtins.fromJSON (builtins.readFile "${mkStep {
    step = { name = "audio-tracks"; device = "cpu"; script = "audio_tracks.py"; sources = steps.closureOf "audio_tracks.py"; };
    name = "reelset-${dataset}-audio-tracks-${id}";
    spec = { step = "audio-tracks"; inherit dataset; device = "cpu"; video_id = id; video = videos.${id}; };
  }}/tracks.json");
  checkAudio = id: audio:
    let
      tracks = audioTracks id;
      hit = t: if builtins.isInt audio then t.index == audio else t.language != null && lower t.language == lower audio;
      label = t: "#${toString t.index} ${if t.language == null then "und" else t.language}${if t.default then " (default)" else ""}";
      shownAudio = if builtins.isInt audio then toString audio else "\"${audio}\"";
    in
    if builtins.any hit tracks then true
    else throw "reelset mkPipeline: video '${id}' of ${where}: `audio = ${shownAudio}` matches no audio track of the file; its tracks: ${if tracks == [ ] then "none" else builtins.concatStringsSep ", " (map label tracks)} (audio = <stream index> or \"<language>\")";
  # nixpkgs lib's mapAttrs' (not a builtin on Nix 2.8): (name -> value -> { name; value; }) -> attrset -> attrset
  # Example: mapAttrs' (n: v: { name = "shards/${n}"; value = v; }) { a = 1; } → { "shards/a" = 1; }
  mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
  attrsFrom = f: names: listToAttrs (map (n: { name = n; value = f n; }) names);

  # "asr.model" → cfg.asr.model, or `default`
  lookup = key: default:
    let parts = filter builtins.isString (builtins.split "\\." key);
    in builtins.foldl' (acc: p: if builtins.isAttrs acc && acc ? ${p} then acc.${p} else default) cfg parts;
  # a model role with `when = "<section>.<bool key>"` is loaded only when that key is true
  # (default true): switched off, it is no input of the derivation and needs no pinned model
  enabledModels = step: removeAttrs step.models
    (filter (r: let m = step.models.${r}; in (m ? when) && !(lookup m.when true)) (attrNames step.models));
  # the family variant a model role follows (`variant` in nix/steps.nix; null without one): its
  # name, its model and whether dataset.toml names it; an unknown name fails evaluation
  variantOf = m: if !(m ? variant) then null else
    let v = m.variant; name = lookup v.key v.default; in
    if v.models ? ${name} then { inherit name; inherit (v) family; model = v.models.${name}; set = lookup v.key null != null; }
    else throw "reelset mkPipeline: ${where}: ${v.key} = \"${toString name}\" is not a variant of model family ${v.family} (variants: ${builtins.concatStringsSep ", " (attrNames v.models)}; tools/reelset/families/${v.family}/__init__.py)";
  modelsFor = step: mapAttrs (role: m:
    let
      variant = variantOf m;
      name = lookup m.key (if variant == null then m.default else variant.model);
      pinned = models.${name} or (throw "reelset mkPipeline: ${where}: ${m.key} = \"${name}\" is not a model of reelset's nix/models.toml or the dataset's models.toml (known: ${builtins.concatStringsSep ", " (attrNames models)})");
      ref = { inherit name where; inherit (m) key; set = lookup m.key null != null;
              pinned = filter (n: models.${n} ? narHash || models.${n} ? builder) (attrNames models); }
            // (if variant == null then { } else { variant = variant // { inherit (m.variant) key; }; });
    # models built by a tool (`builder` in models.toml, see nix/inputs.nix) have no hub
    # repo/revision: they are recorded as repo "reelset:<builder> <args>" and revision "built"
    in builtins.seq variant { inherit name; path = inputs.model ref pinned;
         repo = pinned.repo or "reelset:${pinned.builder or "?"} ${builtins.concatStringsSep " " (pinned.args or [ ])}";
         revision = pinned.revision or "built"; }) (enabledModels step);

  # Dataset-folder files a step declares (`files = { role = { key; default; }; }` in
  # nix/steps.nix, e.g. the bible): each copied into the store by content, so editing one
  # rebuilds only the steps that declare it (and their dependents).
  fileRel = f: lookup f.key f.default;
  # `optional = true` files (e.g. review.json) may be missing: then they are left out of the spec.
  fileExists = f: builtins.pathExists (datasetDir + "/${fileRel f}");
  hasFiles = step: builtins.all (f: (f.optional or false) || fileExists f) (attrValues (step.files or { }));
  missingOptional = step: filter (r: let f = step.files.${r}; in (f.optional or false) && !fileExists f)
    (attrNames (step.files or { }));
  filesFor = step: removeAttrs (mapAttrs (role: f:
    let rel = fileRel f; p = datasetDir + "/${rel}"; in
    if builtins.pathExists p then "${builtins.path { path = p; name = baseNameOf rel; }}"
    else throw "reelset: step ${step.name} needs ${shown rel} (${role}; set `${f.key}` in dataset.toml to use another file); see docs/datasets.md") (step.files or { }))
    (missingOptional step);
  # The names, relative to the dataset folder, of the step's files that lie in a subfolder
  # (`bible.file = "meta/bible.yaml"`), for the tool's messages: the store copy keeps only the
  # base name. Files in the dataset folder itself add nothing, so their specs (and hashes) stay.
  #   fileNamesFor : step -> { role = string; }
  # Example: fileNamesFor steps.byName.step2-bible → { bible = "meta/bible.yaml"; } (or { })
  fileNamesFor = step: builtins.removeAttrs (mapAttrs (_: fileRel) (step.files or { }))
    (filter (r: let rel = fileRel step.files.${r}; in rel == baseNameOf rel) (attrNames (step.files or { })));
  # A per-video shard's copy of a `split = "<key>"` file (review.json): the attrset under <key>
  # (entries keyed by clip id "<video id>-s<NNNN>") cut to the entries of video `videoId`, the
  # other keys kept; written at evaluation time (builtins.toFile), so a decision on one clip
  # changes that video's copy only. Entries naming no video stay in the whole file only (the
  # gathering derivation reads it and reports them).
  #   splitFile : { key; default; split; ... } -> string -> string (store path)
  # Example: review.json {"decisions": {"demo01-s0002": …, "demo02-s0001": …}} →
  #   splitFile f "demo01" = "/nix/store/…-demo01-review.json" holding {"decisions": {"demo01-s0002": …}}
  splitFile = f: videoId:
    let
      rel = fileRel f;
      data = builtins.addErrorContext "while reading ${shown rel} (reelset cuts it per video; it must be valid JSON)"
        (builtins.fromJSON (builtins.readFile (datasetDir + "/${rel}")));
      entries = if builtins.isAttrs data && builtins.isAttrs (data.${f.split} or { }) then data.${f.split} or { }
        else throw "reelset mkPipeline: ${shown rel}: `${f.split}` must be an object keyed by clip id (see docs/datasets.md)";
      videoOf = id: let m = builtins.match "(.*)-s[0-9]+" id; in if m == null then null else builtins.head m;
      own = removeAttrs entries (filter (id: videoOf id != videoId) (attrNames entries));
    in "${builtins.toFile "${videoId}-${baseNameOf rel}" (builtins.toJSON (data // { ${f.split} = own; }))}";
  # The files of a per-video shard: filesFor, with each `split` file cut to the video (splitFile).
  #   shardFilesFor : step -> string -> { role = store path; }
  # Example: shardFilesFor steps.byName.step2-reviewed "demo01" → { review = "/nix/store/…-demo01-review.json"; }
  shardFilesFor = step: videoId: mapAttrs (role: path:
    let f = step.files.${role}; in if f ? split then splitFile f videoId else path) (filesFor step);
  # a step can be built for this dataset when its files exist and so can its inputs; `all`
  # also needs the dataset.toml section of an `optIn` step (GPU-heavy steps are opt-in)
  available = name: let s = steps.byName.${name}; in hasFiles s && builtins.all available s.inputs;
  # an opt-in step (`optIn`) whose section dataset.toml lacks: the one opt-in rule (the CLI reads
  # it from the plan, `optedOut`)
  optedOut = name: let s = steps.byName.${name}; in s ? optIn && !(cfg ? ${s.optIn});
  inAll = name: available name && !(optedOut name)
    && builtins.all inAll steps.byName.${name}.inputs;

  # The report of a compute output: a cheap cpu derivation running tools/render_report.py with
  # the step's report module (reelset/reports/<tool>.py). It links every file of the output, so
  # the report's store path reads like the output itself (result/scenes.json); `.data` is the
  # compute derivation, which downstream steps use.
  # A package step's report also writes the dataset card (README.md, reelset/card.py) from the
  # facts only Nix knows, `cardFacts`: the dataset's description, each episode's file and sha256
  # (a fixed input's own; a `path` video's builtins.hashFile at evaluation) and the pinned models
  # (name, repository, revision: strings without store context, so no model is copied to the
  # machine building the report) of the steps upstream of the package, in pipeline order.
  #   cardFacts : step -> { description; videos = { <id> = { file; sha256; }; }; models = { <step> = { <role> = { name; repo; revision; narHash; }; }; }; }
  # Example: cardFacts steps.byName.step3-ltx2-data → { models.step2-caption.caption = { name = "tiny-qwen2.5-vl"; repo = "reelset:make_tiny_models.py qwen2.5-vl"; revision = "built"; }; … }
  upstreamOf = name: let ins = steps.byName.${name}.inputs; in ins ++ concatMap upstreamOf ins;
  cardFacts = step:
    let up = upstreamOf step.name; in {
      description = cfg.description or "";
      videos = listToAttrs (map (v: { name = v.id; value = {
        file = v.file or (baseNameOf v.path);
        sha256 = if v ? sha256 then v.sha256 else builtins.hashFile "sha256" (datasetDir + "/${v.path}"); }; }) videoList);
      models = attrsFrom (n: mapAttrs (_: m: { inherit (m) name repo revision; narHash = models.${m.name}.narHash or null; })
          (modelsFor steps.byName.${n}))
        (filter (n: builtins.elem n up && (steps.byName.${n}.models or { }) != { }) steps.names);
    };
  reportOf = step: data:
    let module = builtins.replaceStrings [ ".py" ] [ "" ] step.script; in
    mkStep {
      step = { name = "${step.name}-report"; device = "cpu"; script = "render_report.py";
               sources = steps.closureOf "render_report.py" ++ [ "reelset/reports/${module}.py" ]
                 ++ steps.closureOf "reelset/reports/${module}.py"
                 # a family step's report names the family's export targets (reelset/families)
                 ++ (if step ? family then [ "reelset/families/${step.family}/__init__.py" ] ++ steps.closureOf "reelset/families/${step.family}/__init__.py" else [ ]); };
      name = "${data.name}-report";
      spec = { step = step.name; inherit dataset; device = "cpu";
               config = { report = { inherit module; }; } // (if (step.role or null) == "package" then { card = cardFacts step; } else { });
               inputs = { data = "${data}"; }; };
    } // { inherit data; };

  # Segmented steps (`segments` in nix/steps.nix, LoRA training): `steps` optimizer steps run as
  # a chain of derivations of `segment_steps` steps each; segment k gets segment k-1's output as
  # inputs.previous. A segment's spec holds the training section *without* `steps` and
  # `validation` plus its own [start, end): a crash loses at most one segment, and raising
  # `steps` keeps every finished segment's hash (only new segments are built).
  # The default segment length is the training section's own (TrainConfig.segment_steps, listed
  # with the section's keys in the generated nix/config-keys.json): declared once, in Python.
  configKeys = builtins.fromJSON (builtins.readFile ./config-keys.json);
  segmentsOf = step: upstream:
    let
      section = step.segments.section;
      sc = cfg.${section} or (throw "reelset mkPipeline: ${step.name} needs a [${section}] section with `steps = N` in ${where} (see docs/training.md)");
      total = sc.steps or (throw "reelset mkPipeline: [${section}] of ${where} has no `steps = N` (optimizer steps of the run)");
      k = sc.segment_steps or configKeys.${section}.keys.segment_steps.default;
      count = if total < 1 || k < 1
        then throw "reelset mkPipeline: [${section}] of ${where}: steps (${builtins.toJSON total}) and segment_steps (${builtins.toJSON k}) must be >= 1"
        else (total + k - 1) / k;
      segCfg = removeAttrs sc [ "steps" "validation" ];
      segStep = step // { inherit (step.segments) script sources; };
      pad = i: let t = toString i; in builtins.substring 0 (3 - builtins.stringLength t) "00" + t;
      end = i: let e = (i + 1) * k; in if e < total then e else total;
      one = i: mkStep {
        step = segStep;
        name = "reelset-${dataset}-${step.name}-seg${pad i}";
        spec = {
          step = step.name; inherit dataset; inherit (step) device;
          config = { ${section} = segCfg; segment = { index = i; start = i * k; end = end i; };
                     device = cfg.device or { }; };  # cuda device policy (reelset/device.py)
          inputs = upstream // (if i == 0 then { } else { previous = "${builtins.elemAt list (i - 1)}"; });
          models = modelsFor step;
        };
      };
      list = builtins.genList one count;
    in { inherit list; inputs = listToAttrs (builtins.genList (i: { name = "segment-${pad i}"; value = "${builtins.elemAt list i}"; }) count); };

  # Fan-outs (`fanOut` in nix/steps.nix): one small derivation per item that an upstream step's
  # artifact lists (reelset.schemas.base.FanOutItem: key, name, video, where, config), read from
  # that output at evaluation time (import from derivation). Each item's spec holds only its video
  # and its own config, so editing anything else of the upstream file rebuilds no item. Without
  # the upstream step (e.g. no bible.yaml) there are none. The step's derivations (every shard of
  # a video step, or the one of a dataset step) get them all as spec.inputs."<input><key>".
  #   fanOutOf : step -> { "<key>" = derivation; }
  # Example: fanOutOf steps.byName.step2-shot-reference → { "demo01-1.000000" = «derivation»; … }
  fanOutOf = step:
    let f = step.fanOut; in
    if !(step ? fanOut) || !(available f.from) then { } else
    let
      art = builtins.fromJSON (builtins.readFile "${outputs.${f.from}.data}/${f.artifact}");
      items = art.fan_out.${f.select} or (throw "reelset mkPipeline: ${f.from}'s ${f.artifact} has no fan_out.${f.select} list (step ${step.name}, nix/steps.nix fanOut); rebuild ${f.from} with this reelset");
      models = modelsFor step;
      one = it: {
        name = it.key;
        value = mkStep {
          step = { name = "${step.name}-${f.part}"; inherit (step) device; script = f.script; sources = steps.closureOf f.script; };
          name = "reelset-${dataset}-${step.name}-${it.name}";
          spec = {
            step = step.name; inherit dataset; inherit (step) device; video_id = it.video;
            video = videos.${it.video} or (throw "reelset: ${shown it.file}: ${it.what} names video '${it.video}', which ${where} does not list (videos: ${builtins.concatStringsSep ", " (attrNames videos)})");
            config = it.config // (if step.device == "cuda" then { device = cfg.device or { }; } else { });
          } // (if models == { } then { } else { inherit models; })
            // (let o = if videos ? ${it.video} then videoOptions step it.video else { }; in if o == { } then { } else { video_options = o; });
        };
      };
    in listToAttrs (map one items);

  # Aggregates link their members' outputs: tools/aggregate.py (no report: the `.data` of a
  # video-level step, over its compute shards, which dataset-level steps read) and
  # tools/aggregate_report.py (the same plus index.html: what users open, over reports).
  aggregate = { stepName, drvName, kind, members, report ? false, order ? null }: mkStep {
    step = let script = if report then "aggregate_report.py" else "aggregate.py"; in
      { name = "aggregate"; device = "cpu"; inherit script; sources = steps.closureOf script; };
    name = drvName;
    spec = { step = stepName; inherit dataset; device = "cpu";
             config = { aggregate = { inherit kind; } // (if order == null then { } else { inherit order; }); };
             inputs = mapAttrs (_: d: "${d}") members; };
  };

  build = step:
    let
      upstream = videoId: attrsFrom (u:
        let up = outputs.${u}; us = steps.byName.${u}; in
        if (us.level == "video" || us.perVideo or false) && videoId != null then "${up.shards.${videoId}.data}" else "${up.data}") step.inputs;
      # a fan-out step's items (fanOutOf): every derivation of the step reads them all
      fanOut = fanOutOf step;
      fanOutAttr = if step ? fanOut then { ${step.fanOut.attr} = fanOut; } else { };
      fanOutInputs = mapAttrs' (k: d: { name = "${step.fanOut.input}${k}"; value = "${d}"; }) fanOut;
      spec = videoId: {
        step = step.name; inherit dataset; inherit (step) device;
        config = attrsFrom (s: cfg.${s} or { }) step.config;
        inputs = upstream videoId // fanOutInputs;
        models = modelsFor step;
        files = filesFor step;
      } // (let names = fileNamesFor step; in if names == { } then { } else { file_names = names; })
        // (if videoId == null then { } else { video_id = videoId; video = videos.${videoId}; })
        // (let o = videoOptions step videoId; in if o == { } then { } else { video_options = o; });
      drvName = "reelset-${dataset}-${step.name}";
    in
    if step.level == "video" then
      let
        compute = mapAttrs (id: _: mkStep { inherit step; name = "${drvName}-${id}"; spec = spec id; }) videos;
        shards = mapAttrs (_: reportOf step) compute;
        data = aggregate { stepName = step.name; inherit drvName; kind = "shards"; members = compute; };
      in aggregate { stepName = step.name; drvName = "${drvName}-report"; kind = "shards"; members = shards; report = true; }
         // { inherit shards data; } // fanOutAttr
    else if step.perVideo or false then
      # a dataset-level step whose work runs per video: one shard per video (its video's shards of
      # the inputs, its own part of split files; no source video), gathered by the step's
      # derivation (inputs."shards/<video id>"), which does no per-clip work. `.shards.<video id>` is the shard's
      # compute output (no page of its own: the step's report covers the dataset); `.data` = itself.
      let
        # a shard takes only the sections of `shardConfig` (default: all of `config`)
        compute = mapAttrs (id: _: mkStep { inherit step; name = "${drvName}-${id}";
          spec = removeAttrs (spec id) [ "video" ] // { files = shardFilesFor step id;
            config = attrsFrom (s: cfg.${s} or { }) (step.shardConfig or step.config); }; }) videos;
        gather = mkStep { inherit step; name = drvName; spec = spec null // {
          inputs = upstream null // mapAttrs' (id: d: { name = "shards/${id}"; value = "${d}"; }) compute; }; };
      in reportOf step gather // { shards = mapAttrs (_: c: c // { data = c; }) compute; }
    else if step ? segments then
      let segs = segmentsOf step (upstream null);
      in reportOf step (mkStep { inherit step; name = drvName; spec = spec null // { inputs = upstream null // segs.inputs; }; })
         // { segments = segs.list; }
    else reportOf step (mkStep { inherit step; name = drvName; spec = spec null; }) // fanOutAttr;

  outputs = attrsFrom (n: build steps.byName.${n}) steps.names;

  # Why `all` leaves a step out (null when it is in `all`): the first non-optional dataset file it
  # lacks, else the first input left out; plus, for an opt-in step, the section that turns it on.
  # The same rules as `available` / `inAll`, in the words `reelset build` and `reelset status` print.
  whyLeftOut = name:
    let
      s = steps.byName.${name};
      lacking = filter (f: !(f.optional or false) && !fileExists f) (attrValues (s.files or { }));
      up = filter (u: !inAll u) s.inputs;
      base = if lacking != [ ] then let f = builtins.head lacking; in
               "needs ${fileRel f} in the dataset folder (`${f.key}` in dataset.toml names another file)"
             else if up != [ ] then "needs ${builtins.head up}, which is left out" else null;
      opt = if optedOut name then "opt-in: add a [${s.optIn}] section to dataset.toml (docs/training.md)" else null;
    in if inAll name then null
       else if base == null then (if opt == null then "left out by nix/pipeline.nix (inAll)" else opt)
       else if opt == null then base else "${base}; ${opt}";
  pad3 = i: let t = toString i; in builtins.substring 0 (3 - builtins.stringLength t) "00" + t;
  # One step of the plan: its table facts, whether `all` holds it and why not, and its derivations
  # (the step's own and, by name, its per-video shards or training segments); state "error" when it
  # does not evaluate (e.g. a training step without `steps`).
  planOf = name:
    let
      s = steps.byName.${name};
      o = outputs.${name};
      r = builtins.tryEval (if o ? shards then o else o.data or o).drvPath;
    in {
      inherit (s) device level;
      optIn = s.optIn or null;
      optedOut = optedOut name;
      inAll = inAll name;
      why = whyLeftOut name;
      state = if r.success then "ok" else "error";
      drv = if r.success then r.value else null;
      shards = if !r.success then { }
        else if o ? shards then mapAttrs (_: x: (x.data or x).drvPath) o.shards
        else if o ? segments then listToAttrs (builtins.genList (i: { name = "seg${pad3 i}"; value = (builtins.elemAt o.segments i).drvPath; })
          (builtins.length o.segments))
        else { };
    };
in
outputs // {
  all = aggregate {
    stepName = "pipeline"; drvName = "reelset-${dataset}";
    kind = "steps"; members = attrsFrom (n: outputs.${n}) (filter inAll steps.names); report = true;
    order = filter inAll steps.names;  # the page lists steps in pipeline order
  };
  config = cfg;
  inherit videos;
  # What `reelset status` / `build` read with one `nix eval --json …plan`: the dataset.toml sections
  # present and, per step in pipeline order, planOf (derivations, in `all` or why not).
  plan = { sections = attrNames cfg; order = steps.names; steps = attrsFrom planOf steps.names; };
}
