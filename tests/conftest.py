"""Shared pytest set-up: notebooks' helper fixtures are data, not tests."""

import pytest

collect_ignore_glob = ["fixtures/*"]


@pytest.fixture
def offline_full_size(monkeypatch, tmp_path):
    """No network, a classifier cache of the test's own, and the full-size knobs (no smoke)."""
    monkeypatch.setenv("AIGC_OFFLINE", "1")
    monkeypatch.setenv("AIGC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AIGC_SMOKE", raising=False)
