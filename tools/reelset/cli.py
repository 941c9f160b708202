"""``reelset``: everyday commands on step outputs and datasets (``bin/reelset``).

Commands:

``reelset inspect PATH [--timings] [--json]``
    PATH is a ``result`` link, a store path or any folder a step wrote (a shard, a step
    aggregate such as ``.#host.step1-scenes`` or the dataset-level ``.#host.demo``). Prints
    step, dataset, shard, counts (scenes, words, …: whatever the step's meta.json counts),
    models, devices, toolchain and whether each artifact matches its schema; aggregates list
    their members. ``--timings``: also the wall time of each phase (seconds), read from the
    Nix build log of the compute derivation (outputs hold no times: they differ from run to
    run). ``--json``: the same as one JSON object.

``reelset status [--dataset pipelines/NAME | NAME] [--flake REF] [--attr ATTR] [--json]``
    For each step of the table (``nix/steps.nix``): its derivations (the aggregate and one
    per video for video-level steps) and what the next ``nix build`` would do with each —
    already in the store, fetch from a binary cache, build on this machine, or build on a
    ``cuda`` builder (derivations with ``requiredSystemFeatures = [ "cuda" ]``) — from
    ``nix build --dry-run`` and ``nix show-derivation``. Also lists fixed inputs (videos,
    models) that are not in the store yet. Uses your Nix settings (builders,
    system-features, substituters), so the answer is the one your next build gets.

``reelset build [STEP|all] [--dataset DIR] [--out-link LINK] [--no-logs] [--allow-untracked]``
    The entry command: builds STEP (default ``all``) of the dataset in the working directory
    (a dataset flake, ``pipelines/<name>`` of a checkout, or the checkout itself: its demo) or of
    ``--dataset``, with the Nix settings and interpreter of :mod:`reelset.entry` (no NIX_CONFIG
    to set by hand) and the tools' progress lines (``-L``). Refuses to build while dataset files
    are untracked in git (naming them and the ``git add``). Ends with the report's path, the
    steps ``all`` left out and why, and what to run next. Link: ``result`` (all) or
    ``result-<step>`` in the working directory.

``reelset env``
    The settings ``build`` uses, as shell lines: ``eval "$(reelset env)"`` before plain ``nix build``.

``reelset review [--dataset DIR] [--port N]``
    Builds the dataset's step2-caption and serves the review pages (``tools/review.py serve``).

``reelset status [--dataset DIR | NAME] [--flake REF] [--attr ATTR] [--json]``: see below.

``reelset export RESULT DEST --for TARGET [--model-path P] [--text-encoder-path P]``
    A step3-ltx2-data, step3-wan21-package or step4-ltx2-preprocess output as a new folder DEST
    that an outside trainer loads as it is (TARGET: ltx2-trainer, ltxv-trainer, musubi,
    diffusion-pipe, diffsynth): writable copies of the media (reflinks where the file system can;
    never hard links into the store), the trainer's paths, writable caches, the trainer's config
    files and DEST/TRAIN.md with the commands (:mod:`reelset.export`). RESULT may be ``reelset
    build``'s ``result``: the member the target takes is used (or the choices are listed).

Relative paths (``--dataset``, ``--flake``, ``inspect PATH``, ``export RESULT DEST``) are taken against the caller's
working directory.

Exit status: 0 ok, 2 user error (message on stderr names the path or setting), 1 bug.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import orjson
from pydantic import BaseModel, ValidationError

from reelset import ReelsetError, entry, export, nixinfo, userfiles
from reelset.log import parse_timings
from reelset.schemas.aggregate import AggregateArtifact
from reelset.schemas.base import StepMeta
from reelset.schemas.registry import ARTIFACTS


# --------------------------------------------------------------------------- inspect
def _load(path: Path, schema: type[BaseModel]) -> BaseModel:
    try:
        return schema.model_validate(orjson.loads(path.read_bytes()))
    except orjson.JSONDecodeError as exc:
        raise ReelsetError(f"{path}: not valid JSON: {exc}") from exc
    except ValidationError as exc:
        raise ReelsetError(f"{path}: does not match schema {schema.__name__}: {exc}") from exc


def log_timings(output: Path) -> dict[str, float] | None:
    """Phase → seconds of the build that made ``output`` (a step output folder; a report's
    links lead to the compute output), from its Nix build log; None when there is no log
    (not a store path, or a build without a timings line)."""
    meta = (output / "meta.json").resolve()
    log_text = nixinfo.build_log(meta.parent) if str(meta).startswith("/nix/store/") else None
    return parse_timings(log_text) if log_text else None


def inspect_output(path: Path, timings: bool = False, _depth: int = 0) -> dict:
    """Summary of one step output folder (following symlinks) as a JSON-able dict.

    Keys: path (resolved), step, dataset, shard, kind ("step" | "shards" | "steps"),
    devices (sorted device strings actually used, e.g. ["cpu"] or ["cuda:0"]), toolchain,
    models (["repo@revision"]), counts (name → int), versions, artifacts ({file: "ok" | error message | "no
    schema"}), members (aggregates: the same summary per member); with ``timings``: timings_s
    (phase → seconds from the build log, None without a log; aggregates: "total" summed over
    the members that have one).

    Raises ReelsetError when ``path`` does not exist or holds no meta.json.
    """
    if not path.exists():
        raise ReelsetError(f"{path}: no such file or directory")
    resolved = path.resolve()
    if resolved.is_file():
        resolved = resolved.parent
    meta_file = resolved / "meta.json"
    if not meta_file.is_file():
        raise ReelsetError(f"{path}: not a reelset step output (no meta.json in {resolved}); pass a `result` link, "
                           "a store path of a step, or a folder a step tool wrote")
    meta: StepMeta = _load(meta_file, StepMeta)  # type: ignore[assignment]
    artifacts: dict[str, str] = {}
    for f in sorted(resolved.glob("*.json")):
        schema = ARTIFACTS.get(f.name)
        if schema is None:
            artifacts[f.name] = "no schema"
            continue
        try:
            _load(f, schema)
            artifacts[f.name] = "ok"
        except ReelsetError as exc:
            artifacts[f.name] = str(exc).split("\n")[0]
    info: dict = {
        "path": str(resolved), "step": meta.step, "dataset": meta.dataset, "shard": meta.shard, "kind": "step",
        "devices": [meta.device], "toolchain": meta.toolchain,
        "models": sorted({f"{m.repo}@{m.revision}" for m in meta.models}),
        "counts": dict(meta.counts), "versions": dict(meta.versions),
        "artifacts": artifacts, "members": [],
    }
    agg_file = resolved / "aggregate.json"
    if timings:
        info["timings_s"] = log_timings(resolved)
    if agg_file.is_file() and artifacts.get("aggregate.json") == "ok" and _depth < 3:
        agg: AggregateArtifact = _load(agg_file, AggregateArtifact)  # type: ignore[assignment]
        info["kind"] = agg.kind
        members = [dict(inspect_output(resolved / m.link, timings, _depth + 1), name=m.name) for m in agg.members]
        info["members"] = members
        info["devices"] = sorted({d for m in members for d in m["devices"]})
        info["models"] = sorted({x for m in members for x in m["models"]})
        if timings:
            known = [m["timings_s"]["total"] for m in members if m["timings_s"] and "total" in m["timings_s"]]
            info["timings_s"] = {"total": round(sum(known), 3)} if known else None
        if agg.kind == "steps":
            info["step"] = "pipeline"
            info["members"] = sorted(members, key=_pipeline_order())
    return info


def _pipeline_order():
    """Sort key of step names: their position in the step table (pipeline order; aggregate.json
    lists them alphabetically), unknown names last. Without Nix: alphabetical."""
    try:
        order = {s["name"]: i for i, s in enumerate(nixinfo.step_table(nixinfo.REPO))}
    except ReelsetError:
        order = {}
    return lambda m: (order.get(m["name"], len(order)), m["name"])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) or "-"


def _total(info: dict) -> str:
    """The "time s" column: total seconds from the build log, '-' without a log, '' when not asked."""
    if "timings_s" not in info:
        return ""
    t = info["timings_s"]
    return f"{t['total']:>7.1f}  " if t and "total" in t else f"{'-':>7}  "


def format_inspect(info: dict) -> str:
    """The terminal form of :func:`inspect_output`'s dict."""
    lines = []
    toolchain = info["toolchain"].get("name", "?")
    timed = "timings_s" in info
    if info["kind"] == "steps":
        lines += [f"dataset {info['dataset']}: {_plural(len(info['members']), 'step')}   {info['path']}",
                  f"toolchain {toolchain}   devices {', '.join(info['devices'])}"
                  + (f"   total step time {_total(info).strip() or '-'} s (build logs)" if timed else ""), ""]
        header = f"{'step':<30} {'shards':>6}  {'device':<8} " + (f"{'time s':>7}  " if timed else "") + "counts"
        lines += [header, "-" * len(header)]
        for m in info["members"]:
            shards = len(m["members"]) if m["kind"] == "shards" else "-"
            lines.append(f"{m['name']:<30} {shards!s:>6}  {','.join(m['devices']):<8} {_total(m)}{_fmt_counts(m['counts'])}")
            for s in m["members"]:
                lines.append(f"  {s['name']:<28} {'':>6}  {','.join(s['devices']):<8} {_total(s)}{_fmt_counts(s['counts'])}")
        models = info["models"]
        lines += ["", f"models: {', '.join(models) if models else '-'}"]
    else:
        title = info["step"] + (f" · shard {info['shard']}" if info["shard"] else "") + \
            (f" · {_plural(len(info['members']), 'shard')}" if info["kind"] == "shards" else "")
        lines += [title, f"  path       {info['path']}", f"  dataset    {info['dataset']}",
                  f"  device     {', '.join(info['devices'])}",
                  f"  toolchain  {toolchain} ({info['toolchain'].get('fingerprint', '?')[:24]})",
                  f"  models     {', '.join(info['models']) or '-'}",
                  f"  counts     {_fmt_counts(info['counts'])}"]
        if timed:
            t = info["timings_s"]
            lines.append(f"  timings s  {', '.join(f'{k}: {v}' for k, v in t.items()) if t else '- (no build log with timings)'}")
        if info["versions"]:
            lines.append(f"  versions   {', '.join(f'{k} {v}' for k, v in info['versions'].items())}")
        for m in info["members"]:
            lines.append(f"  shard {m['name']:<12} {','.join(m['devices']):<8} {_total(m)}{_fmt_counts(m['counts'])}")
    bad = {f: s for f, s in info["artifacts"].items() if s not in ("ok", "no schema")}
    lines.append("artifacts: " + ", ".join(f"{f} {s}" for f, s in info["artifacts"].items() if f not in bad))
    for f, s in bad.items():
        lines.append(f"INVALID {f}: {s}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- status
def status_target(dataset: str | None, flake: str | None, attr: str | None, cwd: Path) -> tuple[str, str]:
    """(flake reference, attribute) that ``reelset status`` queries, relative paths taken
    against ``cwd`` (the caller's working directory): ``--flake`` (a folder or any flake
    reference; ``--attr`` default ``host`` for a dataset flake, ``host.datasets.demo`` for a
    checkout), else the dataset of :func:`reelset.entry.resolve_dataset` (``--dataset``, or the
    working directory; outside any dataset: this checkout's demo)."""
    if flake is not None:
        folder = Path(flake) if Path(flake).is_absolute() else cwd / flake
        named = f"host.datasets.{Path(dataset.rstrip('/')).name}" if dataset else None
        if ":" in flake.split("/")[0] or not folder.is_dir():
            return flake, attr or named or "host.datasets.demo"
        folder = folder.resolve()
        if attr or named:
            return str(folder), attr or named
        if (folder / "dataset.toml").is_file() and not entry._is_checkout(folder):
            return str(folder), "host"
        return str(folder), "host.datasets.demo"
    try:
        target = entry.resolve_dataset(dataset, cwd)
    except ReelsetError:
        if dataset is not None:
            raise
        target = entry.resolve_dataset(None, nixinfo.REPO)
    return str(target.flake), attr or target.attr


def dataset_status(flake: str, attr: str, cwd: Path | None = None) -> dict:
    """What the next build of every step of the dataset at ``flake#attr`` would do.

    Returns {"flake", "attr", "system_features", "builders", "steps": [ {name, device,
    level, state ("in-store" | "build" | "opt-in" | "error"), error
    (for "opt-in": how to turn it on),
    derivations: [ {shard, drv, out, action ("in-store" | "fetch" | "build-local" |
    "build-cuda-builder" | "build-local-cuda" | "no-cuda-machine"), features} ]} ],
    "fixed_inputs": [ {name, drv} ] (fixed-output derivations the build would have to
    run: videos/models not in the store), "totals": {action: count}}.
    The steps, their derivations (a video-level step's aggregate with its shards' compute
    derivations, a dataset step's compute derivation with its per-video shards or training
    segments "segNNN") and the opt-in rules come from the dataset's ``plan`` (nix/pipeline.nix),
    read with one ``nix eval --json`` (:func:`reelset.entry.read_plan`); an opt-in step whose
    section dataset.toml lacks is "opt-in" even where it would evaluate.
    Raises ReelsetError when Nix fails to evaluate the dataset.
    """
    env = entry.build_env()
    plan = entry.read_plan(flake, attr, env, cwd=cwd)
    names, evaluated = plan["order"], plan["steps"]
    # an opt-in step whose section dataset.toml lacks is "opt-in", even where it would evaluate (the plan's rule)
    off = {n for n in names if evaluated[n]["optedOut"]}
    buildable = [n for n in names if evaluated[n]["state"] == "ok" and n not in off]
    dry = nixinfo.parse_dry_run(nixinfo.run_nix(
        ["build", "--impure", "--dry-run", "--no-link", *[f"{flake}#{attr}.{n}" for n in buildable]],
        cwd=cwd, env=env).stderr)
    to_build = {os.path.basename(d) for d in dry.will_build}
    to_fetch = {os.path.basename(p) for p in dry.will_fetch}
    step_drvs = [d for n in buildable for d in [evaluated[n]["drv"], *evaluated[n]["shards"].values()]]
    shown = nixinfo.show_derivations(sorted(set(step_drvs) | set(dry.will_build)), cwd=cwd, env=env)

    settings = nixinfo.nix_settings(cwd=cwd, env=env)
    local_features = sorted(set(settings.get("system-features", [])) | set(settings.get("extra-system-features", []) or []))
    builders = nixinfo.parse_builders(str(settings.get("builders", "")))
    cuda_builders = [b.uri for b in builders if "cuda" in b.features]

    def action(drv_path: str) -> tuple[str, list[str]]:
        base = os.path.basename(drv_path)
        d = shown[base]
        feats = nixinfo.required_features(d)
        if base not in to_build:
            outs = nixinfo.output_paths(d)
            return ("fetch" if outs and all(o in to_fetch for o in outs) else "in-store"), feats
        if "cuda" not in feats:
            return "build-local", feats
        if cuda_builders:
            return "build-cuda-builder", feats
        return ("build-local-cuda" if "cuda" in local_features else "no-cuda-machine"), feats

    steps, totals = [], Counter()
    for name in names:
        ev = evaluated[name]
        row = {"name": name, "device": ev["device"], "level": ev["level"], "error": None, "derivations": []}
        if name in off:
            row["state"] = "opt-in"
            row["error"] = f"add [{ev['optIn']}] to dataset.toml to use it (docs/training.md)"
        elif ev["state"] == "ok":
            members = [(None, ev["drv"]), *sorted(ev["shards"].items())]
            for shard, drv in members:
                act, feats = action(drv)
                out = nixinfo.output_paths(shown[os.path.basename(drv)])
                row["derivations"].append({"shard": shard, "drv": drv, "out": out[0] if out else None,
                                             "action": act, "features": feats})
                totals[act] += 1
            acts = {d["action"] for d in row["derivations"]}
            row["state"] = "in-store" if acts <= {"in-store"} else "build"
        else:
            row["state"] = "error"
            proc = nixinfo.run_nix(["eval", "--impure", "--raw", f"{flake}#{attr}.{name}.drvPath"],
                                   cwd=cwd, env=env, check=False)
            row["error"] = next((ln.strip() for ln in proc.stderr.splitlines() if "error:" in ln), proc.stderr.strip())
            if "which does not exist" in row["error"] and flake.startswith(("/", "git+file:", ".")):
                row["error"] += " (a flake in a git repository sees only tracked files: `git add` new files)"
        steps.append(row)
    step_set = {os.path.basename(d) for d in step_drvs}
    fixed = [{"name": shown[os.path.basename(d)]["env"].get("name", os.path.basename(d)), "drv": d}
             for d in dry.will_build
             if os.path.basename(d) not in step_set and "outputHash" in shown[os.path.basename(d)].get("env", {})]
    return {"flake": flake, "attr": attr, "system_features": local_features, "builders": [b.__dict__ for b in builders],
            "steps": steps, "fixed_inputs": fixed, "totals": dict(totals)}


_ACTION_TEXT = {
    "in-store": "in store",
    "fetch": "fetch from a binary cache",
    "build-local": "build locally",
    "build-cuda-builder": "build on a cuda builder",
    "build-local-cuda": "build locally (this machine declares the cuda feature)",
    "no-cuda-machine": "needs a cuda machine: none configured (add a builder, docs/builders.md)",
}


def format_status(st: dict) -> str:
    """The terminal form of :func:`dataset_status`'s dict."""
    cuda_builders = [b["uri"] for b in st["builders"] if "cuda" in b["features"]]
    lines = [f"reelset status: {st['flake']}#{st['attr']}",
             f"this machine: system-features {' '.join(st['system_features']) or '-'}; "
             f"cuda builders: {', '.join(cuda_builders) or 'none'}", ""]
    header = f"{'step':<30} {'device':<6} {'level':<8} {'drvs':>4}  next build"
    lines += [header, "-" * len(header)]
    for s in st["steps"]:
        drvs = s["derivations"]
        if s["state"] == "absent":
            what = "not exposed by this flake attribute"
        elif s["state"] == "opt-in":
            what = f"off: {s['error']}"
        elif s["state"] == "error":
            what = f"does not evaluate: {s['error']}"
        else:
            c = Counter(d["action"] for d in drvs)
            what = "; ".join(f"{n} {_ACTION_TEXT[a]}" for a, n in sorted(c.items(), key=lambda kv: kv[0] != "in-store"))
        lines.append(f"{s['name']:<30} {s['device']:<6} {s['level']:<8} {len(drvs) or '-'!s:>4}  {what}")
        for d in drvs:
            if d["action"] != "in-store" and d["shard"] is not None:
                lines.append(f"  {'shard ' + d['shard']:<28} {_ACTION_TEXT[d['action']]}")
    for f in st["fixed_inputs"]:
        lines.append(f"fixed input not in the store: {f['name']} ({f['drv']}); add it once, see docs/troubleshooting.md")
    t = st["totals"]
    # the same words as the rows: a cuda derivation this machine builds itself is "build locally", not "needs"
    parts = [f"{t.get('in-store', 0)} in store", f"{t.get('fetch', 0)} to fetch", f"{t.get('build-local', 0)} to build on cpu here"]
    if t.get("build-local-cuda"):
        parts.append(f"{t['build-local-cuda']} cuda to build locally (this machine declares the cuda feature)")
    if t.get("build-cuda-builder"):
        parts.append(f"{t['build-cuda-builder']} to build on a cuda builder")
    if t.get("no-cuda-machine"):
        parts.append(f"{t['no-cuda-machine']} need a cuda machine (none configured)")
    lines += ["", "total: " + ", ".join(parts)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def _build(args: argparse.Namespace, cwd: Path) -> int:
    target = entry.resolve_dataset(args.dataset, cwd)
    link = args.out_link or cwd / ("result" if args.step == "all" else f"result-{args.step}")
    _, lines = entry.build(target, args.step, Path(link), check_git=not args.allow_untracked,
                           log_lines=not args.no_logs, strict=args.strict)
    print("\n".join(lines))
    return 0


def _review(args: argparse.Namespace, cwd: Path) -> int:
    target = entry.resolve_dataset(args.dataset, cwd)
    link = cwd / "result-step2-caption"
    _, lines = entry.build(target, "step2-caption", link, check_git=not args.allow_untracked)
    print("\n".join(lines[:2]), flush=True)
    python = entry.interpreter()
    argv = [str(python), str(nixinfo.REPO / "tools" / "review.py"), "serve", str(link),
            "--dataset", str(target.dataset_dir), "--port", str(args.port)]
    os.execv(argv[0], argv)  # noqa: S606 - replaces this process by the review server
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bin/reelset``; returns the exit status (0 ok, 2 user error)."""
    parser = argparse.ArgumentParser(prog="reelset", description="reelset everyday commands: build a dataset's steps, "
                                     "review captions, inspect step outputs, see what the next build would do.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build a step (or all) of the dataset here / of --dataset, with reelset's Nix "
                             "settings and progress output")
    p_build.add_argument("step", nargs="?", default="all", help="a step of the table, or all (default)")
    p_build.add_argument("--dataset", help="dataset folder (a dataset flake or pipelines/NAME) or a dataset name "
                         "of this checkout (default: the working directory)")
    p_build.add_argument("--out-link", type=Path, help="result link (default ./result for all, ./result-STEP)")
    p_build.add_argument("--no-logs", action="store_true", help="no build logs (nix build without -L)")
    p_build.add_argument("--strict", action="store_true", help="fail (exit 2) when a package holds no item, e.g. before "
                         "any clip is accepted in review (for CI); without it such a build succeeds and says so")
    p_build.add_argument("--allow-untracked", action="store_true",
                         help="build although dataset files are untracked in git (Nix will not see them)")
    sub.add_parser("env", help="print the Nix settings and REELSET_PYTHON for eval \"$(reelset env)\"")
    p_review = sub.add_parser("review", help="build step2-caption and serve the review pages")
    p_review.add_argument("--dataset", help="dataset folder or name (default: the working directory)")
    p_review.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0: any free port)")
    p_review.add_argument("--allow-untracked", action="store_true", help=argparse.SUPPRESS)
    p_inspect = sub.add_parser("inspect", help="summarise a step output (result link or store path)",
                               description=inspect_output.__doc__.split("\n")[0])
    p_inspect.add_argument("path", type=Path, help="result link, store path or output folder of a step")
    p_inspect.add_argument("--timings", action="store_true",
                           help="also the wall time per phase, from the Nix build log (outputs hold no times)")
    p_inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_status = sub.add_parser("status", help="which step derivations are in the store / build locally / need a cuda builder")
    p_status.add_argument("--dataset", help="dataset folder or name of this checkout (default: the working directory; "
                          "outside a dataset: the demo)")
    p_status.add_argument("--flake", help="flake reference or folder (default: the dataset's flake)")
    p_status.add_argument("--attr", help="attribute of the dataset's step set (default: host for a dataset flake, "
                          "host.datasets.<dataset> in a checkout)")
    p_status.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_export = sub.add_parser("export", help="a package or latents as a folder an outside trainer loads as it is",
                              description="Export a step3 package or step4-ltx2-preprocess latents as a new folder "
                                          "DEST that the trainer of --for loads as it is: copies of the media, its "
                                          "config files and DEST/TRAIN.md with the commands.")
    p_export.add_argument("result", type=Path, help="reelset build's result (the member --for takes is used), or a "
                          "result link / store path of step3-ltx2-data, step3-wan21-package or step4-ltx2-preprocess")
    p_export.add_argument("dest", type=Path, help="new folder to write (must not exist or be empty)")
    p_export.add_argument("--for", dest="target", required=True, choices=export.TARGETS, help="the trainer")
    p_export.add_argument("--model-path", help="base model file/folder the trainer loads (else a placeholder in "
                          "the configs): LTX-2 checkpoint .safetensors, Wan DiT file or checkpoint folder")
    p_export.add_argument("--text-encoder-path", help="text encoder the trainer loads (LTX-2: Gemma 3 folder; "
                          "musubi: T5 .pth); else a placeholder")
    args = parser.parse_args(argv)
    cwd = Path.cwd()
    try:
        if args.command == "build":
            return _build(args, cwd)
        if args.command == "review":
            return _review(args, cwd)
        if args.command == "env":
            print(entry.env_script(), end="")
        elif args.command == "export":
            written = export.export(cwd / args.result, cwd / args.dest, args.target, model_path=args.model_path,
                                    text_encoder_path=args.text_encoder_path)
            print(f"exported {args.result} for {args.target} to {(cwd / args.dest)}:")
            for f in written:
                print(f"  {f}")
            print(f"commands: {(cwd / args.dest) / 'TRAIN.md'}")
        elif args.command == "inspect":
            info = inspect_output(args.path, timings=args.timings)
            print(json.dumps(info, indent=2) if args.json else format_inspect(info))
        else:
            if args.flake is None:  # the dataset's own files first (file:line:column), before Nix evaluates
                try:
                    folder = entry.resolve_dataset(args.dataset, cwd).dataset_dir
                except ReelsetError:
                    folder = None
                if folder is not None and (folder / "dataset.toml").is_file():
                    userfiles.check(folder)
            flake, attr = status_target(args.dataset, args.flake, args.attr, cwd)
            st = dataset_status(flake, attr, cwd=cwd)
            print(json.dumps(st, indent=2) if args.json else format_status(st))
        return 0
    except ReelsetError as exc:
        print(f"reelset {args.command}: error: {exc}", file=sys.stderr)
        return 2
