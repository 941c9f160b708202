"""step2-bible (validation with YAML paths) and step2-shot-reference (exact frames) as CLIs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import orjson
import pytest
from PIL import Image

from conftest import DEMO_DIR, DEMO_VIDEO, PYTHON, REPO, report_html, run_tool, shot_references
from reelset.bible import load_bible
from reelset.schemas.bible import BibleArtifact
from reelset.schemas.references import ShotReferenceArtifact

GOOD = (DEMO_DIR / "bible.yaml").read_text()


def bible_spec(path: Path) -> dict:
    return {"step": "step2-bible", "dataset": "test", "device": "cpu", "files": {"bible": str(path)}}


def build_bible(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    (tmp_path / "bible.yaml").write_text(text)
    return run_tool("step2_bible.py", bible_spec(tmp_path / "bible.yaml"), tmp_path / "out", tmp_path)


def test_demo_bible_builds_normalized(tmp_path):
    proc = build_bible(tmp_path, GOOD.replace("aliases: [Lana Kane]", "aliases: [' Lana   Kane ', lana kane, Lana]"))
    assert proc.returncode == 0, proc.stderr
    art = BibleArtifact.model_validate(orjson.loads((tmp_path / "out/bible.json").read_bytes()))
    names = [c.name for c in art.bible.characters]
    assert names == ["Archer", "Lana", "Cyril", "Malory"] and [p.name for p in art.bible.places] == ["Moscow"]
    lana = art.bible.characters[1]
    assert lana.aliases == ["Lana Kane"]  # whitespace collapsed, case-insensitive duplicates and the name dropped
    assert art.bible.trigger_word == "rsdemo"
    assert {(t.text, t.role) for t in art.terms} >= {("Malory", "name"), ("Mallory", "mishearing"), ("Moscow", "name")}
    assert [s.t for c in art.bible.characters for s in c.reference_shots] == [1.0, 7.0, 13.0, 19.0]
    assert "Malory" in report_html(tmp_path / "out", "step2_bible.py")


@pytest.mark.parametrize("edit, path, reason", [
    (("  - name: Cyril\n", "  - name: Cyril\n    hair: brown\n"), "characters[2] (Cyril).hair (line 25)", "unknown key"),
    (("  - name: Lana\n    aliases", "  - aliases"), "characters[1].name", "Field required"),
    (("{video: demo01, t: 13.0}", "{video: demo01, t: -2}"), "characters[2] (Cyril).reference_shots[0].t (line", "greater than or equal to 0"),
    (("{video: demo01, t: 13.0}", "{video: demo01, t: noon}"), "characters[2] (Cyril).reference_shots[0].t (line", "valid number"),
    (("trigger_word: rsdemo", "trigger_word: rs demo"), "trigger_word (line 6)", "should match pattern"),
    (("aliases: [Lana Kane]", "aliases: [Archer]"), "characters[1].aliases[0]", "already used by characters[0].name"),
    (("mishearings: [Mallory]", "mishearings: [Moscow]"), "characters[3].mishearings[0]", "is a correct spelling"),
    (("{video: demo01, start: 6.5, end: 10.5}", "{video: demo01, start: 6.5, end: 6.0}"), "characters[1] (Lana).voice_references[0] (line 23)",
     "end (6.0) must be after start (6.5)"),
    (("{video: demo01, start: 6.5, end: 10.5}", "{video: demo01, start: -1, end: 10.5}"), "characters[1] (Lana).voice_references[0].start (line 23)",
     "greater than or equal to 0"),
])
def test_malformed_bible_names_the_field(tmp_path, edit, path, reason):
    old, new = edit
    assert old in GOOD
    proc = build_bible(tmp_path, GOOD.replace(old, new, 1))
    assert proc.returncode == 2, proc.stderr
    assert "bible.yaml: " + path in proc.stderr and reason in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_line_numbers_point_at_the_bad_field(tmp_path):
    text = GOOD.replace("{video: demo01, t: 7.0", "{video: demo01, t: -7.0")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "t: -7.0" in ln)
    (tmp_path / "bible.yaml").write_text(text)
    with pytest.raises(Exception, match=rf"characters\[1\] \(Lana\)\.reference_shots\[0\]\.t \(line {line}\)"):
        load_bible(tmp_path / "bible.yaml")


def test_not_yaml_and_not_a_mapping(tmp_path):
    assert "not valid YAML" in build_bible(tmp_path, "characters: [a, b\n").stderr
    assert "(top level): expected a mapping" in build_bible(tmp_path, "- just a list\n").stderr


@pytest.fixture(scope="module")
def demo_bible(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bible")
    proc = run_tool("step2_bible.py", bible_spec(DEMO_DIR / "bible.yaml"), tmp / "out", tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp / "out"


def decoded_frame(video: Path, index: int) -> np.ndarray:
    """Frame ``index`` of ``video`` by a full decode (ffmpeg select), RGB24."""
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-vf", f"select=eq(n\\,{index})", "-frames:v", "1",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(270, 480, 3)


def test_reference_frames_are_the_exact_frames(demo_bible, tmp_path):
    proc = shot_references(demo_bible, {"demo01": DEMO_VIDEO}, tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    art = ShotReferenceArtifact.model_validate(orjson.loads((tmp_path / "out/references.json").read_bytes()))
    assert [(f.subject, f.frame_index) for f in art.frames] == [("Archer", 25), ("Lana", 175), ("Cyril", 325), ("Malory", 475)]
    for f in art.frames:
        assert f.image.startswith(f"characters/{f.subject}/") and (f.width, f.height) == (480, 270)
        got = np.asarray(Image.open(tmp_path / "out" / f.image).convert("RGB"))
        want = decoded_frame(DEMO_VIDEO, f.frame_index)
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 1.0, f  # same frame (PNG is lossless; scaling is identity)
        if f.subject == "Archer":  # testsrc2 changes every frame: the neighbours differ
            for other in (f.frame_index - 1, f.frame_index + 1):
                neighbour = decoded_frame(DEMO_VIDEO, other)
                assert np.abs(got.astype(int) - neighbour.astype(int)).mean() > 2 * np.abs(got.astype(int) - want.astype(int)).mean() + 0.1
    html = report_html(tmp_path / "out", "step2_shot_reference.py")  # the contact sheet is the report's
    sheet = Image.open(tmp_path / "out.report-0" / "contact_sheet.jpg")
    assert sheet.width >= 4 * 200
    assert all(f.image in html for f in art.frames) and "contact_sheet.jpg" in html


def test_reference_shot_errors_name_the_bible_field(tmp_path):
    text = GOOD.replace("{video: demo01, t: 19.0}", "{video: demo01, t: 31.5}")
    bible_tmp = tmp_path / "b"
    bible_tmp.mkdir()
    assert build_bible(bible_tmp, text).returncode == 0
    proc = shot_references(bible_tmp / "out", {"demo01": DEMO_VIDEO}, tmp_path / "o1", tmp_path)
    assert proc.returncode == 2 and "characters[3].reference_shots[0].t: 31.5 s is past the end of video demo01" in proc.stderr, proc.stderr
    # an unknown video id fails evaluation (nix/pipeline.nix), before any frame is extracted:
    # tests/test_nix_bible.py


def test_tools_have_cli_help():
    for tool in ("step2_bible.py", "step2_shot_reference.py", "step2_reference_frame.py"):
        proc = subprocess.run([PYTHON, str(REPO / "tools" / tool), "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "--spec" in proc.stdout


def test_fan_out_lists_one_item_per_shot_and_voice_reference(tmp_path):
    """bible.json lists the derivations the bible fans out to (nix/pipeline.nix fanOutOf reads
    them): one per *distinct* reference shot, one per voice reference, keyed as Nix's toString
    writes seconds, each with only its own config (issue 40 item 4)."""
    import yaml

    from reelset.bible import make_artifact

    data = yaml.safe_load((DEMO_DIR / "bible.yaml").read_text())
    # the same frame named for a second character (both in the shot): still one derivation
    data["characters"][1]["reference_shots"] = data["characters"][1].get("reference_shots", []) + data["characters"][0]["reference_shots"][:1]
    doubled = tmp_path / "bible.yaml"
    doubled.write_text(yaml.safe_dump(data, sort_keys=False))
    art = make_artifact(doubled, "bible.yaml")
    shots = [(s.video, s.t) for group in (art.bible.characters, art.bible.places) for e in group for s in e.reference_shots]
    items = art.fan_out["shots"]
    assert len(shots) > len(set(shots)) and [i.key for i in items] == list(dict.fromkeys(f"{v}-{t:.6f}" for v, t in shots))
    assert items[0].where == "bible.yaml: characters[0].reference_shots[0]"  # the first mention names it
    assert all(i.config == {"shot": {"t": float(i.key.rsplit("-", 1)[1]), "where": i.where}} for i in items)
    voices = art.fan_out["voices"]
    refs = [(c.name, r) for c in art.bible.characters for r in c.voice_references]
    assert len(voices) == len(refs) > 0
    for item, (name, ref) in zip(voices, refs, strict=True):
        assert item.key == f"{name}/{ref.video}-{ref.start:.6f}-{ref.end:.6f}"
        assert item.config["voice"] == {"character": name, "start": ref.start, "end": ref.end, "where": item.where}
        assert item.where.startswith("bible.yaml: characters[") and item.name.startswith(f"voice-{ref.video}-")
