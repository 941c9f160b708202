{
  description = "reelset: reproducible video -> LoRA training data (LTX-2, Wan 2.1) pipeline, one derivation per step";

  # Only the `nixpkgs` toolchain (packages.*) reads this input. Host-toolchain attributes
  # (legacyPackages.*.host) never force it, so they evaluate without fetching nixpkgs.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
      steps = import ./nix/steps.nix;
      toolsDir = ./tools;

      # Every folder of pipelines/ with a dataset.toml is a dataset.
      datasetNames = builtins.filter (n: builtins.pathExists (./pipelines + "/${n}/dataset.toml"))
        (builtins.attrNames (builtins.readDir ./pipelines));

      # mkPipeline: see nix/pipeline.nix. `toolchain` is "host" (impure: the repo's .venv,
      # needs --impure) or "nixpkgs" (pure, Nix >= 2.18), or a toolchain attrset.
      # Example (a user's flake):
      #   reelset.lib.mkPipeline { system = "x86_64-linux"; datasetDir = ./.; toolchain = "nixpkgs"; }
      mkPipeline = { system, datasetDir, toolchain ? "host" }:
        import ./nix/pipeline.nix { inherit system toolsDir; } {
          inherit datasetDir;
          toolchain =
            if toolchain == "host" then hostToolchain system
            else if toolchain == "nixpkgs" then nixpkgsToolchain system
            else if builtins.isAttrs toolchain then toolchain
            else throw "reelset lib.mkPipeline: toolchain must be \"host\", \"nixpkgs\" or a toolchain attrset, not ${builtins.toJSON toolchain}";
        };
      # host toolchain: the Python environment of requirements.lock as a store path (nix/toolchains/host.nix)
      hostToolchain = system: import ./nix/toolchains/host.nix { lockFile = ./requirements.lock; inherit system; };
      nixpkgsToolchain = system: import ./nix/toolchains/nixpkgs.nix { inherit nixpkgs system; };

      # The user-facing attributes of one pipeline: the steps (unbuilt ones throw with the
      # issue that implements them), `demo` (every step that works) and per-dataset access.
      stepAttrs = pipeline: builtins.listToAttrs (map (n: { name = n; value = pipeline.${n}; }) steps.names);
    in
    {
      # mkDatasetFlake: a user's dataset flake in one line (nix/datasetFlake.nix), e.g.
      #   outputs = { self, reelset }: reelset.lib.mkDatasetFlake { datasetDir = ./.; };
      lib = { inherit mkPipeline steps; mkDatasetFlake = import ./nix/datasetFlake.nix { inherit mkPipeline steps; }; };

      # nix flake init -t <reelset>#dataset: a dataset folder (flake.nix + dataset.toml example)
      # The rented GPU builder (builders/gpu-builder.nix, docs/builders.md).
      nixosModules.gpu-builder = import ./builders/gpu-builder.nix;

      templates.dataset = {
        path = ./templates/dataset;
        description = "reelset dataset: dataset.toml + a flake exposing every reelset step for it";
      };

      # Host toolchain (impure): nix build --impure .#host.demo / .#host.step1-scenes
      #   .#host.step1-scenes.shards.demo01     one video's shard
      #   .#host.datasets.<name>.<step>         any dataset in pipelines/
      #   .#host.python-env                     the steps' Python environment (store path; e.g.
      #                                         `nix copy --to ssh-ng://gpu .#host.python-env`)
      legacyPackages = forAllSystems (system:
        let
          pipelines = builtins.listToAttrs (map (n: {
            name = n;
            value = mkPipeline { inherit system; datasetDir = ./pipelines + "/${n}"; };
          }) datasetNames);
          demo = pipelines.demo;
        in {
          host = stepAttrs demo // {
            demo = demo.all;
            inherit (demo) plan;  # what `reelset status` / `build` read (nix/pipeline.nix)
            python-env = (hostToolchain system).pythonEnv;
            wheelhouse = (hostToolchain system).wheelhouse;
            datasets = builtins.mapAttrs (_: p: stepAttrs p // { all = p.all; inherit (p) plan; }) pipelines;
          };
        });

      # nixpkgs toolchain (pure, Nix >= 2.18): nix build .#demo / .#step1-scenes
      packages = forAllSystems (system:
        let demo = mkPipeline { inherit system; datasetDir = ./pipelines/demo; toolchain = "nixpkgs"; };
        in builtins.listToAttrs (map (s: { inherit (s) name; value = demo.${s.name}; }) steps.list)
           // { demo = demo.all; default = demo.all; });
    };
}
