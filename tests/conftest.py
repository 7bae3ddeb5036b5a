"""Shared pytest set-up: notebooks' helper fixtures are data, not tests."""

import pytest

collect_ignore_glob = ["fixtures/*"]


@pytest.fixture
def offline_full_size(monkeypatch, tmp_path):
    """No network, a classifier cache of the test's own, and the full-size knobs (no smoke)."""
    monkeypatch.setenv("AIGC_OFFLINE", "1")
    monkeypatch.setenv("AIGC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AIGC_SMOKE", raising=False)


@pytest.fixture
def without_op_determinism():
    """Keras compiles without XLA, with only a warning, while op determinism is on (and
    ``setup(deterministic=True)`` in an earlier test of the same worker turns it on for the
    process); off here, and restored to what it was after, whatever the test switched."""
    from tensorflow.python.framework import config  # the switch Keras reads; no public "off"

    was_on = config.is_op_determinism_enabled()
    config.disable_op_determinism()
    yield
    (config.enable_op_determinism if was_on else config.disable_op_determinism)()
