# The step table: every reelset step, in pipeline order. One entry per step:
#
#   name     : string        user-facing step name (flake attribute, devenv task, report title)
#   device   : "cpu"|"cuda"  cuda → requiredSystemFeatures = [ "cuda" ] (runs on a GPU builder);
#                            cpu  → preferLocalBuild = true (never sent to a builder)
#   level    : "video"|"dataset"  video steps are sharded per source video (one derivation per
#                            video); dataset steps aggregate over all videos
#   perVideo : bool          (optional, dataset steps) the step's work runs per video: one shard
#                            derivation per video (the same video's shards of its inputs,
#                            spec.video_id) and the step's derivation only gathers them
#                            (spec.inputs."shards/<video id>", by links): a change to one video re-runs its shard only
#   shardConfig : [ string ] (optional, perVideo steps) the sections of `config` the per-video
#                            shards take (default: all); the others only the gathering takes, so
#                            editing them re-runs no shard (step2-reviewed: [repeats])
#   inputs   : [ string ]    upstream steps whose outputs the tool reads (a video step gets the
#                            same video's shard of a video-level input)
#   videoKeys : [ string ]   (optional, video steps) keys of the video's [[videos]] entry passed to the
#                            tool as spec.video_options (only those set: an unset key changes no hash),
#                            e.g. step1-scenes: [ "crop" "audio" ]; every step that reads the source's
#                            sound takes "audio" (the clips carry step1's choice to the packages)
#   config   : [ string ]    dataset.toml sections passed to the tool (only these are hashed, so
#                            editing another section never rebuilds this step); every cuda step
#                            takes "device" (its device policy, reelset/device.py)
#   models   : { role = { key; default; when ? ; }; }  models the step loads: `key` is the
#                            dataset.toml key naming a model of nix/models.toml (e.g. "asr.model"),
#                            `default` the model used when the key is absent, `when` (optional) a
#                            boolean dataset.toml key (default true) that switches the model off:
#                            then it is no input of the derivation and needs no pin
#                            `variant` (optional, family steps) = { key; default; models; family; }:
#                            without `key` set, the model is that of the family variant named by the
#                            dataset.toml key `variant.key` (default `variant.default`; `models`:
#                            variant name → nix/models.toml name, from nix/families.json); an
#                            unknown variant fails evaluation listing the family's variants
#   script   : string        the tool in tools/
#   family   : string        (optional) the model family of the step (reelset/families/<family>.py);
#                            with `role` ("package", "preprocess", "train") the files the tool loads
#                            by reference (family module, config model, model module: nix/families.json)
#                            are added to the sources. The step3/4/5 entries of every family are
#                            made here from nix/families.json (generated from reelset/families by
#                            `python tools/gen_docs.py`), never written by hand
#   sources  : [ string ]    (computed here, never written by hand) the files of tools/ the script
#                            imports, from nix/sources.json (generated from the imports by
#                            `python tools/gen_docs.py`; tests/test_docs.py fails when stale). Only
#                            these are copied into the step's source, so editing another module
#                            never changes this step's hash.
#   files    : { role = { key; default; optional ? false; }; }  (optional) files of the dataset
#                            folder the tool reads, like models: `key` is the dataset.toml key naming
#                            the file, `default` its name; passed as spec.files.<role> (store paths).
#                            `optional = true`: a missing file is left out of spec.files (the step
#                            still builds) instead of making the step unavailable; `split = "<key>"`
#                            (JSON files of perVideo steps): a shard gets the file cut to the
#                            entries of <key> whose clip id names its video (nix/pipeline.nix)
#   fanOut   : { from; artifact; select; script; part; attr; input; }  (optional) one derivation
#                            per item of the list `fan_out.<select>` in `<artifact>` of step `from`
#                            (reelset.schemas.base.FanOutItem, read at evaluation time): `script`
#                            runs one item (e.g. extracts one frame); the derivations are named
#                            reelset-<dataset>-<step>-<item name> (source "<step>-<part>"), shown as
#                            `.<attr>.<key>`, and every derivation of the step (each shard of a video
#                            step) gets them all as spec.inputs."<input><key>" (nix/pipeline.nix fanOutOf)
#   optIn    : string        (optional) dataset.toml section that puts the step into `all`: without
#                            it the step can still be built by name but `all` leaves it (and its
#                            dependents) out (GPU-heavy steps: preprocess, training)
#   segments : { section; script; sources; }  (optional) the step is a chain of segment
#                            derivations (nix/pipeline.nix): `script` runs `segment_steps` optimizer
#                            steps each, resuming from the previous segment; `section` is the
#                            dataset.toml section with `steps` / `segment_steps`; the step's own
#                            `script` then gathers the segments (final LoRA, report)
#
# Example: (import ./steps.nix).byName.step1-scenes.device == "cpu"
let
  closures = builtins.fromJSON (builtins.readFile ./sources.json);
  closureOf = file: closures.${file} or (throw
    "reelset nix/steps.nix: tools/${file} is not in nix/sources.json; run `python tools/gen_docs.py` (it computes every tool's source closure from its imports) and commit nix/sources.json");
  families = builtins.fromJSON (builtins.readFile ./families.json);
  uniq = l: builtins.attrNames (builtins.listToAttrs (map (x: { name = x; value = null; }) l));  # sorted, each once
  # sources of a step: its tool's closure, plus what it loads by reference as its family's role
  withSources = s:
    let
      fam = if s ? family then families.${s.family}.sources.${s.role} else [ ];
      segments = if s ? segments then { segments = s.segments // { sources = uniq (closureOf s.segments.script ++ fam); }; } else { };
    in s // { sources = uniq (closureOf s.script ++ fam); } // segments;
  # the steps of one model family (nix/families.json): package (per video), preprocess, train
  packageOf = n: f: {
    name = f.package_step; device = "cpu"; level = "dataset"; perVideo = true;
    inputs = [ "step2-reviewed" ]; config = [ n ]; models = { };
    script = f.package_script; family = n; role = "package";
  } // (if f.in_all then { } else { optIn = n; });
  # the base model of step4/step5: `model` of [<n>_preprocess], else the model of its `variant`
  # (reelset/families: Family.variants), else the default variant's. Only step4/step5 read that
  # section: a variant switch never changes the package step.
  baseOf = n: f: { key = "${n}_preprocess.model"; default = f.default_model;
                   variant = { key = "${n}_preprocess.variant"; default = f.default_variant; family = n;
                               models = builtins.mapAttrs (_: v: v.model) f.variants; }; };
  preprocessOf = n: f: {
    name = f.preprocess_step; device = "cuda"; level = "dataset"; optIn = "${n}_preprocess";
    inputs = [ f.package_step ]; config = [ "${n}_preprocess" "device" ];
    models = { base = baseOf n f; };
    script = "step4_preprocess.py"; family = n; role = "preprocess";
  };
  trainOf = n: f: {
    name = f.train_step; device = "cuda"; level = "dataset"; optIn = "${n}_train";
    inputs = [ f.preprocess_step ]; config = [ "${n}_train" "device" ];
    # the model the latents were made with (step5 checks that they match)
    models = { base = baseOf n f; };
    script = "step5_train.py"; family = n; role = "train";
    segments = { section = "${n}_train"; script = "step5_train_segment.py"; };
  };
  familySteps = make: builtins.attrValues (builtins.mapAttrs make families);
  list = map withSources ([
    {
      name = "step1-scenes"; device = "cpu"; level = "video";
      inputs = [ ]; config = [ "scenes" ]; models = { }; videoKeys = [ "crop" "audio" ];
      script = "step1_scenes.py";
    }
    {
      name = "step2-transcript-base"; device = "cuda"; level = "video";
      inputs = [ ]; config = [ "asr" "device" ]; models = { asr = { key = "asr.model"; default = "faster-whisper-large-v3"; }; };
      videoKeys = [ "audio" ];
      cpuKernels = true;  # CTranslate2 + numpy on the CPU: the same bytes on every AVX2 CPU (nix/cpu-kernels.json)
      script = "step2_transcript_base.py";
    }
    {
      # fanOut: one derivation per voice reference of the bible (characters[].voice_references:
      # video + start/end seconds) embeds that span (step2_voice_reference.py); every shard reads
      # them all (spec.inputs."voice/<character>/<video>-<start>-<end>"). The bible is no input of
      # the shard: only a voice-reference edit re-runs it.
      name = "step2-speakers"; device = "cuda"; level = "video";
      inputs = [ "step2-transcript-base" ]; config = [ "speakers" "device" ];
      models = { speakers = { key = "speakers.model"; default = "wavlm-base-plus-sv"; }; };
      videoKeys = [ "audio" ];  # the voice references too (nix/pipeline.nix fanOutOf)
      script = "step2_speakers.py";
      fanOut = { from = "step2-bible"; artifact = "bible.json"; select = "voices"; script = "step2_voice_reference.py";
                 part = "voice"; attr = "voices"; input = "voice/"; };
    }
    {
      name = "step2-bible"; device = "cpu"; level = "dataset";
      inputs = [ ]; config = [ ]; models = { };
      files = { bible = { key = "bible.file"; default = "bible.yaml"; }; };
      script = "step2_bible.py";
    }
    {
      name = "step2-shot-reference"; device = "cpu"; level = "dataset";
      inputs = [ "step2-bible" ]; config = [ ]; models = { };
      script = "step2_shot_reference.py";
      # fanOut: one derivation per distinct reference shot (video + t) extracts its frame
      fanOut = { from = "step2-bible"; artifact = "bible.json"; select = "shots"; script = "step2_reference_frame.py";
                 part = "frame"; attr = "frames"; input = "frame/"; };
    }
    {
      name = "step2-transcript-disambiguate"; device = "cuda"; level = "video";
      inputs = [ "step1-scenes" "step2-transcript-base" "step2-bible" "step2-shot-reference" ];
      config = [ "asr" "disambiguate" "device" ];
      models = { asr = { key = "asr.model"; default = "faster-whisper-large-v3"; };
                 vlm = { key = "disambiguate.vlm"; default = "qwen2.5-vl-7b-instruct"; when = "disambiguate.model"; }; };
      videoKeys = [ "audio" ];
      script = "step2_transcript_disambiguate.py"; cpuKernels = true;
     
    }
    {
      name = "step2-scene-context"; device = "cpu"; level = "video";
      inputs = [ "step1-scenes" "step2-transcript-disambiguate" "step2-bible" "step2-speakers" ];
      config = [ ]; models = { };
      script = "step2_scene_context.py";
    }
    {
      name = "step2-caption"; device = "cuda"; level = "video";
      inputs = [ "step1-scenes" "step2-scene-context" "step2-bible" ]; config = [ "caption" "device" ];
      models = { vlm = { key = "caption.model"; default = "qwen2.5-vl-7b-instruct"; }; };
      script = "step2_caption.py";
    }
    {
      name = "step2-reviewed"; device = "cpu"; level = "dataset"; perVideo = true;
      inputs = [ "step1-scenes" "step2-caption" ]; config = [ "review" "repeats" ]; models = { };
      # [repeats] groups clips across videos: only the gathering takes it (the shards fingerprint)
      shardConfig = [ "review" ];
      # optional: without review.json every clip goes by automatic QA alone
      # split: each video's shard gets only the decisions on its own clips
      files = { review = { key = "review.file"; default = "review.json"; optional = true; split = "decisions"; }; };
      script = "step2_reviewed.py";
    }
  ] ++ familySteps packageOf ++ familySteps preprocessOf ++ familySteps trainOf);
in
{
  inherit list closureOf families;
  names = map (s: s.name) list;
  byName = builtins.listToAttrs (map (s: { inherit (s) name; value = s; }) list);
}
