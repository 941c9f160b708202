# reelset GPU builder — NixOS module for a rented GPU box that builds reelset's `cuda`
# steps for remote clients over `ssh-ng://`.
#
# What it sets up (only when `reelset.builder.enable = true`):
#   * the NVIDIA driver (services.xserver.videoDrivers = [ "nvidia" ] — this only selects
#     the kernel/user-space driver, it does not start an X server), persistenced, nvidia_uvm,
#     hardware.graphics (hardware.opengl before 24.11) and an assertion that the driver is at
#     least `minDriverVersion` (580 = what the CUDA 13 wheels of requirements.lock need);
#   * the driver INSIDE the build sandbox: static extra-sandbox-paths with /dev/nvidia* and
#     `/run/opengl-driver/lib=<driver store path>/lib`. The host's /run/opengl-driver is a
#     symlink to a graphics-drivers store path; Nix copies a symlinked sandbox path as a bare
#     symlink and brings in closures only of store-path sources, so "/run/opengl-driver" alone
#     dangles inside the build (NixOS/nixpkgs#376699). Mapping the driver's own store path
#     brings its closure. Static, because the nix-required-mounts pre-build hook never sees
#     derivations that arrive over ssh-ng (NixOS/nix#9272);
#   * Nix: `cuda` added to NixOS's own system-features (at the same mkDefault priority, so the
#     defaults incl. gccarch-* are kept); sandbox = relaxed (host-toolchain steps are
#     __noChroot); trusted-users = root + the build user; GC only when the disk runs low
#     (min-free/max-free) instead of a weekly nix.gc that deleted the interpreter, models and
#     videos nothing roots; optional CUDA binary caches (nixpkgs toolchain) and an
#     EnvironmentFile for nix-daemon (HF_TOKEN for fixed-output model fetches);
#   * the ssh build user: a dedicated `nixremote` whose keys may only run `nix-daemon --stdio`
#     (restrictKeys), or NixOS's own nix.sshServe (ssh-ng, trusted; user nix-ssh);
#     sshd keys only, root login with keys (`adminKeys`) for administration;
#   * one GPU per cuda step: a slot lock per GPU in /run/reelset/gpu-locks (`gpuCount`
#     files, also in the sandbox) and max-jobs = gpuCount (tools/reelset/gpu_slots.py);
#   * the host toolchain: the interpreter `hostPython` rooted at /opt/reelset/python (the venv
#     /opt/reelset/venv is made from it, docs/builders.md), nix-ld with the libraries the
#     manylinux wheels need (libstdc++, zlib; the host toolchain puts nix-ld's library folder
#     and /run/opengl-driver/lib on LD_LIBRARY_PATH of cuda steps), ffmpeg on PATH.
#
# Every key of a client in `authorizedKeys` is in trusted-users, which Nix documents as
# "essentially equivalent to giving that user root access to the system": give it only to
# machines you would give root.
#
# Inputs: `config`, `lib`, `pkgs`, `options` (standard module arguments). Needs NixOS >= 23.05
# (services.openssh.settings, nix.settings); handles the hardware.opengl -> hardware.graphics
# rename (24.11) by checking which option exists. Option names were checked against nixpkgs
# sources (docs/builders.md, "Checked against"), not evaluated here. The NVIDIA driver is
# unfree: this module allows exactly the nvidia packages (allowUnfreePredicate, mkDefault) —
# drop that if you manage nixpkgs.config yourself.
#
# Example (flake-based host configuration):
#   nixosConfigurations.gpu1 = nixpkgs.lib.nixosSystem {
#     system = "x86_64-linux";
#     modules = [
#       ./hardware-configuration.nix
#       reelset.nixosModules.gpu-builder      # or: ./builders/gpu-builder.nix
#       ({ config, ... }: {
#         reelset.builder = {
#           enable = true;
#           authorizedKeys = [ "ssh-ed25519 AAAA... nix-builder@laptop" ];
#           adminKeys = [ "ssh-ed25519 AAAA... me@laptop" ];
#           gpuCount = 1;                        # nvidia-smi -L | wc -l; = maxJobs on the clients
#         };
#         reelset.builder.nvidiaOpen = true;   # open kernel modules: Turing or newer (RTX 6000 Ada: yes)
#         # a branch >= 580 (the assertion says which one you have)
#         hardware.nvidia.package = config.boot.kernelPackages.nvidiaPackages.latest;
#       })
#     ];
#   };
#
# Client side: builders/machines.example; checks: builders/check; guide: docs/builders.md.
{ config, lib, pkgs, options, ... }:

let
  inherit (lib) mkOption mkIf mkMerge mkDefault types;
  cfg = config.reelset.builder;

  hasGraphics = options.hardware ? graphics;          # NixOS >= 24.11
  nvidiaPkg = config.hardware.nvidia.package;
  daemon = "${config.nix.package}/bin/nix-daemon";
  GiB = 1024 * 1024 * 1024;
  buildUser = if cfg.useSshServe then "nix-ssh" else cfg.user;

  # Optional entries end in "?" (Nix skips them when missing): GPU nodes beyond the first,
  # and the uvm/modeset/caps nodes that only appear once the modules are loaded.
  defaultSandboxPaths =
    [ "/dev/nvidiactl" "/dev/nvidia-uvm?" "/dev/nvidia-uvm-tools?" "/dev/nvidia-modeset?" "/dev/nvidia-caps?" ]
    ++ map (i: "/dev/nvidia${toString i}?") (lib.range 0 (cfg.gpuCount - 1))
    ++ [
      # libcuda.so.1, libnvidia-ml.so.1, libnvidia-ptxjitcompiler.so.1 … of the driver, at the
      # path nixpkgs' addDriverRunpath (and the toolchains' LD_LIBRARY_PATH) expect. The
      # source is a store path, so Nix adds its closure to the sandbox.
      "/run/opengl-driver/lib=${lib.getLib nvidiaPkg}/lib"
      # the GPU slot locks (sandboxed nixpkgs-toolchain steps; host-toolchain steps see /run)
      "/run/reelset/gpu-locks"
    ];

  caches = {
    # nixos-cuda's Hydra (nixos-cuda/infra README, hosts/hydra/cache.nix): nixpkgs' CUDA
    # package set with the default capabilities; "not an official NixOS project".
    "https://cache.nixos-cuda.org" = "cache.nixos-cuda.org:74DUi4Ye579gUqzH4ziL9IyiJBlDpMRn9MBN8oNan9M=";
    # Flox (redistribution of CUDA agreed with NVIDIA; discourse.nixos.org/t/69189)
    "https://cache.flox.dev" = "flox-cache-public-1:7F4OyH7ZCnFhcze3fJdfyXYLQw/aV7GEed86nQ7IsOs=";
  };
in
{
  imports = [
    (lib.mkRemovedOptionModule [ "reelset" "builder" "systemFeatures" ]
      "NixOS's default system-features are kept now and `cuda` is added to them; add others with nix.settings.system-features = lib.mkDefault [ ... ].")
    (lib.mkRemovedOptionModule [ "reelset" "builder" "hostVenv" ]
      "the venv is /opt/reelset/venv, made from reelset.builder.hostPython (docs/builders.md).")
  ];

  options.reelset.builder = {
    enable = lib.mkEnableOption "the reelset GPU builder (NVIDIA driver in the sandbox, cuda system feature, ssh build user)";

    user = mkOption {
      type = types.str;
      default = "nixremote";
      description = "ssh user the clients' Nix logs in as (machines line: ssh-ng://<user>@host). Ignored with useSshServe (user nix-ssh).";
    };

    authorizedKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ssh-ed25519 AAAAC3Nza... nix-builder@laptop" ];
      description = ''
        Public keys of the clients' Nix (the private key is field 3 of their machines line,
        e.g. /etc/nix/builder_ed25519 — root's nix-daemon reads it, so it must not need a
        passphrase). The build user is a trusted Nix user: each of these keys is, in effect,
        root on this box.
      '';
    };

    restrictKeys = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Prefix each key with `restrict,command="nix-daemon --stdio"`: the key can only talk
        to the Nix daemon (what ssh-ng:// needs), no shell, no forwarding. (The daemon-level
        trust remains: see authorizedKeys.)
      '';
    };

    useSshServe = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Use NixOS's own nix.sshServe (protocol ssh-ng, trusted = true, keys = authorizedKeys)
        instead of the `user` defined here; the machines line then says ssh-ng://nix-ssh@host.
        Needs a nixpkgs whose nix-ssh-serve.nix has the `trusted` option.
      '';
    };

    adminKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = ''
        Keys for root logins (administration: nixos-rebuild, creating the venv, reading logs).
        sshd's PermitRootLogin is mkDefault "prohibit-password" (keys only); set it to "no"
        if you administer the box through another user in `wheel`.
      '';
    };

    gpuCount = mkOption {
      type = types.ints.between 1 16;
      default = 1;
      example = 4;
      description = ''
        Number of GPUs of the box (`nvidia-smi -L | wc -l`). Each gets a slot lock
        /run/reelset/gpu-locks/<index>, so each cuda step holds a GPU of its own
        (tools/reelset/gpu_slots.py), and the builder runs that many jobs at once
        (nix.settings.max-jobs, mkDefault); set the clients' maxJobs for this box to the same
        number. Also exposes /dev/nvidia0 .. /dev/nvidia<gpuCount-1> in the sandbox.
      '';
    };

    extraSandboxPaths = mkOption {
      type = types.listOf types.str;
      default = defaultSandboxPaths;
      defaultText = lib.literalExpression ''
        [ "/dev/nvidiactl" "/dev/nvidia-uvm?" "/dev/nvidia-uvm-tools?" "/dev/nvidia-modeset?" "/dev/nvidia-caps?"
          "/dev/nvidia0?" ... "/run/opengl-driver/lib=''${lib.getLib config.hardware.nvidia.package}/lib" ]'';
      description = "Paths bind-mounted into every build sandbox (nix.settings.extra-sandbox-paths).";
    };

    minDriverVersion = mkOption {
      type = types.str;
      default = "580";
      description = ''
        Smallest NVIDIA driver version accepted (assertion on hardware.nvidia.package.version).
        CUDA 13.x builds (torch +cu130, nvidia-cuda-runtime 13 in requirements.lock) need >= 580,
        CUDA 12.x >= 525 (NVIDIA, CUDA minor version compatibility table). Pick the driver
        with hardware.nvidia.package = config.boot.kernelPackages.nvidiaPackages.<branch>.
      '';
    };

    nvidiaOpen = mkOption {
      type = types.bool;
      default = true;
      description = ''
        hardware.nvidia.open: the open kernel modules (Turing and newer, required for
        Blackwell/Grace Hopper data-center GPUs). NixOS requires an explicit choice for
        driver >= 560. Set false for pre-Turing cards.
      '';
    };

    hostPython = mkOption {
      type = types.package;
      default = pkgs.python311;
      defaultText = lib.literalExpression "pkgs.python311";
      description = ''
        Interpreter the host-toolchain venv /opt/reelset/venv is made from. Linked at
        /opt/reelset/python by this configuration, so it is part of the system closure and no
        garbage collection removes it from under the venv. Same Python minor version as the
        clients' venv (requirements.lock).
      '';
    };

    minFree = mkOption {
      type = types.int;
      default = 50 * GiB;
      description = "nix.settings.min-free (bytes): when a build finds less free space in /nix/store, Nix collects garbage until maxFree is free.";
    };

    maxFree = mkOption {
      type = types.int;
      default = 200 * GiB;
      description = "nix.settings.max-free (bytes). Size both to the disk: models (a 7B VLM ≈ 16 GB) and videos are kept until space is short.";
    };

    cudaCaches = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Add the CUDA binary caches (cache.nixos-cuda.org, cache.flox.dev) with their keys to
        substituters/trusted-public-keys: only the nixpkgs toolchain needs them (cache.nixos.org
        has no CUDA builds). Trusting a cache's key trusts what it serves.
      '';
    };

    daemonEnvironmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/etc/nix/hf-token.env";
      description = ''
        File (root:root 0600, outside the store) read by nix-daemon as systemd EnvironmentFile,
        e.g. `HF_TOKEN=hf_...`: fixed-output derivations see impureEnvVars from the daemon's
        environment, not from a client's shell. Never put the token itself into the
        configuration (it would land in the world-readable store).
      '';
    };

    nixLd = mkOption {
      type = types.bool;
      default = true;
      description = "Enable programs.nix-ld with libstdc++ and zlib added to its default libraries (host-toolchain wheels).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        { assertion = cfg.authorizedKeys != [ ];
          message = "reelset.builder.authorizedKeys is empty: no client could log in."; }
        { assertion = lib.versionAtLeast nvidiaPkg.version cfg.minDriverVersion;
          message = "reelset.builder: hardware.nvidia.package is driver ${nvidiaPkg.version}, older than minDriverVersion ${cfg.minDriverVersion} (CUDA 13 wheels need >= 580): pick a newer branch, e.g. hardware.nvidia.package = config.boot.kernelPackages.nvidiaPackages.latest, or lower minDriverVersion for CUDA 12 toolchains."; }
        { assertion = builtins.elem "cuda" config.nix.settings.system-features;
          message = "reelset.builder: nix.settings.system-features lacks cuda (a plain assignment replaces the mkDefault list this module adds to); add \"cuda\" to it."; }
      ];

      # --- NVIDIA driver ------------------------------------------------------------------
      services.xserver.videoDrivers = [ "nvidia" ];
      hardware.nvidia = {
        # mkDefault: a configuration that sets hardware.nvidia.open itself wins instead of
        # conflicting with this definition (two normal-priority bools that differ fail)
        open = mkDefault cfg.nvidiaOpen;
        nvidiaPersistenced = mkDefault true;   # keep the GPU initialised on a headless box
        modesetting.enable = mkDefault true;
      };
      boot.kernelModules = [ "nvidia_uvm" ];   # CUDA needs /dev/nvidia-uvm; create it at boot
      environment.systemPackages = [
        nvidiaPkg.bin                          # nvidia-smi (builders/check)
        pkgs.ffmpeg-headless                   # ffmpeg/ffprobe of host-toolchain cuda steps
      ];
      nixpkgs.config.allowUnfreePredicate = mkDefault (p:
        builtins.elem (lib.getName p) [ "nvidia-x11" "nvidia-settings" "nvidia-persistenced" ]);

      # --- Nix ----------------------------------------------------------------------------
      nix.settings = {
        # same priority as NixOS's own mkDefault list: the two lists are merged
        system-features = mkDefault [ "cuda" ];
        sandbox = "relaxed";                   # host-toolchain steps are __noChroot
        extra-sandbox-paths = cfg.extraSandboxPaths;
        # NixOS defines [ "root" ] at normal priority, so lists merge; root is restated so a
        # configuration that sets trusted-users with mkForce/mkOverride still keeps it
        trusted-users = [ "root" buildUser ];
        experimental-features = [ "nix-command" "flakes" ];
        min-free = cfg.minFree;
        max-free = cfg.maxFree;
        # one job per GPU for builds started on the box itself; builds sent over ssh-ng are
        # limited by the clients' maxJobs (each arrives on its own connection), and whatever
        # arrives, each cuda step holds one GPU slot (below), so extra jobs only wait
        max-jobs = mkDefault cfg.gpuCount;
      };
      # outputs are copied back to the clients; inputs (interpreter, models, videos) should
      # stay: collect garbage only when space runs low (min-free above), not on a timer
      nix.gc.automatic = mkDefault false;

      # --- ssh ----------------------------------------------------------------------------
      services.openssh = {
        enable = true;
        settings = {
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
          PermitRootLogin = mkDefault "prohibit-password";
        };
      };
      users.users.root.openssh.authorizedKeys.keys = cfg.adminKeys;

      # --- host toolchain -----------------------------------------------------------------
      systemd.tmpfiles.rules = [
        "d /opt/reelset 0755 root root -"
        "L+ /opt/reelset/python - - - - ${cfg.hostPython}"
        # GPU slots: one lock file per GPU, named by its CUDA index, readable by every build
        # user (flock needs only an open file); tools/reelset/gpu_slots.py takes a free one
        "d /run/reelset/gpu-locks 1777 root root -"
      ] ++ map (i: "f /run/reelset/gpu-locks/${toString i} 0666 root root -") (lib.range 0 (cfg.gpuCount - 1));
    }

    (mkIf (!cfg.useSshServe) {
      users.groups.${cfg.user} = { };
      users.users.${cfg.user} = {
        isSystemUser = true;
        group = cfg.user;
        useDefaultShell = true;                # sshd needs a shell to run the command
        description = "reelset remote builds (ssh-ng)";
        openssh.authorizedKeys.keys = map
          (k: if cfg.restrictKeys then ''restrict,command="${daemon} --stdio" ${k}'' else k)
          cfg.authorizedKeys;
      };
    })

    (mkIf cfg.useSshServe {
      nix.sshServe = {
        enable = true;
        protocol = "ssh-ng";
        trusted = true;
        write = true;
        keys = cfg.authorizedKeys;
      };
    })

    (mkIf cfg.cudaCaches {
      nix.settings.substituters = builtins.attrNames caches;
      nix.settings.trusted-public-keys = builtins.attrValues caches;
    })

    (mkIf (cfg.daemonEnvironmentFile != null) {
      systemd.services.nix-daemon.serviceConfig.EnvironmentFile = cfg.daemonEnvironmentFile;
    })

    (mkIf cfg.nixLd {
      programs.nix-ld.enable = true;
      # setting the option replaces its default list: keep it and add what the wheels need
      programs.nix-ld.libraries = (options.programs.nix-ld.libraries.default or [ ])
        ++ (with pkgs; [ stdenv.cc.cc.lib zlib ]);
    })

    (if hasGraphics
     then { hardware.graphics.enable = true; }
     else { hardware.opengl.enable = true; })
  ]);
}
