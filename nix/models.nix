# The pinned models of nix/models.toml (see the field list there), as a Nix attrset.
#
# Example: (import ./models.nix).faster-whisper-tiny-en.repo == "Systran/faster-whisper-tiny.en"
builtins.fromTOML (builtins.readFile ./models.toml)
