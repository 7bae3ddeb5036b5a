"""Shared pytest set-up: notebooks' helper fixtures are data, not tests."""

collect_ignore_glob = ["fixtures/*"]
