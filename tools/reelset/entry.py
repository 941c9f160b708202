"""The entry command's machinery (``reelset build``, ``reelset env``, ``reelset review``): which
dataset the caller means, the Nix settings and interpreter a host-toolchain build needs, the
dataset files Nix cannot see, the steps ``all`` leaves out and the "what next" line.

Not a step module: no step imports it, so it never enters a step's sources.

- :func:`resolve_dataset`: a dataset flake folder (``nix flake init -t <reelset>#dataset``:
  flake.nix + dataset.toml, attribute ``host``), a folder ``pipelines/<name>`` of a reelset
  checkout (attribute ``host.datasets.<name>``), a dataset name of this checkout, or — with no
  argument — the caller's working directory (the checkout itself means its demo).
- :func:`nix_config` / :func:`build_env`: the settings of the Makefile (flakes on, ``substituters
  =``, ``build-users-group =``, ``sandbox = relaxed``, ``extra-system-features = cuda`` unless
  ``REELSET_LOCAL_CUDA=0``), placed *before* the caller's own ``NIX_CONFIG`` so the caller's
  lines win; the steps run in the store env of requirements.lock (``REELSET_PYTHON``, if set, is passed on).
- :func:`invisible_files`: files of the dataset (dataset.toml, models.toml, the step table's
  ``files`` such as bible.yaml / review.json, ``path`` videos) that exist on disk but are not
  tracked by git, so a git flake does not see them (Nix's rule: a ``git+file`` flake holds the
  files of the git index, https://nixos.org/manual/nix/stable/command-ref/new-cli/nix3-flake).
- :func:`read_plan` / :func:`left_out`: why ``all`` lacks a step, as nix/pipeline.nix's ``plan``
  says it (a required file missing, an upstream step left out, an opt-in section absent): the rules
  live once, in Nix, and are read with one ``nix eval --json``.
- :func:`left_out_clips`: the closing lines about clips ``step2-reviewed`` left out, counted per
  video and reason, with the command that reviews them; :func:`move_review_link`: after a build
  of step2-caption (or ``all``), the ``result-step2-caption`` link a running ``reelset review``
  serves follows the new output, so the server shows a new video's clips without a restart.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from reelset import ReelsetError, nixinfo, userfiles

REPO = nixinfo.REPO


@dataclass(frozen=True)
class Target:
    """One dataset and the flake attribute set that builds it.

    flake: absolute path of the flake folder (a reelset checkout or a dataset flake); attr: the
    attribute of its step set (``host`` or ``host.datasets.<name>``); dataset_dir: the folder
    holding dataset.toml; kind: "dataset-flake" | "checkout".
    """

    flake: Path
    attr: str
    dataset_dir: Path
    kind: str


def _is_checkout(folder: Path) -> bool:
    return (folder / "flake.nix").is_file() and (folder / "nix" / "steps.nix").is_file()


def _from_folder(folder: Path) -> Target | None:
    """The Target of a folder holding dataset.toml, or None when it holds none."""
    if not (folder / "dataset.toml").is_file():
        return None
    if (folder / "flake.nix").is_file() and not _is_checkout(folder):
        return Target(folder, "host", folder, "dataset-flake")
    checkout = folder.parent.parent
    if folder.parent.name == "pipelines" and _is_checkout(checkout):
        return Target(checkout, f"host.datasets.{folder.name}", folder, "checkout")
    raise ReelsetError(f"{folder}: has a dataset.toml but no flake.nix and is not pipelines/<name> of a reelset "
                       f"checkout; make it a dataset flake: `cd {folder} && nix flake init -t git+file://{REPO}#dataset` "
                       "(keeps your dataset.toml), then set inputs.reelset.url in its flake.nix")


def resolve_dataset(dataset: str | None, cwd: Path) -> Target:
    """The dataset the caller means (rules in the module docstring); relative paths are taken
    against ``cwd``, the caller's working directory. ReelsetError naming the folder otherwise."""
    if dataset is None:
        found = _from_folder(cwd)
        if found:
            return found
        if _is_checkout(cwd):
            return Target(cwd, "host.datasets.demo", cwd / "pipelines" / "demo", "checkout")
        raise ReelsetError(f"{cwd}: no dataset.toml here; run in a dataset folder (made by `nix flake init -t "
                           f"git+file://{REPO}#dataset`) or pass --dataset DIR")
    path = (cwd / dataset).resolve() if not Path(dataset).is_absolute() else Path(dataset)
    if path.is_dir():
        found = _from_folder(path)
        if found is None:
            raise ReelsetError(f"{path}: no dataset.toml there (a dataset is a folder with dataset.toml: a dataset "
                               "flake, or pipelines/<name>/ of reelset)")
        return found
    if "/" not in dataset and (REPO / "pipelines" / dataset / "dataset.toml").is_file():
        return Target(REPO, f"host.datasets.{dataset}", REPO / "pipelines" / dataset, "checkout")
    if "/" in dataset:
        raise ReelsetError(f"{path}: no such folder, so no dataset.toml there")
    raise ReelsetError(f"{dataset}: neither a folder nor a dataset of {REPO / 'pipelines'}")


# --------------------------------------------------------------------------- settings
BASE_CONFIG = ["experimental-features = nix-command flakes", "substituters =", "build-users-group =",
               "sandbox = relaxed"]


def nix_config(env: dict[str, str] | None = None) -> str:
    """NIX_CONFIG for host-toolchain builds, the caller's NIX_CONFIG last (its lines win).

    ``substituters =``: host derivations are never in a binary cache; ``build-users-group =``:
    single-user Nix; ``sandbox = relaxed``: host steps are ``__noChroot``; ``extra-system-features
    = cuda`` when ``REELSET_LOCAL_CUDA`` is not "0" (cuda steps run here, on the CPU without GPU).
    """
    env = os.environ if env is None else env
    lines = list(BASE_CONFIG)
    if env.get("REELSET_LOCAL_CUDA", "1") != "0":
        lines.append("extra-system-features = cuda")
    own = env.get("NIX_CONFIG", "").strip()
    if own:
        lines += [ln for ln in own.splitlines() if ln.strip() and ln.strip() not in lines]
    return "\n".join(lines)


def interpreter(env: dict[str, str] | None = None) -> Path:
    """The host toolchain's Python: ``REELSET_PYTHON``, else this checkout's ``.venv``.
    ReelsetError naming the variable when neither exists."""
    env = os.environ if env is None else env
    given = env.get("REELSET_PYTHON")
    if given:
        if not Path(given).is_file():
            raise ReelsetError(f"REELSET_PYTHON={given}: no such interpreter; point it at the python of a venv made "
                               f"from reelset's requirements.lock (`make venv` in {REPO} makes {REPO}/.venv)")
        return Path(given)
    venv = REPO / ".venv" / "bin" / "python"
    if not venv.exists():
        raise ReelsetError(f"REELSET_PYTHON is not set and {venv} does not exist: run `make venv` in {REPO}, "
                           "or set REELSET_PYTHON=/path/to/venv/bin/python (a venv made from reelset's requirements.lock)")
    return venv


def build_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Nix call of the entry command: NIX_CONFIG set. The steps run in
    the store env of requirements.lock (nix/toolchains/host.nix); a REELSET_PYTHON the user set
    (the escape hatch) is passed on after checking that it exists."""
    env = dict(os.environ if env is None else env)
    if env.get("REELSET_PYTHON"):
        interpreter(env)
    env["NIX_CONFIG"] = nix_config(env)
    return env


def env_script(env: dict[str, str] | None = None) -> str:
    """``reelset env``: shell lines to ``eval``, e.g. ``eval "$(bin/reelset env)"``."""
    full = build_env(env)
    return "\n".join(f"export {k}={shlex.quote(full[k])}" for k in ("NIX_CONFIG", "REELSET_PYTHON") if k in full) + "\n"


# --------------------------------------------------------------------------- dataset files
def dataset_config(target: Target) -> dict:
    """dataset.toml of ``target`` parsed and checked before Nix sees it
    (:func:`reelset.userfiles.check_dataset_toml`: file:line:column, keys with "did you mean");
    ReelsetError."""
    return userfiles.check_dataset_toml(target.dataset_dir / "dataset.toml")


def lookup(cfg: dict, key: str, default):
    """"bible.file" → cfg["bible"]["file"], or ``default`` (as nix/pipeline.nix's lookup)."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def dataset_files(target: Target, cfg: dict, table: list[dict]) -> dict[str, str]:
    """Files of the dataset folder Nix reads → what reads them (relative to dataset_dir)."""
    files = {"dataset.toml": "the dataset", "models.toml": "models pinned by the dataset"}
    for step in table:
        for role, f in (step.get("files") or {}).items():
            files.setdefault(str(lookup(cfg, f["key"], f["default"])), f"{role} ({f['key']}), read by {step['name']}")
    for v in cfg.get("videos", []):
        if isinstance(v, dict) and "path" in v:
            files.setdefault(str(v["path"]), f"video {v.get('id', '?')}")
    return files


def invisible_files(target: Target, cfg: dict, table: list[dict]) -> list[tuple[str, str]]:
    """(path relative to dataset_dir, what it is) of dataset files on disk that git does not
    track, when the flake folder is in a git repository (else []: a path flake sees all)."""
    top = subprocess.run(["git", "-C", str(target.flake), "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True)
    if top.returncode != 0:
        return []
    root = Path(top.stdout.strip()).resolve()
    on_disk = {}
    for rel, what in dataset_files(target, cfg, table).items():
        p = (target.dataset_dir / rel).resolve()
        if p.is_file() and p.is_relative_to(root):
            on_disk[p.relative_to(root).as_posix()] = (rel, what)
    if not on_disk:
        return []
    tracked = subprocess.run(["git", "ls-files", "-z", "--", *on_disk], cwd=root, capture_output=True, text=True,
                             check=True).stdout.split("\0")
    return [on_disk[p] for p in on_disk if p not in tracked]


def invisible_message(target: Target, missing: list[tuple[str, str]]) -> str:
    names = " ".join(shlex.quote(rel) for rel, _ in missing)
    listed = "; ".join(f"{rel} ({what})" for rel, what in missing)
    return (f"{target.dataset_dir}: {len(missing)} dataset file(s) exist but are not tracked by git, so Nix does not "
            f"see them (a flake in a git repository holds only tracked files): {listed}. "
            f"Run: git -C {shlex.quote(str(target.dataset_dir))} add {names}")


def read_plan(flake: str | Path, attr: str, env: dict[str, str], cwd: Path | None = None) -> dict:
    """The dataset's plan (``plan`` of nix/pipeline.nix) by one ``nix eval --json <flake>#<attr>.plan``:
    ``{"sections": [...], "order": [step, ...], "steps": {step: {device, level, optIn, optedOut, inAll, why,
    state ("ok" | "error"), drv, shards}}}``; ``why`` says why `all` leaves a step out (null when it
    is in `all`), in the words `reelset build` prints. ReelsetError when the flake does not evaluate
    or has no plan (a dataset flake pinning an older reelset: update its reelset input)."""
    proc = nixinfo.run_nix(["eval", "--impure", "--json", f"{flake}#{attr}.plan"], cwd=cwd, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join(ln for ln in proc.stderr.strip().splitlines() if "error" in ln or ln.startswith("       "))[-1500:]
        raise ReelsetError(f"{flake}#{attr}.plan does not evaluate (is it a reelset dataset flake or checkout? "
                           f"--attr host for a dataset flake; a dataset flake pinning a reelset without `plan`: "
                           f"`nix flake update reelset`):\n{tail or proc.stderr.strip()[-1500:]}")
    return json.loads(proc.stdout)


def left_out(plan: dict, members: set[str]) -> dict[str, str]:
    """Step name → why ``all`` lacks it (the plan's ``why``), for the steps not in ``members``."""
    return {n: plan["steps"][n]["why"] or "left out by nix/pipeline.nix (inAll)" for n in plan["order"] if n not in members}


def step_table(target: Target, env: dict[str, str]) -> list[dict]:
    """The step table of the reelset the flake uses (``lib.steps.list``), else this checkout's."""
    proc = nixinfo.run_nix(["eval", "--json", f"{target.flake}#lib.steps.list"], env=env, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else nixinfo.step_table(REPO)


def next_hint(target: Target, step: str, table: list[dict], cfg: dict, skipped: dict[str, str],
              link: Path | None = None) -> str:
    """The "next:" line after building ``step`` (a step name or "all"; ``link``: its result link)."""
    here = "" if target.dataset_dir == Path.cwd() else f" --dataset {shlex.quote(str(target.dataset_dir))}"
    review = str(lookup(cfg, "review.file", "review.json"))
    if step == "all":
        fixable = [(n, r) for n, r in skipped.items() if not r.startswith(("needs step", "opt-in"))]
        if fixable:
            return f"next: {fixable[0][0]} {fixable[0][1]}; then reelset build{here}"
        if not (target.dataset_dir / review).is_file() and "step2-caption" not in skipped:
            return f"next: review the captions: reelset review{here} (then git add {review}; reelset build{here})"
        shown = "result" if link is None or link == Path.cwd() / "result" else str(link)
        return f"next: reelset inspect {shown} · open {shown}/index.html"
    if step == "step2-caption":
        return (f"next: review the captions: reelset review{here} (writes {review}; git add it), "
                f"then reelset build step2-reviewed{here}")
    downstream = [s["name"] for s in table if step in s.get("inputs", []) and s["name"] not in skipped]
    if downstream:
        return "next: " + " · ".join(f"reelset build {d}{here}" for d in downstream)
    return f"next: reelset build all{here}"


def _left_out_reason(qa) -> str:
    """One clip's reason to be left out, as a short key: the decision and the QA checks at fault."""
    checks = ", ".join(sorted({f.check for f in qa.flags if f.detail not in qa.overridden}))
    if qa.decision == "reject":
        return "rejected in review"
    if qa.decision in ("accept", "edit"):
        return f"{'accepted' if qa.decision == 'accept' else 'edited'}, but the caption fails QA ({checks})"
    return f"not reviewed, automatic QA: {checks}"


def left_out_clips(out: Path, review_cmd: str) -> list[str]:
    """Closing lines about the clips step2-reviewed left out of the training set, from the
    ``reviewed.json`` of ``out`` (a step2-reviewed output, or an ``all`` aggregate holding one as
    ``step2-reviewed/``): one line per video with a clip left out — "<video>: <n> of <m> clips
    left out: <count> <reason>; …" — stale decisions, and ``review_cmd`` (the command that
    reviews them). [] when there is no reviewed.json (step2-reviewed not built) or nothing is left out.
    ReelsetError naming the file when it does not match its schema."""
    from reelset.schemas.reviewed import ReviewedArtifact

    path = next((p for p in (out / "reviewed.json", out / "step2-reviewed" / "reviewed.json") if p.is_file()), None)
    if path is None:
        return []
    try:
        rv = ReviewedArtifact.model_validate_json(path.read_bytes())
    except ValueError as exc:
        raise ReelsetError(f"{path}: not a valid reviewed.json: {exc}") from exc
    per_video: dict[str, Counter[str]] = {}
    total: Counter[str] = Counter()
    for qa in rv.qa:
        total[qa.video_id] += 1
        if not qa.accepted:
            per_video.setdefault(qa.video_id, Counter())[_left_out_reason(qa)] += 1
    if not per_video and not rv.stale_decisions:
        return []
    n = sum(sum(c.values()) for c in per_video.values())
    lines = [f"clips left out of the training set: {n} of {len(rv.qa)}"]
    for vid in sorted(per_video):
        reasons = "; ".join(f"{k} {why}" for why, k in sorted(per_video[vid].items(), key=lambda kv: (-kv[1], kv[0])))
        lines.append(f"  {vid}: {sum(per_video[vid].values())} of {total[vid]} clips: {reasons}")
    if rv.stale_decisions:
        lines.append(f"  {len(rv.stale_decisions)} review decisions are stale (made on an earlier caption; not applied)")
    lines.append(f"review them: {review_cmd}")
    return lines


def move_review_link(out: Path, step: str, link_dir: Path) -> Path | None:
    """After building ``step`` ("all" or "step2-caption" …) to ``out``: when ``link_dir`` holds a
    ``result-step2-caption`` link (made by ``reelset review``) and ``out`` has a newer step2-caption
    (``out/step2-caption`` of an ``all`` aggregate), point the link there (a new link renamed over
    the old one, atomically). Returns the link when it moved, else None."""
    link = link_dir / "result-step2-caption"
    member = out / "step2-caption"
    if step != "all" or not link.is_symlink() or not member.is_symlink():
        return None
    target = os.readlink(member)
    if os.readlink(link) == target:
        return None
    tmp = link_dir / f".result-step2-caption.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)
    return link


# --------------------------------------------------------------------------- build
def empty_packages(out: Path) -> list[str]:
    """Names of the package steps in a build output ``out`` (a package step's output, or an ``all``
    aggregate holding them as ``step3-*/``) that kept no item: ``'step3-ltx2-data (0 of 9 clips
    accepted)'``."""
    found = [out] if (out / "manifest.json").is_file() else sorted(p for p in out.glob("step3-*") if (p / "manifest.json").is_file())
    empty = []
    for folder in found:
        m = json.loads((folder / "manifest.json").read_text())
        if m.get("kept") == 0:
            total = m.get("reviewed_accepted", 0) + m.get("reviewed_rejected", 0)
            empty.append(f"{folder.name if folder != out else 'the package'} ({m.get('reviewed_accepted', 0)} of {total} "
                         "clips accepted)")
    return empty


def build(target: Target, step: str, out_link: Path, check_git: bool = True, log_lines: bool = True,
          env: dict[str, str] | None = None, strict: bool = False) -> tuple[Path, list[str]]:
    """``nix build --impure [-L] --json --out-link OUT_LINK <flake>#<attr>.<step>`` with
    :func:`build_env`; Nix's log goes to this process's stderr as it comes (``-L``: the tools'
    ``[reelset]`` progress lines). Returns (output store path, the closing lines to print:
    report, steps left out of ``all`` and why, next step).

    ReelsetError before building when dataset files are untracked in git (``check_git``), when
    the step is not in the table, or when the build fails (the log above says why); after it, with
    ``strict``, when a package holds no item (a first build before any review succeeds with an
    empty package and says "0 clips accepted yet").
    """
    cfg = dataset_config(target)  # the user's files first: a typo costs a second, not an evaluation
    env = build_env(env)
    table = step_table(target, env)
    names = [s["name"] for s in table]
    if step != "all" and step not in names:
        raise ReelsetError(f"{step}: not a step; steps: {', '.join(names)}, or all")
    if check_git:
        missing = invisible_files(target, cfg, table)
        if missing:
            raise ReelsetError(invisible_message(target, missing))
    userfiles.check_files(target.dataset_dir, cfg)  # review.json, bible.yaml: file:line:column before Nix
    installable = f"{target.flake}#{target.attr}.{step}"
    cmd = ["build", "--impure", "--json", "--out-link", str(out_link), installable] + (["-L"] if log_lines else [])
    print(f"reelset build: nix {' '.join(shlex.quote(c) for c in cmd)}", flush=True)
    proc = subprocess.run([nixinfo._need("nix"), *cmd], cwd=target.flake, env={**env, "PWD": str(target.flake)},
                          stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise ReelsetError(f"building {step} of {target.dataset_dir} failed (exit {proc.returncode}); the Nix log above "
                           f"says why. What the next build would do: reelset status --dataset {target.dataset_dir}")
    out = Path(json.loads(proc.stdout)[0]["outputs"]["out"])
    lines = [f"built: {out}", f"report: {out_link}/index.html"]
    skipped: dict[str, str] = {}
    if step == "all":
        agg = json.loads((out / "aggregate.json").read_text())
        members = {m["name"] for m in agg["members"]}
        order = {n: i for i, n in enumerate(names)}
        built_steps = sorted(members, key=lambda n: order.get(n, len(order)))
        lines.append(f"steps built ({len(members)} of {len(names)}): {', '.join(built_steps)}")
        skipped = left_out(read_plan(target.flake, target.attr, env), members)
        lines += [f"left out: {n}: {r}" for n, r in skipped.items()]
    else:
        plan = read_plan(target.flake, target.attr, env)
        skipped = left_out(plan, {n for n in names if not plan["steps"][n]["optedOut"]})
    here = "" if target.dataset_dir == Path.cwd() else f" --dataset {shlex.quote(str(target.dataset_dir))}"
    lines += left_out_clips(out, f"reelset review{here} (then git add {lookup(cfg, 'review.file', 'review.json')}; "
                                 f"reelset build{here})")
    empty = empty_packages(out)
    if empty and strict:
        raise ReelsetError(f"--strict: empty package(s): {'; '.join(empty)}; review the clips (reelset review{here})")
    if empty:
        lines.append(f"0 clips accepted yet → reelset review{here}: empty package(s): {'; '.join(empty)} "
                     "(the report says why each clip was left out; --strict makes this an error)")
    moved = move_review_link(out, step, out_link.parent)
    if moved:
        lines.append(f"review: {moved} now points at this build's step2-caption (a running reelset review shows it on reload)")
    lines.append(next_hint(target, step, table, cfg, skipped, out_link))
    return out, lines
