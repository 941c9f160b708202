"""Artifact and config schemas, one module per artifact beside the step that writes it.

Deliberately empty: importing ``reelset.schemas.scenes`` must not import every schema, so a
step's source closure (nix/sources.json) holds only the contracts it touches.
"""
