"""The reelset package is layered: no module imports itself back through others (issue 40)."""

from __future__ import annotations

import shutil

from conftest import REPO
from reelset.closure import import_cycles


def test_reelset_modules_import_no_circle():
    assert import_cycles(REPO / "tools") == [], "an import circle: move the shared piece one floor down (reelset/log.py is the ground floor)"


def test_a_circle_is_found(tmp_path):
    """The check can fail: a copy of the harness that imports the device policy, whose module
    imports the harness back inside a function (the circle issue 40 removed), is reported."""
    tools = tmp_path / "tools"
    shutil.copytree(REPO / "tools" / "reelset", tools / "reelset", ignore=shutil.ignore_patterns("__pycache__"))
    device = tools / "reelset" / "device.py"
    device.write_text(device.read_text() + "\n\ndef _late():\n    from reelset.step import main  # noqa: F401\n")
    assert ["reelset/device.py", "reelset/step.py"] in import_cycles(tools)
