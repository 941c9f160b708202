{
  description = "A reelset dataset: source videos -> LoRA training data (reelset steps as flake packages)";

  # Point this at your reelset checkout or its git remote, e.g.
  #   git+file:///home/me/src/reelset      (a local clone; only committed files are used)
  #   git+https://git.example.org/reelset  (a remote)
  # (or leave it and pass `--override-input reelset git+file:///home/me/src/reelset`).
  inputs.reelset.url = "git+file:///CHANGE-ME/path/to/reelset";

  # Every step of reelset's step table, for this folder's dataset.toml:
  #   nix build --impure .#host.step1-scenes         host toolchain (the store env of reelset's
  #                                                  requirements.lock, built on first use)
  #   nix build --impure .#host.all                  every working step; open result/index.html
  #   nix build .#step1-scenes                       nixpkgs toolchain (pure; Nix >= 2.18)
  #   .#host.step1-scenes.shards.<video id>          one video's shard
  outputs = { self, reelset }: reelset.lib.mkDatasetFlake { datasetDir = ./.; };
}
