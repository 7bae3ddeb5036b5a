"""Training profiles, their overrides, and the hardware policy (precision, GPUs, XLA)."""

from __future__ import annotations

import dataclasses
import types

import pytest

from aigc_course import profiles
from aigc_course.families.gan import PROFILES, GANProfile
from aigc_course.profiles import Profile, fit_to_strategy, get_profile


def test_auto_profile(monkeypatch):
    monkeypatch.delenv("AIGC_SMOKE", raising=False)
    assert get_profile("auto").name == "cpu"  # no GPU here
    monkeypatch.setattr(profiles, "GPUS", ["a GPU"])
    assert get_profile("auto").name == "gpu"
    monkeypatch.setenv("AIGC_SMOKE", "true")  # any spelling of "on"
    assert get_profile("auto").name == "smoke"
    assert get_profile("cpu").name == "cpu"  # an explicit choice wins


def test_gan_profiles_are_sane():
    assert set(PROFILES) == {"smoke", "cpu", "gpu"}
    gpu, cpu = PROFILES["gpu"], PROFILES["cpu"]
    assert gpu.width == 64 and gpu.mixed_precision and gpu.needs_gpu and gpu.epochs >= 50
    assert cpu.discriminator_width < gpu.discriminator_width and cpu.mixed_precision
    assert not cpu.needs_gpu and cpu.epochs * cpu.steps_per_epoch(60_000) < 10_000  # ~5 min
    assert PROFILES["smoke"].steps_per_epoch(9000) <= 20


def test_overrides_are_applied_checked_and_none_keeps_a_value():
    profile = get_profile("cpu", epochs=3, mixed_precision=False, jit_compile=None)
    assert (profile.epochs, profile.mixed_precision) == (3, False)
    assert profile.jit_compile is PROFILES["cpu"].jit_compile  # None: the profile's own value
    assert profile.width == PROFILES["cpu"].width and isinstance(profile, GANProfile)
    assert get_profile(profile, name="mine").name == "mine"  # a profile can be changed too
    assert get_profile("cpu") is PROFILES["cpu"]  # no override, no copy
    with pytest.raises(ValueError, match="GANProfile has no setting 'epoch'.*epochs"):
        get_profile("cpu", epoch=3)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        get_profile("cpu", epochs=0)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": "64"}, "batch_size"),
        ({"latent_dim": -3}, "latent_dim"),
        ({"width": 2.5}, "width"),
        ({"d_width": 0}, "d_width must be a positive integer"),
        ({"dropout": 1.0}, "dropout"),
        ({"g_learning_rate": 0}, "g_learning_rate"),
        ({"beta_1": 1.0}, "beta_1"),
        ({"loss": "wasserstein"}, "unknown loss"),
        ({"examples_per_epoch": 10}, "examples_per_epoch"),
        ({"mixed_precision": "yes"}, "mixed_precision must be True or False"),
        ({"update": "simultaneous", "d_steps": 2}, "d_steps=2 needs update='alternating'"),
    ],
)
def test_invalid_profile_values(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(PROFILES["cpu"], **change)


def test_invalid_names():
    with pytest.raises(ValueError, match="unknown profile 'fast' for gan; choose one of: auto, smoke"):
        get_profile("fast")
    with pytest.raises(ValueError, match="unknown model family 'gpt2'"):
        get_profile("cpu", family="gpt2")
    with pytest.raises(ValueError, match="fewer than one batch"):
        PROFILES["smoke"].steps_per_epoch(10)


def test_the_base_profile_is_usable_alone():
    base = Profile(name="x", epochs=1, batch_size=4)
    assert base.steps_per_epoch(10) == 2 and base.replace(examples_per_epoch=8).steps_per_epoch(99) == 2
    with pytest.raises(ValueError, match="a profile needs a name"):
        Profile(name="", epochs=1, batch_size=4)


def test_gpu_profile_without_a_gpu_says_what_to_do(monkeypatch):
    monkeypatch.setattr(profiles, "GPUS", [])
    with pytest.raises(ValueError, match="sees no GPU.*profile 'cpu'"):
        profiles.require_gpu_if_needed(PROFILES["gpu"])
    profiles.require_gpu_if_needed(PROFILES["cpu"])  # fine without a GPU


@pytest.mark.parametrize(
    "gpus, onednn, bf16, mixed, expected",
    [
        (["gpu"], True, True, True, "mixed_float16"),
        ([], True, True, True, "mixed_bfloat16"),
        ([], False, True, True, "float32"),  # bfloat16 without oneDNN is emulated: slower
        ([], True, False, True, "float32"),  # no native bfloat16 on this CPU
        (["gpu"], True, True, False, "float32"),
    ],
)
def test_precision_policy_follows_the_hardware(monkeypatch, gpus, onednn, bf16, mixed, expected):
    monkeypatch.setattr(profiles, "GPUS", gpus)
    monkeypatch.setattr(profiles, "onednn_enabled", lambda: onednn)
    monkeypatch.setattr(profiles, "cpu_has_bf16", lambda: bf16)
    profile = PROFILES["smoke"].replace(mixed_precision=mixed)
    assert profiles.precision_policy(profile) == expected
    said = profiles.describe_precision(profile)
    assert said.startswith(expected.replace("mixed_", "mixed ")), said
    if expected == "float32" and mixed:  # it says why the fast format is not used
        assert ("oneDNN" in said) != onednn and ("no native" in said) == (onednn and not bf16)


def test_xla_is_switched_off_with_several_replicas_and_said_once(capsys):
    two = types.SimpleNamespace(num_replicas_in_sync=2)
    one = types.SimpleNamespace(num_replicas_in_sync=1)
    gpu = PROFILES["gpu"]
    assert fit_to_strategy(gpu, one) is gpu and capsys.readouterr().out == ""
    adapted = fit_to_strategy(gpu, two)
    assert not adapted.jit_compile and adapted.replace(jit_compile=True) == gpu
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("XLA (jit_compile) is off") and "2 devices" in lines[0]
    assert fit_to_strategy(PROFILES["cpu"], two) is PROFILES["cpu"]  # no XLA to switch off


def test_distribution_strategy_mirrors_only_several_gpus(monkeypatch):
    monkeypatch.setattr(profiles, "GPUS", ["one GPU"])
    assert profiles.distribution_strategy().num_replicas_in_sync == 1
    monkeypatch.setattr(profiles, "GPUS", ["a", "b"])
    assert profiles.distribution_strategy(multi_gpu=False).num_replicas_in_sync == 1
