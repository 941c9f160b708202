"""Long-input benchmark (issue 15 part 4): a synthetic episode of N minutes through the whole
pipeline with Nix (host toolchain, tiny models), step by step.

The episode is made here, reproducibly (ffmpeg lavfi + espeak-ng, no download; the only
randomness is ``random.Random(seed)`` for the shot plan): about ``N * 60 / 4.4`` shots (≈ 300
for 22 min) of 2-8 s each (triangular, mode 3.2 s: mean 4.4 s), each a different lavfi source
than the shot before with its own hue and brightness (hard cuts PySceneDetect's content detector
finds), 640x360 25 fps x264 veryfast; under it a dialogue of espeak-ng sentences in four voices
(tests/speech_media.py: dialogue_script / make_dialogue_track) naming the bible's characters,
48 kHz mono AAC. The video is a fixed input (``nix-store --add-fixed sha256``), as the README
says for big files.

A dataset flake in a work folder (reelset = a git snapshot of this checkout's working tree,
``lib.mkDatasetFlake``; a new dataset name per run, so every step really builds) with the demo's
tiny models (``[device] allow_cpu = true``), the demo-lora's small packaging buckets and tiny
preprocess models, and lenient caption QA (a random model's captions name nobody and lack the
trigger word; the media QA — black / frozen frames — stays at its defaults). Each step's compute
derivation is built on its own, in pipeline order (``nix build .#host.<step>.data``, video steps
``.shards.<id>.data``), and measured from the outside (wall s of ``nix build``, load average
before it) and from its build log: ``[reelset] timings (s)`` (the tool's own seconds) and
``[reelset] resources`` (peak RSS of the tool and of its largest child, e.g. ffmpeg; both
printed by tools/reelset/step.py). Output size: bytes of the output path. LoRA training (step5)
is left out: its cost is set by ``steps``, not by the source length.

Checks printed (and stored): detected scenes vs planned shots, sentences of the script recovered
by the transcript (word error rate <= 0.5 within the sentence's time span), clips kept by the
packages.

Usage (``.venv/bin/python``; NIX_CONFIG and REELSET_PYTHON default to the entry command's
settings and this venv)::

    bench/bench_episode.py --minutes 2 22 --out bench/episode.json [--work DIR] [--keep]

With several ``--minutes`` it prints how each step's seconds per source minute grow from the
shortest to the longest run ("linear" within ±25 %, else "worse" / "better").

Season mode (issue 29): ``--season 2 4 --minutes 1`` makes, for each N, N + 1 episodes of
``--minutes`` that share an intro and end credits (two 4 s shots each: same frames, same spoken
line) around a body of their own (its own shot plan, seed SEED + k), and measures with
``nix build .#host.all`` (steps through packaging; ``[repeats] keep = "one"``): (a) the full
build of N episodes, (b) the same dataset with episode N+1 added, (c) episode N+1 alone in a
fresh dataset — derivations built (dry run) and CPU seconds (user + system of Nix's builders) —
and after (b) the recall of the shared clips (each in a repeat group spanning every episode) and
the unique clips grouped (must be none).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

from reelset import families, nixinfo  # noqa: E402
from reelset.entry import build_env  # noqa: E402
from reelset.log import parse_resources, parse_timings  # noqa: E402
from season_media import end_card_source, softness, spoken_part  # noqa: E402
from speech_media import NAMES, PLACES, Line, make_dialogue_track  # noqa: E402

FPS = 25
SIZE = "640x360"
SEED = 15
MEAN_SHOT_S = 4.4
# lavfi sources that move (static cards scroll), so no shot counts as frozen; one per shot,
# never the same twice in a row. {s}: size, {r}: rate, {k}: a per-shot seed
SOURCES = [
    "testsrc2=size={s}:rate={r}",
    "smptehdbars=size={s}:rate={r},scroll=h=0.004",
    "gradients=size={s}:rate={r}:speed=0.02:seed={k}",
    "cellauto=size={s}:rate={r}:rule=110:seed={k}",
    "colorspectrum=size={s}:rate={r},scroll=h=0.003",
    "testsrc=size={s}:rate={r}",
    "sierpinski=size={s}:rate={r}:seed={k}",
    "rgbtestsrc=size={s}:rate={r},scroll=v=0.004",
]
LINEAR_TOLERANCE = 0.25  # per-minute time within ±25 % of the shortest run's: "linear"
SENTENCE_WER = 0.5  # a sentence is recovered when at most half its words are wrong
# steps left out, from the model-family registry: training (its cost is set by `steps`, not by
# the source length) and every step of a family outside `all` (opt-in, e.g. Wan 2.2: the bench's
# dataset.toml configures the families in `all` only)
EXCLUDED = {**{f.train_step: f"cost set by [{f.name}_train] steps, not by the source length" for f in families.every()},
            **{step: f"model family {f.name} is opt-in (not in `all`); the bench's dataset.toml leaves it out"
               for f in families.every() if not f.in_all for step in f.steps() if step != f.train_step}}


@dataclass(frozen=True)
class Shot:
    """One planned shot: its lavfi source (``SOURCES`` index), hue (degrees), brightness (-10..10),
    first frame and length in frames."""

    index: int
    source: int
    hue_deg: int
    brightness: float
    start_frame: int
    frames: int


@dataclass
class Episode:
    """A made episode: the video file, its length (seconds), shots and the spoken lines."""

    video: Path
    seconds: float
    shots: list[Shot]
    lines: list[Line]
    make_s: float = 0.0


@dataclass
class StepRun:
    """One step's measurement: ``wall_s`` of its ``nix build`` (evaluation included),
    ``tool_s`` the tool's own total (build log; plus the totals of the ``extra_drvs`` other
    derivations the build ran, e.g. reference frames), per-phase seconds of the main derivation,
    peak RSS (MB) of the tool and of its largest child (see reelset.step.parse_resources for the
    Linux caveat), output bytes, the load average (1 min) before the build."""

    step: str
    device: str
    drv: str
    out: str
    wall_s: float
    tool_s: float | None
    timings: dict[str, float] | None
    resources: dict[str, float] | None
    out_bytes: int
    load_before: float
    extra_drvs: int = 0


@dataclass
class Run:
    """One benchmark run of ``minutes`` of source: steps in pipeline order plus the checks."""

    minutes: float
    source_s: float
    shots_planned: int
    make_s: float
    video_bytes: int
    steps: list[StepRun] = field(default_factory=list)
    checks: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- media
def plan_shots(seconds: float, fps: int = FPS, seed: int = SEED) -> list[Shot]:
    """Shots filling ``seconds`` exactly (the last one absorbs the rest, at least 2 s): lengths
    triangular 2-8 s (mode 3.2 s, mean 4.4 s) rounded to frames, each source different from the
    previous one, hue steps of at least 60 degrees. Deterministic for (seconds, fps, seed).
    Raises ValueError for less than 4 s."""
    if seconds < 4:
        raise ValueError(f"{seconds} s: too short for a shot plan (at least 4 s)")
    rng = random.Random(seed)  # noqa: S311 (a reproducible plan, not security)
    total = round(seconds * fps)
    shots: list[Shot] = []
    start, source, hue = 0, -1, 0
    while start < total:
        frames = round(rng.triangular(2.0, 8.0, 3.2) * fps)
        if total - start - frames < 2 * fps:
            frames = total - start
        source = (source + rng.randrange(1, len(SOURCES))) % len(SOURCES)
        hue = (hue + rng.randrange(60, 300)) % 360
        shots.append(Shot(len(shots), source, hue, rng.choice([-1.5, 0.0, 1.5]), start, frames))
        start += frames
    return shots


def _ffmpeg(*args: str) -> None:
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, ["ffmpeg", *args], proc.stdout, proc.stderr)


def _shot_file(shot: Shot, dest: Path, size: str, fps: int) -> Path:
    src = SOURCES[shot.source].format(s=size, r=fps, k=SEED + shot.index)
    out = dest / f"shot{shot.index:04d}.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"{src},hue=h={shot.hue_deg}:b={shot.brightness},format=yuv420p",
            "-frames:v", str(shot.frames), "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-g", str(2 * fps),
            "-threads", "1", "-an", "-fflags", "+bitexact", "-map_metadata", "-1", str(out))
    return out


def make_episode(minutes: float, dest: Path, size: str = SIZE, fps: int = FPS, jobs: int = 2) -> Episode:
    """``dest``/episode-<minutes>m.mp4: ``minutes`` of shots (:func:`plan_shots`) under an
    espeak-ng dialogue (H.264 ``size`` at ``fps``, AAC 48 kHz mono). ``jobs``: ffmpeg processes
    at once. Returns the :class:`Episode` (seconds, shots, lines with their start/end seconds).
    Raises CalledProcessError (with stderr) when ffmpeg or espeak-ng fail."""
    t0 = time.perf_counter()
    seconds = round(minutes * 60 * fps) / fps
    work = dest / f"episode-{minutes:g}m-parts"
    work.mkdir(parents=True, exist_ok=True)
    shots = plan_shots(seconds, fps)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        files = list(pool.map(lambda s: _shot_file(s, work, size, fps), shots))
    (work / "shots.txt").write_text("".join(f"file '{f}'\n" for f in files))
    wav = work / "dialogue.wav"
    lines = make_dialogue_track(wav, seconds)
    video = dest / f"episode-{minutes:g}m.mp4"
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(work / "shots.txt"), "-i", str(wav), "-map", "0:v", "-map", "1:a",
            "-c:v", "copy", "-c:a", "aac", "-b:a", "64k", "-ar", "48000", "-ac", "1", "-t", f"{seconds:.3f}",
            "-fflags", "+bitexact", "-map_metadata", "-1", "-movflags", "+faststart", str(video))
    shutil.rmtree(work)
    return Episode(video, seconds, shots, lines, round(time.perf_counter() - t0, 1))


# --------------------------------------------------------------------------- dataset
def snapshot_checkout(dest: Path, repo: Path = REPO) -> Path:
    """A git repo at ``dest`` (nothing committed, all added) holding ``repo``'s tracked and
    untracked-not-ignored files: reelset as the dataset flake's ``git+file://`` input, frozen at
    this moment (edits made in the checkout during the run do not change it). Returns ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=repo, capture_output=True, check=True).stdout.split(b"\0")
    for rel in filter(None, (r.decode() for r in listed)):
        if (repo / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / rel, dest / rel)
    for cmd in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *cmd], cwd=dest, check=True, capture_output=True)
    return dest


def bible_yaml(ep: Episode, video_id: str) -> str:
    """The bible: every character and place of the dialogue, one reference shot each (the middle
    of an early shot, seconds)."""
    mids = [round((s.start_frame + s.frames / 2) / FPS, 2) for s in ep.shots]
    out = ["series: reelset bench episode", "trigger_word: rsbench", "characters:"]
    for i, name in enumerate(NAMES):
        out += [f"  - name: {name}", f"    description: test card {i}", "    reference_shots:",
                f"      - {{video: {video_id}, t: {mids[i % len(mids)]}}}"]
    out.append("places:")
    out += [f"  - name: {p.removeprefix('the ').title() if p.startswith('the ') else p}" for p in PLACES]
    return "\n".join(out) + "\n"


DATASET_TOML = """name = "{name}"
description = "bench/bench_episode.py: a {minutes:g}-minute synthetic episode"

[[videos]]
id = "{vid}"
file = "{file}"
sha256 = "{sha256}"

[device]
allow_cpu = true

[scenes]
threshold = 27.0
min_scene_len_frames = 15

[asr]
model = "faster-whisper-tiny-en"
language = "en"
beam_size = 5
vad = true

[speakers]
model = "resemblyzer-ge2e"

[disambiguate]
vlm = "tiny-qwen2.5-vl"
model_frames = 2
model_max_pixels = 12544
model_max_new_tokens = 160
model_max_text_chars = 100

[caption]
model = "tiny-qwen2.5-vl"
fps = 2.0
max_frames = 8
batch_size = 4
max_chars = 100
max_new_tokens = 256

# a random model's captions: accept them as text (media QA stays at its defaults)
[review]
min_words = 0
require_trigger_word = false
check_names = false

[ltx2]
buckets = ["96x64x17"]

[wan21]
sizes = ["64x48"]
max_frames = 17
min_frames = 9

[ltx2_preprocess]
model = "tiny-ltx2"

[wan21_preprocess]
model = "tiny-wan2.1"
"""

FLAKE = """{{
  inputs.reelset.url = "git+file://{reelset}";
  outputs = {{ self, reelset }}: reelset.lib.mkDatasetFlake {{ datasetDir = ./.; }};
}}
"""


def make_dataset(ds: Path, reelset: Path, ep: Episode, name: str, env: dict[str, str], video_id: str = "ep") -> None:
    """A dataset flake at ``ds`` (git init, all added) for ``ep``; the video goes into the store as
    a fixed input. Raises CalledProcessError when git or nix-store fail."""
    ds.mkdir(parents=True)
    sha = subprocess.run(["sha256sum", str(ep.video)], capture_output=True, text=True, check=True).stdout.split()[0]
    subprocess.run(["nix-store", "--add-fixed", "sha256", str(ep.video)], capture_output=True, text=True, check=True, env=env)
    (ds / "dataset.toml").write_text(DATASET_TOML.format(name=name, minutes=ep.seconds / 60, vid=video_id,
                                                         file=ep.video.name, sha256=sha))
    (ds / "bible.yaml").write_text(bible_yaml(ep, video_id))
    (ds / "flake.nix").write_text(FLAKE.format(reelset=reelset))
    for cmd in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *cmd], cwd=ds, check=True, capture_output=True)


# --------------------------------------------------------------------------- building
def tree_bytes(path: Path) -> int:
    """Bytes of the files below ``path`` (``du -sb``-like, symlinks not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build_step(ds: Path, step: dict, video_id: str, env: dict[str, str]) -> StepRun:
    """Build one step's compute derivation (video steps: the video's shard) with ``nix build
    --impure --json --no-link`` in ``ds`` and measure it (:class:`StepRun`). Raises RuntimeError
    with the end of Nix's log when the build fails."""
    attr = f"host.{step['name']}" + (f".shards.{video_id}" if step["level"] == "video" else "") + ".data"
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(["nix", "build", "--impure", "--json", "--no-link", f".#{attr}"], cwd=ds, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{step['name']}: nix build .#{attr} failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}")
    built = json.loads(proc.stdout)[0]
    out = Path(built["outputs"]["out"])
    log = nixinfo.build_log(out) or ""
    timings = parse_timings(log)
    resources = parse_resources(log)
    tool = timings.get("total") if timings else None
    # other derivations this build ran for the step (step2-shot-reference: one per reference
    # frame): their tool seconds are added, their peak RSS counts in the maximum
    extra = [d for d in re.findall(r"building '(/nix/store/[^']+\.drv)'", proc.stderr) if d != built["drvPath"]]
    for drv in extra:
        part = nixinfo.build_log(Path(drv)) or ""
        t, r = parse_timings(part), parse_resources(part)
        if t and tool is not None:
            tool = round(tool + t.get("total", 0.0), 3)
        if r and resources:
            resources = {k: max(v, r.get(k, 0.0)) for k, v in resources.items()}
    return StepRun(step["name"], step["device"], built["drvPath"], str(out), round(wall, 2), tool, timings,
                   resources, tree_bytes(out), round(load, 2), len(extra))


# --------------------------------------------------------------------------- checks
def _norm(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def _wer(ref: list[str], hyp: list[str]) -> float:
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[-1] / max(len(ref), 1)


def transcript_recall(transcript: dict, lines: list[Line], slack_s: float = 0.3) -> float:
    """Fraction (0-1) of ``lines`` whose words the transcript recovered: the transcript's words
    whose middle lies within the line's span (± ``slack_s`` seconds) have a word error rate of at
    most ``SENTENCE_WER`` against the line's text."""
    words = [(0.5 * (w["start"] + w["end"]), w["word"]) for seg in transcript["segments"] for w in seg["words"]]
    good = 0
    for line in lines:
        heard = " ".join(w for t, w in words if line.start_s - slack_s <= t <= line.end_s + slack_s)
        good += _wer(_norm(line.text), _norm(heard)) <= SENTENCE_WER
    return good / max(len(lines), 1)


def checks(run: Run, ep: Episode) -> dict:
    """Scenes detected vs planned, transcript sentence recall, clips kept per package, from the
    step outputs of ``run``."""
    outs = {s.step: Path(s.out) for s in run.steps}
    res: dict = {"shots_planned": len(ep.shots), "lines_spoken": len(ep.lines)}
    if "step1-scenes" in outs:
        scenes = json.loads((outs["step1-scenes"] / "scenes.json").read_text())["scenes"]
        res["scenes_detected"] = len(scenes)
        res["clips_missing"] = sum(not (outs["step1-scenes"] / s["clip"]).is_file() for s in scenes)
    if "step2-transcript-base" in outs:
        res["sentences_recovered"] = round(transcript_recall(
            json.loads((outs["step2-transcript-base"] / "transcript.json").read_text()), ep.lines), 3)
    for step in ("step3-ltx2-data", "step3-wan21-package"):
        if step in outs:
            m = json.loads((outs[step] / "manifest.json").read_text())
            res[f"{step}_kept"] = m["kept"]
            res[f"{step}_dropped"] = m["dropped"]
    return res


# --------------------------------------------------------------------------- run
def bench_env() -> dict[str, str]:
    """The entry command's Nix settings (cuda steps here, sandbox relaxed, no substituters); the
    host toolchain's Python is REELSET_PYTHON, defaulting to this interpreter's venv."""
    env = dict(os.environ)
    env.setdefault("REELSET_PYTHON", str(Path(sys.prefix) / "bin" / "python"))
    return build_env(env)


def run_one(minutes: float, work: Path, reelset: Path, env: dict[str, str], steps: list[dict],
            log=print) -> Run:
    """Make a ``minutes`` episode in ``work`` and build ``steps`` (step-table entries, pipeline
    order) of a fresh dataset for it, one by one. Returns the :class:`Run`. Raises RuntimeError
    when a build fails (the runs so far are lost only for this length)."""
    ep = make_episode(minutes, work)
    log(f"episode {minutes:g} min: {len(ep.shots)} shots, {len(ep.lines)} lines, {ep.video.stat().st_size / 1e6:.1f} MB, "
        f"made in {ep.make_s:.0f} s")
    run = Run(minutes, ep.seconds, len(ep.shots), ep.make_s, ep.video.stat().st_size)
    name = f"bench{minutes:g}m{uuid.uuid4().hex[:6]}".replace(".", "p")  # new name: every step builds
    make_dataset(work / f"dataset-{name}", reelset, ep, name, env)
    for step in steps:
        s = build_step(work / f"dataset-{name}", step, "ep", env)
        run.steps.append(s)
        rss = s.resources or {}
        log(f"  {s.step}: {s.wall_s:.1f} s wall, tool {s.tool_s} s, rss {rss.get('peak_rss_mb')} MB "
            f"(children {rss.get('children_peak_rss_mb')} MB), out {s.out_bytes / 1e6:.1f} MB, load {s.load_before}")
    run.checks = checks(run, ep)
    log(f"  checks: {run.checks}")
    return run


def machine() -> dict:
    """CPU model, cores, memory (MB), kernel, Nix version."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) // 1024 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), None)
    nix = subprocess.run(["nix", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mb": mem, "kernel": platform.release(), "nix": nix}


def per_minute(s: StepRun, run: Run) -> float | None:
    """The step's tool seconds (wall of the build when the log has none) per minute of source."""
    t = s.tool_s if s.tool_s is not None else s.wall_s
    return round(t / (run.source_s / 60), 3)


def scaling(runs: list[Run]) -> list[dict]:
    """Per step, shortest → longest run: seconds per source minute of each and their ratio;
    verdict "linear" when the ratio is within ±LINEAR_TOLERANCE of 1, "worse" above, "better"
    below; plus seconds per added source minute (the difference of the runs' seconds over the
    difference of their minutes). Empty for fewer than two runs."""
    if len(runs) < 2:
        return []
    a, b = min(runs, key=lambda r: r.minutes), max(runs, key=lambda r: r.minutes)
    bs = {s.step: s for s in b.steps}
    rows = []
    for s in a.steps:
        if s.step not in bs:
            continue
        pa, pb = per_minute(s, a), per_minute(bs[s.step], b)
        ratio = pb / pa if pa else None
        verdict = "n/a" if ratio is None else ("linear" if abs(ratio - 1) <= LINEAR_TOLERANCE else
                                                ("worse" if ratio > 1 else "better"))
        # seconds per *added* minute: free of fixed costs (model loading), which make short runs
        # look dearer per minute ("better" on a longer run is often just that)
        added = (pb * b.source_s - pa * a.source_s) / (b.source_s - a.source_s) if b.source_s > a.source_s else None
        rows.append({"step": s.step, "from_min": a.minutes, "to_min": b.minutes, "s_per_min_from": pa,
                     "s_per_min_to": pb, "ratio": None if ratio is None else round(ratio, 2), "verdict": verdict,
                     "s_per_added_min": None if added is None else round(added, 3)})
    return rows


def markdown(runs: list[Run], scale: list[dict]) -> str:
    """The results as Markdown tables: one per run, then the scaling table."""
    out = []
    for r in runs:
        out += [f"### {r.minutes:g} min of source ({r.source_s:.0f} s, {r.shots_planned} shots planned, "
                f"{r.checks.get('scenes_detected')} scenes detected)", "",
                "| step | device | wall s (nix build) | tool s | s / source min | peak RSS MB (tool / children) | output MB | load before |",
                "|---|---|---|---|---|---|---|---|"]
        for s in r.steps:
            rss = s.resources or {}
            own, kids = rss.get("peak_rss_mb"), rss.get("children_peak_rss_mb")
            # a child's ru_maxrss starts at the tool's RSS when spawned: only more than that is its own
            kids_txt = "-" if not kids else (f"{kids}" if own is None or kids > own else "≤ tool")
            out.append(f"| {s.step} | {s.device} | {s.wall_s:.1f} | {s.tool_s} | {per_minute(s, r)} | "
                       f"{own} / {kids_txt} | {s.out_bytes / 1e6:.1f} | {s.load_before} |")
        out += ["", f"checks: {json.dumps(r.checks)}", ""]
    if scale:
        out += [f"### scaling {scale[0]['from_min']:g} → {scale[0]['to_min']:g} min (seconds per source minute)", "",
                "| step | s/min short | s/min long | ratio | verdict | s per added min |", "|---|---|---|---|---|---|"]
        out += [f"| {x['step']} | {x['s_per_min_from']} | {x['s_per_min_to']} | {x['ratio']} | {x['verdict']} | "
                f"{x['s_per_added_min']} |" for x in scale]
    out += ["", "left out: " + "; ".join(f"{k} ({v})" for k, v in EXCLUDED.items())]
    return "\n".join(out)


def bench_steps(reelset: Path) -> list[dict]:
    """The step table of ``reelset`` in pipeline order without the EXCLUDED steps."""
    return [s for s in nixinfo.step_table(reelset) if s["name"] not in EXCLUDED]


# --------------------------------------------------------------------------- season (issue 29)
# An intro and end credits shared by every episode of a season (same frames, same sound): two
# shots each, a fixed lavfi source, hue and spoken line. Episode k's body between them is its own
# shot plan (seed SEED + k) under the dialogue track.
# Issue 39: the credits are one animated end card (tests/season_media.py: a flashing checker over a
# moving pattern) and each episode is re-encoded with its own softness, so scene detection cuts the
# same credits into 1, 2 or 3 clips; each episode but every third starts with a cold open of its own
# (COLD_OPEN_S), so the shared parts start at other sub-step offsets.
SHARED = {"intro": [(0, 0, 0.0, "Previously on the reelset files."), (1, 120, 0.0, "Nothing is what it seems.")],
          "credits": [(None, 0, 0.0, "Created by the reelset team. Goodbye until next week.")]}
SHARED_SHOT_S = 4.0
COLD_OPEN_S = (0.0, 1.32, 2.24)  # episode k: COLD_OPEN_S[(k - 1) % 3]

SEASON_TOML = """name = "{name}"
description = "bench/bench_episode.py --season: {n} synthetic episodes sharing an intro and credits"
{videos}
[device]
allow_cpu = true

[scenes]
threshold = 27.0
min_scene_len_frames = 15

[asr]
model = "faster-whisper-tiny-en"
language = "en"
beam_size = 5
vad = true

[speakers]
model = "resemblyzer-ge2e"

[disambiguate]
vlm = "tiny-qwen2.5-vl"
model_frames = 2
model_max_pixels = 12544
model_max_new_tokens = 160
model_max_text_chars = 100

[caption]
model = "tiny-qwen2.5-vl"
fps = 2.0
max_frames = 8
batch_size = 4
max_chars = 100
max_new_tokens = 256

# a random model's captions: accept them as text (media QA stays at its defaults)
[review]
min_words = 0
require_trigger_word = false
check_names = false

[repeats]
keep = "one"

[ltx2]
buckets = ["96x64x17"]

[wan21]
sizes = ["64x48"]
max_frames = 17
min_frames = 9
"""


@dataclass
class SeasonEpisode:
    """A season episode: its video and the [start, end) seconds of its shared parts."""

    vid: str
    video: Path
    seconds: float
    shared: list[tuple[float, float]]
    body: Episode | None = None


def _shared_part(name: str, dest: Path, size: str, fps: int) -> Path:
    """The intro or the credits (SHARED[name]): SHARED_SHOT_S per shot, each with its line
    (espeak-ng), 48 kHz mono AAC; made once, put into every episode."""
    parts = []
    for i, (source, hue, bright, text) in enumerate(SHARED[name]):
        wav = dest / f"{name}{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), text], check=True, capture_output=True)
        src = (SOURCES[source].format(s=size, r=fps, k=SEED) + f",hue=h={hue}:b={bright},format=yuv420p"
               if source is not None else end_card_source(size, fps))
        out = dest / f"{name}{i}.mp4"
        _ffmpeg("-f", "lavfi", "-i", src, "-i", str(wav),
                "-frames:v", str(round(SHARED_SHOT_S * fps)), "-af", "apad", "-t", f"{SHARED_SHOT_S:.3f}",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-threads", "1", "-c:a", "aac", "-ar", "48000",
                "-ac", "1", "-fflags", "+bitexact", "-map_metadata", "-1", str(out))
        parts.append(out)
    return _concat(parts, dest / f"{name}.mp4")


def _concat(parts: list[Path], out: Path, vf: str = "null") -> Path:
    """``parts`` (video + audio each) one after the other, re-encoded through the filter ``vf`` (x264
    veryfast, AAC 48 kHz mono)."""
    inputs = [a for p in parts for a in ("-i", str(p))]
    streams = "".join(f"[{i}:v][{i}:a]" for i in range(len(parts)))
    _ffmpeg(*inputs, "-filter_complex", f"{streams}concat=n={len(parts)}:v=1:a=1[c][a];[c]{vf}[v]", "-map", "[v]", "-map", "[a]",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-threads", "2", "-c:a", "aac", "-b:a", "64k",
            "-ar", "48000", "-ac", "1", "-fflags", "+bitexact", "-map_metadata", "-1", str(out))
    return out


def make_season_episode(k: int, minutes: float, dest: Path, shared: dict[str, Path], size: str = SIZE,
                        fps: int = FPS) -> SeasonEpisode:
    """Episode ``k`` (1-based) of ``minutes``: a cold open of its own (COLD_OPEN_S), intro, a body of
    its own (make_episode's shots with seed SEED + k under the dialogue), the end card; re-encoded
    with the episode's softness (tests/season_media.py)."""
    vid = f"ep{k:02d}"
    cold_s = COLD_OPEN_S[(k - 1) % len(COLD_OPEN_S)]
    shared_s = len(SHARED["intro"]) * SHARED_SHOT_S + len(SHARED["credits"]) * SHARED_SHOT_S
    body_s = round((minutes * 60 - shared_s - cold_s) * fps) / fps
    work = dest / f"{vid}-parts"
    work.mkdir(parents=True, exist_ok=True)
    shots = plan_shots(body_s, fps, seed=SEED + k)
    files = [_shot_file(replace(s, index=1000 * k + s.index), work, size, fps) for s in shots]  # own lavfi seeds
    (work / "shots.txt").write_text("".join(f"file '{f}'\n" for f in files))
    wav = work / "dialogue.wav"
    lines = make_dialogue_track(wav, body_s, lead_s=0.5 + 0.7 * (k % 5))  # the same script, shifted per episode
    body = work / "body.mp4"
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(work / "shots.txt"), "-i", str(wav), "-map", "0:v", "-map", "1:a",
            "-c:v", "copy", "-c:a", "aac", "-ar", "48000", "-ac", "1", "-t", f"{body_s:.3f}", str(body))
    cold = []
    if cold_s:
        src = SOURCES[(k + 3) % len(SOURCES)].format(s=size, r=fps, k=SEED + 500 + k)
        cold = [spoken_part(work / "cold.mp4", f"{src},hue=h={40 * k}", "A cold open of its own.", cold_s)]
    video = _concat([*cold, shared["intro"], body, shared["credits"]], dest / f"{vid}.mp4", softness(k))
    shutil.rmtree(work)
    intro_s = len(SHARED["intro"]) * SHARED_SHOT_S
    total = cold_s + intro_s + body_s + len(SHARED["credits"]) * SHARED_SHOT_S
    spans = [(cold_s + i * SHARED_SHOT_S, cold_s + (i + 1) * SHARED_SHOT_S) for i in range(len(SHARED["intro"]))]
    spans += [(cold_s + intro_s + body_s + i * SHARED_SHOT_S, cold_s + intro_s + body_s + (i + 1) * SHARED_SHOT_S)
              for i in range(len(SHARED["credits"]))]
    return SeasonEpisode(vid, video, total, spans, Episode(video, total, shots, lines))


def make_season_dataset(ds: Path, reelset: Path, eps: list[SeasonEpisode], name: str, env: dict[str, str]) -> None:
    """A dataset flake at ``ds`` holding ``eps`` (fixed inputs); the bible's reference shots are in
    the first episode's body (the same bible for every size of the season, so adding an episode
    changes no bible-dependent derivation)."""
    ds.mkdir(parents=True)
    videos = ""
    for ep in eps:
        sha = subprocess.run(["sha256sum", str(ep.video)], capture_output=True, text=True, check=True).stdout.split()[0]
        subprocess.run(["nix-store", "--add-fixed", "sha256", str(ep.video)], capture_output=True, text=True, check=True, env=env)
        videos += f'\n[[videos]]\nid = "{ep.vid}"\nfile = "{ep.video.name}"\nsha256 = "{sha}"\n'
    (ds / "dataset.toml").write_text(SEASON_TOML.format(name=name, n=len(eps), videos=videos))
    first = eps[0].body
    shift = len(SHARED["intro"]) * SHARED_SHOT_S
    bible = bible_yaml(Episode(first.video, first.seconds, [Shot(s.index, s.source, s.hue_deg, s.brightness,
                                                                  s.start_frame + round(shift * FPS), s.frames)
                                                             for s in first.shots], first.lines), eps[0].vid)
    (ds / "bible.yaml").write_text(bible)
    (ds / "flake.nix").write_text(FLAKE.format(reelset=reelset))
    for cmd in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *cmd], cwd=ds, check=True, capture_output=True)


@dataclass
class Build:
    """One ``nix build .#host.all`` of a season dataset: derivations built, CPU seconds of the
    builds (user + system of Nix's child processes: the builders run as its children on a
    single-user store), wall seconds, and the gatherings' tool seconds."""

    label: str
    videos: int
    derivations: int
    cpu_s: float
    wall_s: float
    gather_tool_s: float
    built: list[str] = field(default_factory=list)


def build_all(ds: Path, label: str, videos: int, env: dict[str, str]) -> Build:
    """Dry-run then build ``.#host.all`` in ``ds``, measured (:class:`Build`). RuntimeError on failure."""
    dry = subprocess.run(["nix", "build", "--impure", "--dry-run", ".#host.all"], cwd=ds, env=env, capture_output=True, text=True)
    if dry.returncode != 0:
        raise RuntimeError(f"{label}: dry run failed:\n{dry.stderr[-4000:]}")
    names = sorted(re.sub(r"^/nix/store/[a-z0-9]{32}-", "", d).removesuffix(".drv")
                   for d in nixinfo.parse_dry_run(dry.stderr).will_build)
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", ".#host.all"], cwd=ds, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = os.times()
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: build failed:\n{proc.stderr[-6000:]}")
    gather = 0.0
    for d in re.findall(r"building '(/nix/store/[^']+\.drv)'", proc.stderr):
        base = re.sub(r"^/nix/store/[a-z0-9]{32}-", "", d).removesuffix(".drv")
        if any(base.endswith(f"-{s}") for s in ("step2-reviewed", "step3-ltx2-data", "step3-wan21-package")):
            t = parse_timings(nixinfo.build_log(Path(d)) or "")
            gather += (t or {}).get("total", 0.0)
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return Build(label, videos, len(names), round(cpu, 1), round(wall, 1), round(gather, 2), names)


def season_recall(ds: Path, eps: list[SeasonEpisode], env: dict[str, str]) -> dict:
    """The shared intro and credits found: every clip lying in a shared span must be in a repeat
    group with its copies in every other episode (recall), and no group may hold a clip of an
    episode's own body (false groups). Read from the built step1-scenes shards and the gathered
    reviewed.json."""
    def out(attr: str) -> Path:
        proc = subprocess.run(["nix", "build", "--impure", "--no-link", "--json", f".#host.{attr}"], cwd=ds, env=env,
                              capture_output=True, text=True, check=True)
        return Path(json.loads(proc.stdout)[0]["outputs"]["out"])
    shared_clips, unique = set(), set()
    for ep in eps:
        scenes = json.loads((out(f"step1-scenes.shards.{ep.vid}.data") / "scenes.json").read_text())["scenes"]
        for sc in scenes:
            mid = 0.5 * (sc["start_s"] + sc["end_s"])
            (shared_clips if any(a <= mid < b for a, b in ep.shared) else unique).add(sc["clip_id"])
    reviewed = json.loads((out("step2-reviewed.data") / "reviewed.json").read_text())
    wan = json.loads((out("step3-wan21-package.data") / "manifest.json").read_text())
    after = _recall([[m["clip_id"] for m in g["members"]] for g in reviewed["repeats"]], shared_clips, unique, eps)
    # before issue 39: whole clips only (reelset.repeats.find_groups over the same shards' clip fingerprints)
    from reelset.repeats import apply_repeats, find_groups
    from reelset.schemas.repeats import ClipFingerprint, RepeatsConfig, VideoTimeline
    cfg = RepeatsConfig(keep="one")
    fps = [ClipFingerprint.model_validate(f) for f in reviewed["fingerprints"]]
    timelines = [VideoTimeline.model_validate(t) for ep in eps
                 for t in json.loads((out(f"step2-reviewed.shards.{ep.vid}.data") / "reviewed.json").read_text())["timelines"]]
    t0 = time.perf_counter()
    clip_groups = find_groups(fps, cfg)
    t1 = time.perf_counter()
    apply_repeats(fps, timelines, cfg, [], [], [])
    t2 = time.perf_counter()
    before = _recall([[f.clip_id for f in g] for g in clip_groups], shared_clips, unique, eps)
    return {"shared_clips": len(shared_clips), **after, "before": before,
            "grouping_s_before": round(t1 - t0, 4), "grouping_s_after": round(t2 - t1, 4),
            "steps": sum(len(t.dhash) for t in timelines), "groups": len(reviewed["repeats"]),
            "copies_dropped": sum(1 for c in wan["clips"] if c.get("repeat_of"))}


def _recall(groups: list[list[str]], shared_clips: set[str], unique: set[str], eps: list[SeasonEpisode]) -> dict:
    """Recall of the shared clips (in a group with clips of every episode), the unique clips grouped
    and the false groups (groups holding a unique clip)."""
    full = {c for g in groups if len({c.split("-")[0] for c in g}) == len(eps) for c in g}
    grouped = {c for g in groups for c in g}
    return {"found_in_every_episode": len(shared_clips & full),
            "recall": round(len(shared_clips & full) / max(len(shared_clips), 1), 3),
            "unique_clips_grouped": sorted(unique & grouped),
            "false_groups": sum(1 for g in groups if unique & set(g))}


def run_season(n: int, minutes: float, work: Path, reelset: Path, env: dict[str, str], log=print) -> dict:
    """N episodes of ``minutes`` sharing an intro and credits: (a) the full build of the N, (b) the
    same dataset with episode N+1 added, (c) episode N+1 alone (a fresh dataset): derivations
    built and CPU seconds of each, with the recall of the shared parts after (b)."""
    dest = work / f"season{n}"
    dest.mkdir(parents=True)
    shared = {name: _shared_part(name, dest, SIZE, FPS) for name in SHARED}
    eps = [make_season_episode(k, minutes, dest, shared) for k in range(1, n + 2)]
    tag = uuid.uuid4().hex[:6]
    name = f"season{n}x{minutes:g}m{tag}".replace(".", "p")
    full = build_all(_ds(dest / "ds-full", reelset, eps[:n], name, env), f"{n} episodes, full build", n, env)
    log(f"  (a) {full.label}: {full.derivations} derivations, {full.cpu_s} CPU s, {full.wall_s} s wall")
    added = build_all(_ds(dest / "ds-added", reelset, eps, name, env), f"episode {n + 1} added", n + 1, env)
    log(f"  (b) {added.label}: {added.derivations} derivations, {added.cpu_s} CPU s, gatherings {added.gather_tool_s} s")
    recall = season_recall(dest / "ds-added", eps, env)
    log(f"  recall: {recall}")
    alone_eps = [SeasonEpisode("ep01", e.video, e.seconds, e.shared, eps[0].body) for e in eps[n:]]
    alone = build_all(_ds(dest / "ds-alone", reelset, alone_eps, f"{name}alone", env), f"episode {n + 1} alone", 1, env)
    log(f"  (c) {alone.label}: {alone.derivations} derivations, {alone.cpu_s} CPU s")
    return {"n": n, "minutes": minutes, "full": asdict(full), "added": asdict(added), "alone": asdict(alone),
            "added_over_alone": round(added.cpu_s / alone.cpu_s, 3) if alone.cpu_s else None,
            "gather_share_of_alone": round(added.gather_tool_s / alone.cpu_s, 3) if alone.cpu_s else None, **recall}


def _ds(ds: Path, reelset: Path, eps: list[SeasonEpisode], name: str, env: dict[str, str]) -> Path:
    make_season_dataset(ds, reelset, eps, name, env)
    return ds


def season_markdown(rows: list[dict]) -> str:
    """The season table: per N, the full build, adding episode N+1 and that episode alone; the
    repeats found before (whole clips) → after (stretches of time, issue 39)."""
    out = ["| N × min | (a) full build: drvs / CPU s | (b) add ep N+1: drvs / CPU s | (c) ep N+1 alone: drvs / CPU s | "
           "(b)/(c) | gatherings s (share of c) | shared clips found in every ep: before → after | "
           "false groups (unique clips grouped): before → after | grouping s: before → after | copies dropped |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r.get("before", r)
        out.append(f"| {r['n']} × {r['minutes']:g} | {r['full']['derivations']} / {r['full']['cpu_s']} | "
                   f"{r['added']['derivations']} / {r['added']['cpu_s']} | {r['alone']['derivations']} / {r['alone']['cpu_s']} | "
                   f"{r['added_over_alone']} | {r['added']['gather_tool_s']} ({r['gather_share_of_alone']}) | "
                   f"{b['found_in_every_episode']}/{r['shared_clips']} → {r['found_in_every_episode']}/{r['shared_clips']} "
                   f"(recall {b['recall']} → {r['recall']}) | {b.get('false_groups', '?')} ({len(b['unique_clips_grouped'])}) → "
                   f"{r.get('false_groups', '?')} ({len(r['unique_clips_grouped'])}) | "
                   f"{r.get('grouping_s_before', '?')} → {r.get('grouping_s_after', '?')} | {r['copies_dropped']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[22.0], help="source lengths, minutes (default 22)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here (e.g. bench/episode.json)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temp dir, removed unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--season", type=int, nargs="+", help="season mode: N episodes of --minutes (one length) sharing "
                                                             "an intro and credits, for each N given (issue 29)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-episode-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        env = bench_env()
        reelset = snapshot_checkout(work / "reelset")
        if args.season:
            result = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "season": []}
            for n in sorted(args.season):
                print(f"season: {n} episodes of {args.minutes[0]:g} min")
                result["season"].append(run_season(n, args.minutes[0], work, reelset, env))
                if args.out:
                    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
            print(season_markdown(result["season"]))
            return 0
        steps = bench_steps(reelset)
        result = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                  "load_average_start": os.getloadavg(), "excluded": EXCLUDED, "runs": []}
        runs = []
        for minutes in sorted(args.minutes):
            runs.append(run_one(minutes, work, reelset, env, steps))
            result["runs"].append(asdict(runs[-1]))
            if args.out:
                args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        result["scaling"] = scaling(runs)
        print(f"\nmachine: {json.dumps(result['machine'])}\n")
        print(markdown(runs, result["scaling"]))
        if args.out:
            args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    finally:
        if not (args.keep or args.work):
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
