"""step2-speakers on real media: an espeak-ng dialogue of four characters and one voice the bible
does not know, transcribed by tiny.en, voices named from voice references cut from the same video.

Voices (tests/speech_media.py SPEAKER_VOICES, chosen for the GE2E encoder; cosines in
bench/RESULTS.md): Archer en-us+m3 at pitch 20, Lana en-us+f3, Cyril en+m7 at pitch 70, Malory
en-gb-x-rp+f5 at pitch 90; the stranger en+grandma (no reference). Pam has a voice reference from
another video (en-gb-scotland+m1 at pitch 40, the voice most like Archer's: cosine 0.85) and never
speaks in the dialogue. The issue's bar: >= 90 % of the characters' segments named right, none
named Pam, the stranger's segments unknown.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import CPU_OK, REPO, report_html, run_tool, transcript_spec
from reelset import ReelsetError
from reelset.bible import load_bible
from speech_media import SPEAKER_VOICES, Line, dialogue_script, make_speech_video

GE2E = {"name": "resemblyzer-ge2e", "repo": "pypi:resemblyzer==0.1.4", "revision": "0.1.4"}
CHARACTERS = {"Archer": SPEAKER_VOICES[0], "Lana": SPEAKER_VOICES[1], "Cyril": SPEAKER_VOICES[2], "Malory": SPEAKER_VOICES[3]}
STRANGER = SPEAKER_VOICES[4]
PAM_VOICE = "en-gb-scotland+m1@40"
# who speaks line i: four characters in changing order, the stranger three times
ORDER = ["Archer", "Lana", "Cyril", "Malory", None, "Lana", "Archer", "Malory", "Cyril", "Archer",
         None, "Cyril", "Lana", "Malory", "Archer", "Cyril", None, "Lana", "Malory", "Archer"]


@pytest.fixture(scope="module")
def ge2e_dir(tmp_path_factory) -> Path:
    """The resemblyzer-ge2e model folder as nix/models.toml fills it (pretrained.pt of the wheel)."""
    import importlib.util
    src = Path(list(importlib.util.find_spec("resemblyzer").submodule_search_locations)[0]) / "pretrained.pt"
    out = tmp_path_factory.mktemp("ge2e")
    (out / "pretrained.pt").symlink_to(src)
    return out


def speakers_model(path: Path) -> dict:
    return {**GE2E, "path": str(path)}


def voice_reference(video: Path, video_id: str, character: str, start: float, end: float, where: str,
                    model: dict, out: Path, tmp: Path):
    spec = {"step": "step2-speakers", "dataset": "test", "device": "cuda", "video_id": video_id, "video": str(video),
            "config": {"voice": {"character": character, "start": start, "end": end, "where": where}, "device": CPU_OK},
            "models": {"speakers": model}}
    return run_tool("step2_voice_reference.py", spec, out, tmp)


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory, ge2e_dir):
    """(timed lines with their character, speakers.json, the step's output folder)."""
    tmp = tmp_path_factory.mktemp("speakers")
    texts = [ln.text for ln in dialogue_script(len(ORDER))]
    lines = [Line(voice=CHARACTERS[c] if c else STRANGER, text=t) for c, t in zip(ORDER, texts, strict=True)]
    timed = make_speech_video(lines, tmp / "dialogue.mp4", pause_s=1.2)  # > [asr] split_pause_s: one segment a line
    other = make_speech_video([Line(voice=PAM_VOICE, text="Pam walked home with Carol at the station before noon.")],
                              tmp / "pam.mp4", pause_s=0.0)
    transcript = tmp / "transcript"
    proc = run_tool("step2_transcript_base.py", transcript_spec(tmp / "dialogue.mp4", "talk01"), transcript, tmp)
    assert proc.returncode == 0, proc.stderr
    model = speakers_model(ge2e_dir)
    inputs = {"step2-transcript-base": str(transcript)}
    for i, name in enumerate(CHARACTERS):  # each character's first line is its voice reference
        line = timed[ORDER.index(name)]
        out = tmp / f"voice-{name}"
        proc = voice_reference(tmp / "dialogue.mp4", "talk01", name, line.start_s, line.end_s,
                               f"bible.yaml: characters[{i}].voice_references[0]", model, out, tmp)
        assert proc.returncode == 0, proc.stderr
        inputs[f"voice/{name}/talk01-{line.start_s}-{line.end_s}"] = str(out)
    proc = voice_reference(tmp / "pam.mp4", "pam01", "Pam", other[0].start_s, other[0].end_s,
                           "bible.yaml: characters[4].voice_references[0]", model, tmp / "voice-Pam", tmp)
    assert proc.returncode == 0, proc.stderr
    inputs["voice/Pam/pam01"] = str(tmp / "voice-Pam")
    spec = {"step": "step2-speakers", "dataset": "test", "device": "cuda", "video_id": "talk01",
            "video": str(tmp / "dialogue.mp4"), "config": {"speakers": {}, "device": CPU_OK},
            "inputs": inputs, "models": {"speakers": model}}
    out = tmp / "speakers"
    proc = run_tool("step2_speakers.py", spec, out, tmp)
    assert proc.returncode == 0, proc.stderr
    return timed, json.loads((out / "speakers.json").read_text()), out


def truth(timed, seg) -> tuple[bool, str | None]:
    """(found, character) of the script line that overlaps ``seg`` most (None: the stranger)."""
    overlaps = [max(0.0, min(seg["end"], ln.end_s) - max(seg["start"], ln.start_s)) for ln in timed]
    i = int(np.argmax(overlaps))
    return overlaps[i] > 0, ORDER[i]


def test_characters_are_named_and_the_stranger_stays_unknown(dialogue):
    timed, art, _ = dialogue
    scored = [(truth(timed, s)[1], s) for s in art["segments"] if truth(timed, s)[0]]
    theirs = [(who, s) for who, s in scored if who is not None]
    right = sum(s["speaker"] == who for who, s in theirs)
    report = "\n".join(f"{s['start']:6.2f} {who or 'stranger':8s} -> {s['speaker'] or s['status']:8s} "
                       f"{s['confidence']:.3f} {s['text']}" for who, s in scored)
    assert len(theirs) >= 15, report
    assert right / len(theirs) >= 0.9, f"{right}/{len(theirs)} segments named right\n{report}"
    assert not any(s["speaker"] == "Pam" for s in art["segments"]), report
    stranger = [s for who, s in scored if who is None]
    assert stranger and all(s["speaker"] is None for s in stranger), report
    for s in art["segments"]:  # no named segment or run is mostly the stranger's speech (ASR merges lines)
        theirs_s = sum(max(0.0, min(s["end"], ln.end_s) - max(s["start"], ln.start_s)) for ln, who in zip(timed, ORDER, strict=True)
                       if who is None)
        assert s["speaker"] is None or theirs_s < 0.5 * (s["end"] - s["start"]), (s, report)
    named = {v["name"] for v in art["voices"] if v["name"]}
    assert named == set(CHARACTERS), art["voices"]
    assert art["encoder"] == "ge2e" and art["dim"] == 256
    assert art["reference_similarity"]["Archer"]["Pam"] > art["reference_similarity"]["Archer"]["Lana"]


def test_report_shows_the_timeline(dialogue):
    _, art, out = dialogue
    html = report_html(out, "step2_speakers.py")
    assert "Timeline" in html and "Archer" in html and "unknown" in html
    assert html.count("title=") >= len(art["segments"]) - sum(s["status"] in ("too_short", "not_speech") for s in art["segments"])


def test_an_unknown_voice_of_two_videos_is_linked_on_the_all_videos_page(dialogue, ge2e_dir, tmp_path):
    """A second video where the stranger (no voice reference) speaks twice beside Lana: its
    unknown voice and the first video's are one group on step2-speakers' all-videos page, with a
    span to use as a voice reference; no named voice is in any group."""
    _, first, first_out = dialogue
    lines = [Line(voice=STRANGER, text="The van is parked behind the old cinema on the hill."),
             Line(voice=CHARACTERS["Lana"], text="Then we take the back road and leave before dawn."),
             Line(voice=STRANGER, text="Nobody watches the harbour gate after the night shift ends.")]
    timed = make_speech_video(lines, tmp_path / "second.mp4", pause_s=1.2)
    proc = run_tool("step2_transcript_base.py", transcript_spec(tmp_path / "second.mp4", "talk02"), tmp_path / "tr", tmp_path)
    assert proc.returncode == 0, proc.stderr
    first_spec = json.loads((first_out.parent / f"{first_out.name}.spec.json").read_text())  # run_tool's spec file
    refs = {k: v for k, v in first_spec["inputs"].items() if k.startswith("voice/")}  # the same voice references
    spec = {"step": "step2-speakers", "dataset": "test", "device": "cuda", "video_id": "talk02",
            "video": str(tmp_path / "second.mp4"), "config": {"speakers": {}, "device": CPU_OK},
            "inputs": {"step2-transcript-base": str(tmp_path / "tr"), **refs}, "models": {"speakers": speakers_model(ge2e_dir)}}
    proc = run_tool("step2_speakers.py", spec, tmp_path / "second", tmp_path)
    assert proc.returncode == 0, proc.stderr
    second = json.loads((tmp_path / "second" / "speakers.json").read_text())
    assert all(len(v["embedding"]) == 256 for v in second["voices"])
    agg = {"step": "step2-speakers", "dataset": "test", "device": "cpu", "config": {"aggregate": {"kind": "shards"}},
           "inputs": {"talk01": str(first_out), "talk02": str(tmp_path / "second")}}
    proc = run_tool("aggregate_report.py", agg, tmp_path / "all", tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "all" / "index.html").read_text()
    section = html.split("Voices without a name heard in several videos", 1)[1]
    rows = section.split("<tr>")[2:]
    strangers = {a["video_id"]: {v["id"] for v in a["voices"] if v["name"] is None} for a in (first, second)}
    assert len(rows) == 1, section  # one recurring unknown voice: the stranger's
    for vid, ids in strangers.items():
        assert any(f"{vid} ({i}," in rows[0] for i in ids), rows[0]
    span = rows[0].split("<code>{video: ", 1)[1].split("}</code>", 1)[0]  # "talk02, start: 1.23, end: 4.56"
    vid, start, end = span.split(", ")
    start, end = float(start.removeprefix("start: ")), float(end.removeprefix("end: "))
    if vid == "talk02":  # the span is one of the stranger's lines there
        assert any(ln.start_s - 0.5 <= start < end <= ln.end_s + 0.5 for ln in (timed[0], timed[2])), (span, timed)
    assert vid in strangers and end - start >= 2.0, span


@pytest.mark.xfail(strict=True, reason="known limit: GE2E embeds two voices at once close to the louder one "
                   "(Lana 0.754, every other character <= 0.66), so the overlap is named; marking it needs an "
                   "overlapped-speech detector (e.g. pyannote segmentation), which no offline model here provides")
def test_two_voices_at_once_are_not_forced_onto_a_name(dialogue, ge2e_dir, tmp_path):
    """Archer and Lana talk over each other (two lines mixed at the same start) after a line of
    Archer's and before one of Lana's: the overlap must be marked (`mixed`, or `unknown`), never
    named after one of them, while Lana's own line is named."""
    lines = [Line(voice=CHARACTERS["Archer"], text="We meet at the office after lunch and then drive north."),
             Line(voice=CHARACTERS["Archer"], text="I told you the car was parked behind the station all along."),
             Line(voice=CHARACTERS["Lana"], text="No, you never said anything about a car or a station to me.", overlap=True),
             Line(voice=CHARACTERS["Lana"], text="Fine, but Cyril is driving and Malory pays for the fuel.")]
    timed = make_speech_video(lines, tmp_path / "overlap.mp4", pause_s=1.2)
    proc = run_tool("step2_transcript_base.py", transcript_spec(tmp_path / "overlap.mp4", "talk03"), tmp_path / "tr", tmp_path)
    assert proc.returncode == 0, proc.stderr
    first_spec = json.loads((dialogue[2].parent / f"{dialogue[2].name}.spec.json").read_text())
    refs = {k: v for k, v in first_spec["inputs"].items() if k.startswith("voice/")}
    spec = {"step": "step2-speakers", "dataset": "test", "device": "cuda", "video_id": "talk03",
            "video": str(tmp_path / "overlap.mp4"), "config": {"speakers": {}, "device": CPU_OK},
            "inputs": {"step2-transcript-base": str(tmp_path / "tr"), **refs}, "models": {"speakers": speakers_model(ge2e_dir)}}
    proc = run_tool("step2_speakers.py", spec, tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    segs = json.loads((tmp_path / "out" / "speakers.json").read_text())["segments"]
    both = (timed[1].start_s, max(timed[1].end_s, timed[2].end_s))

    def inside(seg, span):
        return max(0.0, min(seg["end"], span[1]) - max(seg["start"], span[0])) >= 0.5 * (seg["end"] - seg["start"])

    lana = [sg for sg in segs if inside(sg, (timed[3].start_s, timed[3].end_s))]
    assert lana and all(sg["speaker"] == "Lana" for sg in lana), segs
    overlap = [sg for sg in segs if inside(sg, both)]
    assert overlap and all(sg["speaker"] is None and sg["status"] in ("mixed", "unknown") for sg in overlap), segs


def test_a_reference_past_the_end_names_the_bible_field(dialogue, ge2e_dir, tmp_path):
    timed, _, out = dialogue
    video = out.parent / "dialogue.mp4"
    proc = voice_reference(video, "talk01", "Lana", timed[-1].end_s + 5, timed[-1].end_s + 7,
                           "bible.yaml: characters[1].voice_references[0]", speakers_model(ge2e_dir), tmp_path / "v", tmp_path)
    assert proc.returncode == 2
    assert "bible.yaml: characters[1].voice_references[0]:" in proc.stderr and "ends after the audio of video talk01" in proc.stderr


def test_bible_rejects_a_span_that_ends_before_it_starts(tmp_path):
    bible = tmp_path / "bible.yaml"
    bible.write_text("trigger_word: x\ncharacters:\n  - name: Lana\n    voice_references:\n"
                     "      - {video: demo01, start: 7.0, end: 6.5}\n")
    with pytest.raises(ReelsetError) as err:
        load_bible(bible, "bible.yaml")
    assert "bible.yaml: characters[0] (Lana).voice_references[0] (line 5): Value error, end (6.5) must be after start (7.0)" in str(err.value)


def test_wavlm_xvector_loads_through_the_same_role(tmp_path):
    """The real-run encoder's loading path: a tiny random-config WavLMForXVector (make_tiny_models.py)."""
    import subprocess
    import sys

    from reelset import voice
    out = tmp_path / "tiny-wavlm"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "make_tiny_models.py"), "wavlm-xvector", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    enc = voice.load_encoder(out, "cpu")
    assert (enc.kind, enc.dim) == ("wavlm-xvector", 16)
    wav = np.sin(np.linspace(0, 2000, 3 * voice.SAMPLE_RATE)).astype(np.float32) * 0.3
    vec, windows = enc.embed(wav)
    assert vec.shape == (16,) and windows.shape == (len(voice.partial_slices(len(wav))), 16)
    assert abs(float(np.linalg.norm(vec)) - 1) < 1e-5


def test_ge2e_mel_filters_are_librosas():
    """The filters of reelset.voice (transformers.audio_utils, Slaney scale and norm) equal
    librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) — the front end resemblyzer's weights were
    trained with — computed here by librosa 0.10's own algorithm (filters.mel, mel_frequencies,
    hz_to_mel/mel_to_hz with htk=False), without librosa."""
    from reelset import voice

    def hz_to_mel(f):
        f = np.asanyarray(f, float)
        mel = f / (200.0 / 3)
        log_t = f >= 1000.0
        return np.where(log_t, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)

    def mel_to_hz(m):
        m = np.asanyarray(m, float)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), (200.0 / 3) * m)

    fftfreqs = np.linspace(0, 8000, 201)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(8000.0), 42))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    weights = np.maximum(0, np.minimum(-ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]))
    weights *= (2.0 / (mel_f[2:42] - mel_f[:40]))[:, None]
    np.testing.assert_allclose(voice._mel_filters(), weights.T, rtol=1e-4, atol=1e-7)


def test_caption_prompt_carries_the_attributed_lines():
    """step2-caption's prompt lists each dialogue line with its speaker; an unknown voice is said so."""
    import importlib.util

    from reelset.bible import make_artifact
    from reelset.schemas.captions import CaptionConfig
    from reelset.schemas.context import ClipContext, ContextLine
    spec = importlib.util.spec_from_file_location("step2_caption", REPO / "tools" / "step2_caption.py")
    step2_caption = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(step2_caption)
    ctx = ClipContext(clip_id="demo01-s0001", start_s=0.0, end_s=6.0, characters=["Archer"], speakers=["Archer", "unknown"],
                      character_evidence={"Archer": ["speaker (voice)"]}, place=None, context="…",
                      lines=[ContextLine(start=0.5, end=2.0, speaker="Archer", speaker_source="voice", speaker_confidence=0.95,
                                         text="My name is Archer."),
                             ContextLine(start=2.5, end=4.0, speaker="unknown", speaker_source="voice-unknown", text="Who are you?")])
    prompt = step2_caption.build_prompt(ctx, make_artifact(REPO / "pipelines" / "demo" / "bible.yaml"), CaptionConfig(), 4, 1.0)
    assert '  - Archer: "My name is Archer."' in prompt and '  - unknown voice: "Who are you?"' in prompt


def test_reviewed_clips_carry_speaking_seconds_and_the_report_shows_the_balance(tmp_path):
    """Issue 30 item 4: step2-reviewed records the seconds each character speaks in an accepted
    clip; its report tables clips, seconds and speaking seconds per character."""
    import step2_reviewed
    from reelset.reports.step2_reviewed import balance
    from reelset.schemas.context import ContextLine
    from reelset.schemas.reviewed import ReviewedArtifact, ReviewedClip
    lines = [ContextLine(start=0.5, end=2.0, speaker="Archer", text="a"), ContextLine(start=2.5, end=3.0, speaker="unknown", text="b"),
             ContextLine(start=3.0, end=4.25, speaker="Archer", text="c"), ContextLine(start=4.5, end=5.0, speaker="Lana", text="d")]
    assert step2_reviewed.speaking_seconds(lines) == {"Archer": 2.75, "Lana": 0.5}

    def clip(cid, start, end, characters, speaking):
        return ReviewedClip(clip_id=cid, video_id="v1", clip_path="/x.mp4", caption="c", caption_source="model", frame_count=25,
                            fps=25.0, width=64, height=64, start_s=start, end_s=end, has_audio=True, characters=characters,
                            speaking_s=speaking)
    art = ReviewedArtifact(dataset="t", accepted=[clip("v1-s0001", 0, 6, ["Archer", "Lana"], {"Archer": 2.75, "Lana": 0.5}),
                                                  clip("v1-s0002", 6, 10, ["Archer"], {})], rejected=[])
    assert balance(art) == [{"name": "Archer", "clips": 2, "seconds": 10.0, "speaking_clips": 1, "speaking_s": 2.75},
                            {"name": "Lana", "clips": 1, "seconds": 6.0, "speaking_clips": 1, "speaking_s": 0.5}]
