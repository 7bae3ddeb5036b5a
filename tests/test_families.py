"""The family contract, checked for every family in ``aigc_course/families`` (a new family is
tested here the moment its module exists): profiles, a smoke run that resumes, stable checkpoint
keys, reproducible samples, the export, evaluation, and its sampling options on the command line.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from aigc_course import cli, runs
from aigc_course.checkpoint import read_manifest, state_variables
from aigc_course.families import DATA_KINDS, Family, Option, family_names, get_family
from aigc_course.profiles import STANDARD_PROFILES, Profile

FAMILIES = family_names()


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("AIGC_OFFLINE", "1")
    monkeypatch.setenv("AIGC_SMOKE", "1")  # small evaluation models
    monkeypatch.setenv("AIGC_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", FAMILIES)
def test_the_family_declares_what_the_engine_needs(name):
    family = get_family(name)
    assert isinstance(family, Family) and family.name == name
    assert family.data_kind in DATA_KINDS and family.datasets and family.export_name
    assert set(STANDARD_PROFILES) <= set(family.profiles)
    for key, profile in family.profiles.items():
        assert type(profile) is family.profile_type and issubclass(family.profile_type, Profile)
        assert profile.name == key
        json.dumps(family.config(profile, family.datasets[0]))  # plain JSON
    assert not family.profiles["smoke"].needs_gpu
    for option in family.sample_options:
        assert isinstance(option, Option) and option.name.isidentifier()
        assert option.choices is None or option.default in option.choices
    assert family.sample_defaults() == {o.name: o.default for o in family.sample_options}


#: What a family's smoke profile can lose here and still run every part of the engine. Diffusion:
#: a one-resolution U-Net (its training step, traced once per run, costs about a millisecond per
#: graph op), and T=4 (sampling takes at most T steps, whatever the 50 the CLI and the per-epoch
#: grids ask for), with a small evaluation.
SMALLER: dict[str, dict] = {
    "diffusion": {"widths": (8,), "timesteps": 4, "sample_steps": 2, "eval_samples": 64,
                  "preview_samples": 4},
}  # fmt: skip


def _smoke(family: Family) -> Profile:
    """The smoke profile cut to the shortest run that still has two epochs."""
    smoke = family.profiles["smoke"].replace(**SMALLER.get(family.name, {}))
    batches = 2 * smoke.batch_size
    return smoke.replace(epochs=1, examples_per_epoch=batches, checkpoint_every_steps=1)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One cache for every family's run: the image families' evaluation classifier is trained
    once, not once per family."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module", params=FAMILIES)
def two_epochs(request, tmp_path_factory, shared_cache):
    """A smoke run of each family: one epoch, then resumed to a second (evaluated)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AIGC_OFFLINE", "1")
    mp.setenv("AIGC_SMOKE", "1")
    mp.setenv("AIGC_CACHE_DIR", str(shared_cache))
    try:
        family = get_family(request.param)
        out = tmp_path_factory.mktemp(family.name) / "run"
        first = runs.train(family, profile=_smoke(family), out=out, progress=False, evaluate=False)
        second = runs.train(family, profile=_smoke(family), out=out, epochs=2, resume=True,
                            progress=False)  # fmt: skip
    finally:
        mp.undo()
    return family, first, second


@pytest.mark.slow
def test_a_smoke_run_resumes_where_it_stopped(two_epochs):
    family, first, second = two_epochs
    steps = first.metrics["step"]
    assert steps == 2 and first.metrics["epoch"] == 1  # examples_per_epoch: two batches
    assert second.metrics["step"] == 2 * steps and second.metrics["epoch"] == 2
    assert second.history["epoch"] == [0.0, 1.0]  # one row per epoch, appended on resume
    run = second.run_dir
    suffix = ".png" if family.data_kind == "images" else ".txt"
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        f"epoch_001{suffix}", f"epoch_002{suffix}",
    ]  # fmt: skip
    assert (run / family.export_name).exists()
    manifest = read_manifest(run / "checkpoints")
    assert (manifest["family"], manifest["step"], manifest["epoch"]) == (family.name, 2 * steps, 2)


@pytest.mark.slow
def test_it_is_evaluated(two_epochs):
    family, _, second = two_epochs
    metrics = json.loads((second.run_dir / "metrics.json").read_text())
    assert family.headline(metrics), f"{family.name}'s evaluation gave no headline: {metrics}"
    if family.data_kind == "images":
        assert {"fid", "fid_floor"} <= set(metrics)


@pytest.mark.slow
def test_checkpoint_keys_are_stable_and_unique(two_epochs):
    """Keys are variable paths: building the model again in this session (Keras counts
    automatic layer names up) and drawing samples must not change them."""
    family, _, second = two_epochs
    keys = set(state_variables(second.model))
    family.sample(second.model, 2, seed=0)
    rebuilt = runs.build_model(family, second.profile, second.metrics["dataset"])
    assert set(state_variables(second.model)) == keys == set(state_variables(rebuilt))


@pytest.mark.slow
def test_samples_are_reproducible_and_the_export_samples_the_same(two_epochs):
    family, _, second = two_epochs
    a, b, c = (family.sample(second.model, 3, seed=s) for s in (5, 5, 6))
    if family.data_kind == "images":
        assert a.dtype == np.uint8 and a.ndim == 3 and len(a) == 3
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    else:
        assert isinstance(a, list) and len(a) == 3 and all(isinstance(t, str) for t in a)
        assert a == b and a != c
    exported = runs.load_run(second.run_dir)
    assert exported.family is family
    np.testing.assert_equal(exported.sample(3, seed=5), a)


@pytest.mark.slow
def test_the_command_line_samples_with_the_familys_options(two_epochs, tmp_path):
    family, _, second = two_epochs
    out = tmp_path / ("s.npy" if family.data_kind == "images" else "s.txt")
    flags = [f for o in family.sample_options for f in (o.flag, str(o.default))]
    argv = ["sample", "--run", str(second.run_dir), "--n", "2", "--out", str(out), *flags]
    assert cli.main(argv) == 0
    assert out.exists()
    with pytest.raises(SystemExit) as refused:
        cli.main([*argv, "--no-such-option", "1"])
    assert refused.value.code == 2


def test_a_profile_of_the_family_round_trips_through_a_manifest():
    for name in FAMILIES:
        family = get_family(name)
        for profile in family.profiles.values():
            assert family.profile_type(**dataclasses.asdict(profile)) == profile
