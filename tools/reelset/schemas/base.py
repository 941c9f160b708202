"""The harness's contracts: the step spec Nix hands every tool, model references, meta.json.

Shared by every step (kept small and stable: editing it rebuilds everything). Times are
seconds (float), frame indices 0-based, ranges half-open ``[start, end)``. Every model
forbids unknown fields so a stale or hand-edited artifact fails loudly.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reelset import ReelsetError

SCHEMA_VERSION = 1


# libx264 presets, fastest first (x264 --fullhelp); the speed/size trade-off at a given CRF
X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]



def source_name(path: Path) -> str:
    """File name of a store copy without the Nix store hash prefix ('<32 chars>-ep01.mkv' → 'ep01.mkv');
    any other path: its name."""
    name = path.name
    if str(path.parent) == "/nix/store" and len(name) > 33 and name[32] == "-":
        return name[33:]
    return name

class Strict(BaseModel):
    """Base: unknown fields are an error, fields are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StepSpec(Strict):
    """The JSON spec Nix hands a step tool (env ``reelsetSpec``): all inputs are store paths."""

    step: str = Field(description="User-facing step name, e.g. 'step1-scenes'.")
    dataset: str = Field(description="Dataset name.")
    device: Literal["cpu", "cuda"] = Field(description="Device class the step declares. A cuda step needs a working CUDA device unless its config's [device] allow_cpu = true (reelset/device.py).")
    video_id: str | None = Field(None, description="Shard's video id (video-level steps).")
    video: str | None = Field(None, description="Path of the source video (video-level steps).")
    video_options: dict[str, str | int] = Field(default_factory=dict, description="The keys of this video's [[videos]] entry that the step declares (nix/steps.nix `videoKeys`) and dataset.toml sets, e.g. {'crop': 'none', 'audio': 'eng'}.")
    config: dict = Field(default_factory=dict, description="The dataset.toml sections the step declares (nix/steps.nix `config`), as parsed by Nix.")
    inputs: dict[str, str] = Field(default_factory=dict, description="Upstream step outputs by step name (store paths).")
    models: dict[str, ModelRef] = Field(default_factory=dict, description="Models by role, e.g. {'asr': ...}.")
    toolchain: dict[str, str] = Field(default_factory=dict, description="Toolchain name and fingerprint.")
    files: dict[str, str] = Field(default_factory=dict, description="Dataset-folder files the step declares, by role (store paths), e.g. {'bible': '/nix/store/…-bible.yaml'}.")
    file_names: dict[str, str] = Field(default_factory=dict, description="Names relative to the dataset folder of the files (by role) that lie in a subfolder, for messages, e.g. {'bible': 'meta/bible.yaml'}; a file in the dataset folder itself has none (its store name says it).")

    def video_entry(self) -> str:
        """How messages name this video's ``[[videos]]`` entry: 'dataset.toml [[videos]] id = "ep01"'."""
        return f'dataset.toml [[videos]] id = "{self.video_id}"'

    def file_name(self, role: str) -> str:
        """The name a user knows the dataset file of ``role`` by, for messages: its path relative to
        the dataset folder when in a subfolder ('meta/bible.yaml'), else the store copy's name
        without the hash ('bible.yaml'). Raises KeyError when the spec has no such file."""
        return self.file_names.get(role) or source_name(Path(self.files[role]))

    def section(self, name: str, model: type[BaseModel]) -> BaseModel:
        """The dataset.toml section ``[name]`` validated by its config model (absent: the defaults).

        Every tool reads its settings this way, so a bad value fails the same way in every step:
        ReelsetError "dataset.toml [asr] beam_size: Input should be greater than or equal to 1
        (got 0)". Nix already rejected unknown keys and wrong primitive types at evaluation time
        (nix/config.nix); this adds the ranges and cross-field rules.
        """
        raw = self.config.get(name) or {}
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or '(section)'}: {e['msg']}"
                + (f" (got {e['input']!r})" if e.get("loc") and not isinstance(e.get("input"), dict) else "")
                for e in exc.errors())
            raise ReelsetError(f"dataset.toml [{name}] {problems}") from exc


class ModelRef(Strict):
    """A pinned model: id (hub repo), revision, and the store path of its files."""

    name: str = Field(description="reelset model name (key in nix/models.nix).")
    repo: str = Field(description="Hub repository id, e.g. 'Systran/faster-whisper-large-v3'.")
    revision: str = Field(description="Pinned revision (commit) or the package it comes from.")
    path: str = Field(description="Directory holding the model files (store path).")


class GpuInfo(Strict):
    """The CUDA device a step ran on and the versions that decide whether it works."""

    name: str = Field(description="GPU name as the library reports it, e.g. 'NVIDIA RTX 6000 Ada Generation'.")
    library: str = Field(description="Library that ran on it and its version, e.g. 'torch 2.14.1+cu130'.")
    library_cuda: str | None = Field(None, description="CUDA runtime the library was built with (torch.version.cuda, e.g. '13.0'); null when the library does not say (CTranslate2).")
    driver_version: str | None = Field(None, description="NVIDIA kernel driver version from /proc/driver/nvidia/version, e.g. '580.65.06'.")
    driver_cuda: str | None = Field(None, description="Newest CUDA version the driver supports (cuDriverGetVersion of libcuda.so.1), e.g. '13.0'.")


class StepMeta(Strict):
    """``$out/meta.json`` of every step: provenance and counts. No wall-clock times (they vary
    from run to run; the build log has them, see reelset.step.timings_line)."""

    FILE: ClassVar[str] = "meta.json"  # its file in the step output

    schema_version: int = SCHEMA_VERSION
    step: str = Field(description="Step name.")
    dataset: str = Field(description="Dataset name.")
    shard: str | None = Field(None, description="Video id of the shard, or null for a dataset-level output.")
    tool_sha256: str = Field(description="sha256 over the step's source files (relative path + bytes).")
    toolchain: dict[str, str] = Field(default_factory=dict, description="Toolchain name and fingerprint.")
    device: str = Field(description="Device actually used ('cpu' or 'cuda:N').")
    device_policy: str | None = Field(None, description="cuda steps: 'gpu-required' (default) or 'cpu-allowed' ([device] allow_cpu = true); null for cpu steps.")
    gpu: GpuInfo | None = Field(None, description="cuda steps that ran on a GPU: its name, the driver and CUDA versions.")
    models: list[ModelRef] = Field(default_factory=list, description="Models used.")
    counts: dict[str, int] = Field(default_factory=dict, description="Counts of what was made (scenes, words, ...).")
    versions: dict[str, str] = Field(default_factory=dict, description="Versions of the libraries and programs used.")


def parse_size(text: str, parts: int) -> tuple[int, ...]:
    """'960x544x49' → (960, 544, 49); ValueError naming the expected form."""
    try:
        values = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        values = ()
    if len(values) != parts or min(values) < 1:
        raise ValueError(f"{text!r} is not {'WxHxF' if parts == 3 else 'WxH'} (positive integers, e.g. "
                         f"{'960x544x49' if parts == 3 else '832x480'})")
    return values


VIDEO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"



StepSpec.model_rebuild()


class FanOutItem(Strict):
    """One derivation of a fan-out: a step that runs one small derivation per item an upstream
    artifact lists (nix/steps.nix ``fanOut = { from; artifact; select; script; attr; input; }``,
    nix/pipeline.nix ``fanOutOf``; issue 40: one generic kind instead of one Nix function per
    step). The upstream step writes the items (e.g. step2-bible: one per reference shot and one
    per voice reference, :func:`reelset.bible.fan_out`); Nix only maps them to derivations."""

    key: str = Field(description="Attribute name under the step's output (e.g. `step2-speakers.voices.\"Lana/demo01-1.000000-3.000000\"`) and, after the declared prefix, the input name in the consumer's spec (`voice/<key>`).")
    name: str = Field(pattern=r"^[A-Za-z0-9+._?=-]+$", description="Suffix of the derivation name (a valid store name), e.g. 'demo01-1.000000' or 'voice-demo01-1.000000-3.000000-1a2b3c4d'.")
    video: str = Field(pattern=VIDEO_ID_PATTERN, description="The [[videos]] id the item's derivation reads (its only video: the list of videos is no input).")
    file: str = Field(description="The authored file the item comes from, relative to the dataset folder (e.g. 'bible.yaml'); Nix's messages show it as the user knows it.")
    what: str = Field(description="The item in the user's words, for messages (e.g. 'a reference shot of character Lana').")
    where: str = Field(description="Where in the file the item was authored (e.g. 'bible.yaml: characters[0].reference_shots[1]').")
    config: dict[str, dict] = Field(description="The derivation's config sections (e.g. {'shot': {'t': 1.0, 'where': …}}): all its spec holds besides the video, so editing anything else of the upstream file rebuilds no item.")
