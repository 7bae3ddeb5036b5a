"""Atomic writes: a failure mid-write leaves the old file and no temporary behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from aigc_course.atomic import atomic_path, atomic_write


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full"), atomic_path(target) as tmp:
        assert tmp.suffix == ".keras" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise OSError("disk full")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_creates_folders_and_returns_the_path(tmp_path: Path) -> None:
    target = tmp_path / "run" / "checkpoints" / "state.bin"
    assert atomic_write(target, lambda f: f.write(b"\x00\x01")) == target
    assert target.read_bytes() == b"\x00\x01"

    def broken(f) -> None:
        f.write(b"partial")
        raise KeyboardInterrupt  # a Ctrl-C mid-write must not leave a torn file either

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["state.bin"]
