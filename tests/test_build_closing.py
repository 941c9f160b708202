"""`reelset build`'s closing lines about clips left out of the training set (per video, per
reason, with the review command) and the `result-step2-caption` link a running `reelset review`
follows (issue 27, item 4). Unit level: reviewed.json and the links are written here."""

from __future__ import annotations

from pathlib import Path

import orjson

from reelset import entry
from reelset.schemas.review import ClipQA, QAFlag
from reelset.schemas.reviewed import RejectedClip, ReviewedArtifact

EMPTY = QAFlag(check="caption_empty", detail="caption empty")
FROZEN = QAFlag(check="frozen", detail="frozen frames: 2.00 s of 2.00 s")


def write_reviewed(folder: Path, qa: list[ClipQA], stale: list[str] | None = None) -> None:
    folder.mkdir(parents=True)
    rejected = [RejectedClip(clip_id=q.clip_id, video_id=q.video_id, reasons=["x"]) for q in qa if not q.accepted]
    art = ReviewedArtifact(dataset="t", accepted=[], rejected=rejected, qa=qa, stale_decisions=stale or [])
    (folder / "reviewed.json").write_bytes(orjson.dumps(art.model_dump(mode="json")))


def test_closing_lines_count_clips_left_out_per_video_and_reason(tmp_path):
    """A video added after review: its clips are left out as not reviewed, and the closing lines
    say so per video and name the review command; reviewed clips of the first video are counted
    by their own reason."""
    qa = [ClipQA(clip_id="s01e01-s0001", video_id="s01e01", flags=[], decision="accept", accepted=True),
          ClipQA(clip_id="s01e01-s0002", video_id="s01e01", flags=[], decision="reject", accepted=False),
          ClipQA(clip_id="s01e01-s0003", video_id="s01e01", flags=[FROZEN], decision="accept", overridden=[FROZEN.detail],
                 accepted=True)]
    qa += [ClipQA(clip_id=f"s01e02-s000{i}", video_id="s01e02", flags=[EMPTY], accepted=False) for i in range(1, 4)]
    qa.append(ClipQA(clip_id="s01e02-s0004", video_id="s01e02", flags=[EMPTY, FROZEN], accepted=False))
    write_reviewed(tmp_path / "all" / "step2-reviewed", qa, stale=["s01e01-s0009: …"])
    lines = entry.left_out_clips(tmp_path / "all", "reelset review --dataset ds")
    assert lines == [
        "clips left out of the training set: 5 of 7",
        "  s01e01: 1 of 3 clips: 1 rejected in review",
        "  s01e02: 4 of 4 clips: 3 not reviewed, automatic QA: caption_empty; 1 not reviewed, automatic QA: caption_empty, frozen",
        "  1 review decisions are stale (made on an earlier caption; not applied)",
        "review them: reelset review --dataset ds",
    ]
    # a step2-reviewed output itself; nothing left out: no lines; no step2-reviewed: no lines
    write_reviewed(tmp_path / "rv", qa[:1])
    assert entry.left_out_clips(tmp_path / "rv", "r") == []
    assert entry.left_out_clips(tmp_path, "r") == []


def test_a_build_of_all_moves_the_review_link_to_the_new_captions(tmp_path):
    """`reelset review` serves ./result-step2-caption; after `reelset build` (all) it points at
    the new build's step2-caption, so the running server shows the new video on reload."""
    old, new = tmp_path / "store-old-caption", tmp_path / "store-new-caption"
    old.mkdir()
    new.mkdir()
    out = tmp_path / "store-all"
    out.mkdir()
    (out / "step2-caption").symlink_to(new)
    link = tmp_path / "result-step2-caption"
    assert entry.move_review_link(out, "all", tmp_path) is None  # no review link here: nothing made
    assert not link.exists()
    link.symlink_to(old)
    assert entry.move_review_link(out, "step2-reviewed", tmp_path) is None and link.resolve() == old
    assert entry.move_review_link(out, "all", tmp_path) == link and link.resolve() == new
    assert entry.move_review_link(out, "all", tmp_path) is None  # already there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result-step2-caption", "store-all", "store-new-caption",
                                                          "store-old-caption"]
