"""reelset: shared code of the pipeline's step tools (schemas, media helpers, reports).

Every step tool in ``tools/`` imports from this package; each step's Nix derivation
copies only the modules that step imports (``nix/sources.json``, computed from the imports).
"""

__version__ = "0.1.0"


class ReelsetError(Exception):
    """A user-facing failure: the message names the file or setting and the reason.

    Step tools print it without a traceback and exit with status 2; Nix then discards
    the partial output (a failed build registers nothing).
    """
