# reelset GPU builder — NixOS module for a rented GPU box that builds reelset's `cuda`
# steps for remote clients over `ssh-ng://`.
#
# What it sets up (only when `reelset.builder.enable = true`):
#   * the NVIDIA driver (services.xserver.videoDrivers = [ "nvidia" ] — this only selects
#     the kernel/user-space driver, it does not start an X server), persistenced, the
#     graphics driver tree at /run/opengl-driver (hardware.graphics on NixOS >= 24.11,
#     hardware.opengl before);
#   * Nix: system-features = <standard defaults> ++ [ "cuda" ]; sandbox = relaxed (reelset's
#     host-toolchain steps are __noChroot); static extra-sandbox-paths exposing /dev/nvidia*,
#     /run/opengl-driver and the driver's store closure to sandboxed builds. Static, because
#     the nix-required-mounts pre-build hook never sees derivations that arrive over ssh-ng
#     (NixOS/nix#9272);
#   * a dedicated ssh build user (`nixremote`) in nix.settings.trusted-users, whose keys may
#     only run `nix-daemon --stdio` (restrictKeys);
#   * sshd with keys only (no passwords, no keyboard-interactive, no root login);
#   * /opt/reelset (parent of the host-toolchain venv, see `hostVenv`) and nix-ld, so the
#     pip-installed wheels of that venv find their shared libraries.
#
# Inputs: `config`, `lib`, `pkgs`, `options` (standard module arguments). Needs NixOS >= 23.05
# (services.openssh.settings, nix.settings); handles the hardware.opengl -> hardware.graphics
# rename (24.11) by checking which option exists. The NVIDIA driver is unfree: this module
# allows exactly the nvidia packages (allowUnfreePredicate, mkDefault) — drop that if you
# manage nixpkgs.config yourself.
#
# Example (flake-based host configuration):
#   nixosConfigurations.gpu1 = nixpkgs.lib.nixosSystem {
#     system = "x86_64-linux";
#     modules = [
#       ./hardware-configuration.nix
#       reelset.nixosModules.gpu-builder      # or: ./builders/gpu-builder.nix
#       {
#         reelset.builder = {
#           enable = true;
#           authorizedKeys = [ "ssh-ed25519 AAAA... nix-builder@laptop" ];
#           # hostVenv = "/opt/reelset/venv";  # must match REELSET_PYTHON's venv on clients
#         };
#         hardware.nvidia.open = true;         # Turing or newer (RTX 6000 Ada: yes)
#       }
#     ];
#   };
#
# Client side: builders/machines.example; checks: builders/check; guide: docs/builders.md.
{ config, lib, pkgs, options, ... }:

let
  inherit (lib) mkOption mkIf mkMerge mkDefault types optionalAttrs;
  cfg = config.reelset.builder;

  hasGraphics = options.hardware ? graphics;          # NixOS >= 24.11
  nvidiaPkg = config.hardware.nvidia.package;
  daemon = "${config.nix.package}/bin/nix-daemon";

  # Optional entries end in "?" (Nix skips them when missing): GPU nodes beyond the first,
  # and the uvm/modeset nodes that only appear once the modules are loaded.
  defaultSandboxPaths =
    [ "/dev/nvidiactl" "/dev/nvidia-uvm?" "/dev/nvidia-uvm-tools?" "/dev/nvidia-modeset?" ]
    ++ map (i: "/dev/nvidia${toString i}?") (lib.range 0 (cfg.gpuCount - 1))
    ++ [
      "/run/opengl-driver"
      # /run/opengl-driver/lib/* are symlinks into the driver's store path; a store path in
      # sandbox-paths brings its closure along, so the links resolve inside the sandbox.
      "${nvidiaPkg}"
    ];
in
{
  options.reelset.builder = {
    enable = lib.mkEnableOption "the reelset GPU builder (NVIDIA driver, cuda system feature, ssh build user)";

    user = mkOption {
      type = types.str;
      default = "nixremote";
      description = "ssh user the clients' Nix logs in as (machines line: ssh-ng://<user>@host).";
    };

    authorizedKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ssh-ed25519 AAAAC3Nza... nix-builder@laptop" ];
      description = ''
        Public keys of the clients' Nix (the private key is field 3 of their machines line,
        e.g. /etc/nix/builder_ed25519 — root's nix-daemon reads it, so it must not need a
        passphrase).
      '';
    };

    restrictKeys = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Prefix each key with `restrict,command="nix-daemon --stdio"`: the key can only talk
        to the Nix daemon (what ssh-ng:// needs), no shell, no forwarding. Turn off to use
        the key for interactive logins or legacy ssh:// (nix-store --serve).
      '';
    };

    systemFeatures = mkOption {
      type = types.listOf types.str;
      # NixOS's own default for nix.settings.system-features (without the gccarch-* entries
      # it adds for a configured -march). Setting nix.settings.system-features replaces the
      # default, so it is restated here and `cuda` is appended below.
      default = [ "nixos-test" "benchmark" "big-parallel" "kvm" ];
      description = "Base system features; `cuda` is always added.";
    };

    gpuCount = mkOption {
      type = types.ints.between 1 16;
      default = 8;
      description = "Expose /dev/nvidia0 .. /dev/nvidia<gpuCount-1> (missing ones are skipped).";
    };

    extraSandboxPaths = mkOption {
      type = types.listOf types.str;
      default = defaultSandboxPaths;
      defaultText = lib.literalExpression ''
        [ "/dev/nvidiactl" "/dev/nvidia-uvm?" "/dev/nvidia-uvm-tools?" "/dev/nvidia-modeset?"
          "/dev/nvidia0?" ... "/run/opengl-driver" "''${config.hardware.nvidia.package}" ]'';
      description = "Paths bind-mounted into every build sandbox (nix.settings.extra-sandbox-paths).";
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

    hostVenv = mkOption {
      type = types.str;
      default = "/opt/reelset/venv";
      description = ''
        Host-toolchain interpreter of reelset's `host` steps on this builder:
        <hostVenv>/bin/python must exist and be made from the same requirements.lock as the
        clients', and <hostVenv>/reelset-lock.sha256 must hold that lock's sha256 (hex; what
        `make venv` writes). Host-toolchain derivations embed the interpreter path, so clients
        evaluate with REELSET_PYTHON=<hostVenv>/bin/python (same path on client and builder).
        This module only creates the parent directory and enables nix-ld; creating the venv
        is a provisioning step (docs/builders.md); builders/check verifies it.
      '';
    };

    nixLd = mkOption {
      type = types.bool;
      default = true;
      description = "Enable programs.nix-ld so manylinux wheels in hostVenv find libstdc++, zlib, ...";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [{
        assertion = cfg.authorizedKeys != [ ];
        message = "reelset.builder.authorizedKeys is empty: no client could log in.";
      }];

      # --- NVIDIA driver ------------------------------------------------------------------
      services.xserver.videoDrivers = [ "nvidia" ];
      hardware.nvidia = {
        open = cfg.nvidiaOpen;
        nvidiaPersistenced = mkDefault true;   # keep the GPU initialised on a headless box
        modesetting.enable = mkDefault true;
      };
      boot.kernelModules = [ "nvidia_uvm" ];   # CUDA needs /dev/nvidia-uvm; create it at boot
      environment.systemPackages = [ nvidiaPkg.bin ];   # nvidia-smi (builders/check uses it)
      nixpkgs.config.allowUnfreePredicate = mkDefault (p:
        builtins.elem (lib.getName p) [ "nvidia-x11" "nvidia-settings" "nvidia-persistenced" ]);

      # --- Nix ----------------------------------------------------------------------------
      nix.settings = {
        system-features = cfg.systemFeatures ++ [ "cuda" ];
        sandbox = "relaxed";                   # host-toolchain steps are __noChroot
        extra-sandbox-paths = cfg.extraSandboxPaths;
        trusted-users = [ cfg.user ];
        experimental-features = [ "nix-command" "flakes" ];
      };
      # A rented disk fills up: outputs are copied back to the clients anyway.
      nix.gc = {
        automatic = mkDefault true;
        dates = mkDefault "weekly";
        options = mkDefault "--delete-older-than 14d";
      };

      # --- ssh build user, sshd keys only -------------------------------------------------
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
      services.openssh = {
        enable = true;
        settings = {
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
          PermitRootLogin = "no";
        };
      };

      # --- host toolchain -----------------------------------------------------------------
      systemd.tmpfiles.rules = [ "d ${dirOf cfg.hostVenv} 0755 root root -" ];
    }

    (mkIf cfg.nixLd {
      programs.nix-ld.enable = true;
      programs.nix-ld.libraries = with pkgs; [ stdenv.cc.cc.lib zlib ];
    })

    (if hasGraphics
     then { hardware.graphics.enable = true; }
     else { hardware.opengl.enable = true; })
  ]);
}
