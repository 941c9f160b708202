"""Trainers: one module each, owning what reelset writes for that trainer (issue 40).

A trainer module holds the repository and commit its formats were read at (``REPO``,
``COMMIT``), the model families it trains (``trains(family)``) and the writer of its dataset
config, with the facts that shape it in its docstring. The package steps (inside the package,
paths relative to it) and ``reelset export`` (absolute paths in the user's folder) call the same
writer, so a format fix lands in both. Nothing here runs a trainer.
"""
