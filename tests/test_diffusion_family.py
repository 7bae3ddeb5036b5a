"""The diffusion family: U-Net shapes, the training step, the weight average, the samplers."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from aigc_course import diffusion as maths
from aigc_course import diffusion_model as dm
from aigc_course import samplers
from aigc_course import unet as unet_module
from aigc_course._tf import keras, tf
from aigc_course.errors import ConfigError
from aigc_course.families import diffusion as fam
from aigc_course.profiles import dtype_policy
from aigc_course.unet import GroupNormSiLU, build_unet


class GaussianOracle(keras.layers.Layer):
    """The best possible network when every pixel of the data is N(mu, s^2), independently.

    Then x0 | x_t is Gaussian too, with mean mu + sqrt(a) s^2 / (a s^2 + 1 - a) (x_t - sqrt(a) mu);
    the layer returns what a perfectly trained network predicting ``prediction`` would.
    """

    def __init__(self, alpha_bars, prediction, mu=0.2, s=0.3):
        super().__init__()
        self.abar = tf.constant(alpha_bars, "float32")
        self.prediction, self.mu, self.s = prediction, mu, s

    def call(self, inputs):
        x, t, _ = inputs
        a = tf.reshape(tf.gather(self.abar, tf.cast(t, "int32")), (-1, 1, 1, 1))
        x0 = self.mu + a**0.5 * self.s**2 / (a * self.s**2 + 1 - a) * (x - a**0.5 * self.mu)
        eps = (x - a**0.5 * x0) / (1 - a) ** 0.5
        return maths.target(x0, eps, a, self.prediction)


def oracle(prediction: str, betas) -> samplers.Denoiser:
    x, t, y = keras.Input((28, 28, 1)), keras.Input(()), keras.Input((), dtype="int32")
    out = GaussianOracle(maths.alpha_bar_table(betas), prediction)([x, t, y])
    return samplers.Denoiser(keras.Model([x, t, y], out), betas, prediction, num_classes=0)


def expected_moments(betas, steps, sampler, mu=0.2, s=0.3) -> tuple[float, float]:
    """Mean and std of what a sampler returns with the oracle, propagated exactly.

    Written from the papers' formulas, independently of :mod:`aigc_course.diffusion`: with the
    oracle every step is linear in x_t plus Gaussian noise, so mean and variance follow a
    recursion. (Both samplers are only exact in the limit of many steps: DDPM's variance
    beta_tilde and coarse DDIM steps both make the samples a little less spread out.)
    """
    abar = np.concatenate([[1.0], np.cumprod(1 - betas)])
    big_t = len(betas)
    times = [round(k * big_t / steps) for k in range(steps, 0, -1)] + [0]
    mean, var = 0.0, 1.0
    for t, prev in zip(times[:-1], times[1:], strict=True):
        a, a_prev = abar[t], abar[prev]
        k = a**0.5 * s**2 / (a * s**2 + 1 - a)  # x0_hat = mu + k (x_t - sqrt(a) mu)
        if sampler == "ddpm":  # mean = c0 x0_hat + c1 x_t, plus noise of variance beta_tilde
            c0, c1 = (
                a_prev**0.5 * betas[t - 1] / (1 - a),
                (1 - betas[t - 1]) ** 0.5 * (1 - a_prev) / (1 - a),
            )
            noise = (1 - a_prev) / (1 - a) * betas[t - 1] if t > 1 else 0.0
        else:  # x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) (x_t - sqrt(a) x0_hat) / sqrt(1 - a)
            r = ((1 - a_prev) / (1 - a)) ** 0.5
            c0, c1, noise = a_prev**0.5 - r * a**0.5, r, 0.0
        slope, offset = c0 * k + c1, c0 * (mu - k * a**0.5 * mu)
        mean, var = slope * mean + offset, slope**2 * var + noise
    return mean, var**0.5


@pytest.mark.parametrize(
    ("prediction", "sampler", "steps"),
    [("v", "ddpm", None), ("eps", "ddpm", None), ("v", "ddim", 10), ("x0", "ddim", 50),
     ("eps", "ddim", 100)],
)  # fmt: skip
def test_samplers_match_the_exact_reverse_process_of_a_perfect_network(prediction, sampler, steps):
    betas = maths.cosine_beta_schedule(100)
    x, _ = samplers.generate(oracle(prediction, betas), 40, seed=0, steps=steps, sampler=sampler,
                        clip=False)  # fmt: skip
    mean, std = expected_moments(betas, steps or 100, sampler)
    assert abs(std - 0.3) < (0.07 if steps == 10 else 0.02)  # near the data's own 0.3
    # 40 x 784 pixels: the sample mean and std are known to ~0.002
    assert x.mean() == pytest.approx(mean, abs=0.008)
    assert x.std() == pytest.approx(std, abs=0.006)


def test_ddim_eta_zero_is_deterministic_and_ddpm_is_seeded():
    betas = maths.cosine_beta_schedule(50)
    den = oracle("v", betas)
    a = samplers.generate(den, 3, seed=4, steps=10)[0]
    b = samplers.generate(den, 3, seed=4, steps=10, batch_size=2)[0]
    np.testing.assert_allclose(a, b, atol=1e-6)
    ddpm = [samplers.generate(den, 3, seed=s, sampler="ddpm", steps=None)[0] for s in (4, 4, 5)]
    assert np.array_equal(ddpm[0], ddpm[1]) and not np.allclose(ddpm[0], ddpm[2])
    # from the same x_T, DDIM without noise and DDIM with eta=1 differ: only the latter is random
    eta1 = [samplers.generate(den, 3, seed=4, steps=10, eta=1.0)[0] for _ in range(2)]
    assert np.array_equal(eta1[0], eta1[1]) and not np.allclose(eta1[0], a, atol=1e-3)


def test_generate_records_the_reverse_process():
    den = oracle("v", maths.cosine_beta_schedule(20))
    x, path = samplers.generate(den, 2, seed=0, steps=4, record=(20, 10, 0, 7))
    assert sorted(path) == [0, 10, 20]  # 7 is not visited by 4 steps of 20
    assert path[20].std() > 0.8 and np.array_equal(path[0], x)


@pytest.mark.parametrize(("widths", "patch"), [((8,), 1), ((8, 16, 16), 1), ((8, 16), 2)])
def test_unet_maps_images_to_images_and_starts_at_zero(widths, patch):
    net = build_unet(widths, attention=len(widths) > 1, patch=patch, groups=4)
    x = np.random.default_rng(0).standard_normal((3, 28, 28, 1)).astype("float32")
    out = net([x, np.array([1.0, 50.0, 999.0]), np.array([0, 3, 10])])
    assert out.shape == (3, 28, 28, 1) and out.dtype == "float32"
    assert np.all(np.asarray(out) == 0.0)  # zero-initialised last layer


def test_unet_output_depends_on_time_label_and_each_pixel():
    with dtype_policy("mixed_bfloat16"):
        net = build_unet((8, 16), patch=2, groups=4)
    assert net.compute_dtype == "bfloat16" and net.output.dtype == "float32"
    last = net.get_layer("out")
    last.set_weights([np.random.default_rng(1).normal(0, 0.1, w.shape) for w in last.get_weights()])
    x = np.random.default_rng(2).standard_normal((1, 28, 28, 1)).astype("float32")

    def run(t, y, x=x):
        return np.asarray(net([x, np.array([t], "float32"), np.array([y])]))

    assert not np.allclose(run(999.0, 1), run(998.0, 1))  # t survives the 16-bit policy
    assert not np.allclose(run(500.0, 1), run(500.0, 10))  # the label, or "no label", matters
    x_bumped = x.copy()
    x_bumped[0, 27, 0, 0] += 1.0  # the bottom-left pixel
    assert not np.allclose(run(500.0, 1), run(500.0, 1, x_bumped))


def _norm_silu_and_grads(layer, x, w, reference: bool):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        if reference:  # Keras' own group norm, then SiLU, differentiated by TensorFlow
            y = keras.activations.silu(keras.layers.GroupNormalization.call(layer, xt))
        else:
            y = layer(xt)
        loss = tf.reduce_sum(tf.cast(y, "float32") * w)
    return [
        tf.cast(v, "float32").numpy()
        for v in [y, *tape.gradient(loss, [xt, layer.gamma, layer.beta])]
    ]


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_group_norm_silu_matches_keras_layers_and_fuses_in_16_bits(policy, monkeypatch):
    calls = []
    forward = unet_module._fused_forward
    monkeypatch.setattr(unet_module, "_fused_forward", lambda *a: calls.append(1) or forward(*a))
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 2.0, (3, 14, 14, 32)).astype("float32")
    w = rng.normal(0.0, 1.0, x.shape).astype("float32")
    with dtype_policy(policy):
        layer = GroupNormSiLU(8)
        layer.build(x.shape)
    layer.gamma.assign(rng.normal(1.0, 0.3, 32))
    layer.beta.assign(rng.normal(0.0, 0.3, 32))
    fused = _norm_silu_and_grads(layer, x, w, reference=False)
    assert len(calls) == (policy != "float32")  # the XLA path runs in 16 bits only
    reference = _norm_silu_and_grads(layer, x, w, reference=True)
    for got, want, name in zip(fused, reference, ["y", "dx", "dgamma", "dbeta"], strict=True):
        # 16 bits keep ~3 significant digits of the inputs; float32 is the same code
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= (2e-2 if calls else 1e-6) * scale, name


def test_unet_refuses_bad_sizes():
    with pytest.raises(ValueError, match="give at most 3 widths"):
        build_unet((8, 8, 8, 8))
    with pytest.raises(ValueError, match="patch=2 works on 14x14 feature maps"):
        build_unet((8, 8, 8), patch=2)
    with pytest.raises(ValueError, match="positive integers"):
        build_unet((8, 0))


def small_model(**options) -> dm.DiffusionModel:
    """The smallest U-Net (one resolution) under plain SGD: tracing a training step costs about
    a millisecond per graph op, and Adam's per-variable update is most of them. What the tests of
    the step check (the update, the average, the step count) does not depend on the optimizer."""
    net = build_unet((8,), attention=False, groups=4)
    model = dm.DiffusionModel(net, maths.cosine_beta_schedule(100), **options)
    model.compile(keras.optimizers.SGD(0.1))
    return model


def test_loss_weights_are_min_snr_in_every_parameterisation():
    snr = np.array([0.01, 1.0, 5.0, 100.0])
    x0_weights = np.minimum(snr, 5.0)
    # the x0 error is eps_error / snr = v_error / (snr + 1): the same weighting in each space
    np.testing.assert_allclose(dm.loss_weights(snr, "x0", "min_snr"), x0_weights)
    np.testing.assert_allclose(dm.loss_weights(snr, "eps", "min_snr") / snr, x0_weights / snr**2)
    np.testing.assert_allclose(dm.loss_weights(snr, "v", "min_snr"), x0_weights / (snr + 1))
    np.testing.assert_allclose(dm.loss_weights(snr, "v", "uniform"), 1.0)
    tensor = dm.loss_weights(tf.constant(snr, "float32"), "v", "min_snr")
    np.testing.assert_allclose(tensor, x0_weights / (snr + 1), rtol=1e-6)


def test_weighted_losses_agree_across_parameterisations():
    """min-SNR weighting gives the same loss whether the network predicts eps, x0 or v."""
    rng = np.random.default_rng(3)
    x0, eps = rng.uniform(-1, 1, (5, 4)), rng.standard_normal((5, 4))
    a = np.array([0.99, 0.8, 0.5, 0.2, 0.01])[:, None]
    x_t = a**0.5 * x0 + (1 - a) ** 0.5 * eps
    x0_hat = x0 + rng.normal(0, 0.1, x0.shape)  # some imperfect estimate of x0
    eps_hat = (x_t - a**0.5 * x0_hat) / (1 - a) ** 0.5
    losses = []
    for pred in ("eps", "x0", "v"):
        err = (maths.target(x0_hat, eps_hat, a, pred) - maths.target(x0, eps, a, pred)) ** 2
        losses.append(dm.loss_weights((a / (1 - a))[:, 0], pred, "min_snr") * err.mean(axis=1))
    np.testing.assert_allclose(losses[0], losses[1])
    np.testing.assert_allclose(losses[2], losses[1])


def test_train_step_updates_the_network_and_its_average():
    keras.utils.set_random_seed(0)
    model = small_model(ema=0.99)
    w_before = [w.numpy() for w in model.unet.weights]
    x = np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype("float32")
    y = np.arange(8) % 10
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"]) and int(model.step.numpy()) == 1
    # step 1: decay = min(0.99, (1 + 1) / (10 + 1)) = 2/11
    d = 2 / 11
    for before, now, avg in zip(w_before, model.unet.weights, model.ema_unet.weights, strict=True):
        np.testing.assert_allclose(avg.numpy(), d * before + (1 - d) * now.numpy(), atol=1e-6)
    assert model.sampler is model.ema_unet
    assert not all(
        np.array_equal(a, b.numpy()) for a, b in zip(w_before, model.unet.weights, strict=True)
    )


@pytest.mark.parametrize(
    "policy, onednn, gpus, xla",
    [
        ("float32", False, [], True),  # TensorFlow's plain CPU kernels: 1.3x with XLA
        ("float32", True, [], False),  # oneDNN: XLA measured no faster
        ("float32", True, ["GPU:0"], True),  # oneDNN is about the CPU: a GPU keeps XLA
        ("mixed_bfloat16", False, ["GPU:0"], True),  # bfloat16 on a GPU is not oneDNN's
        ("mixed_bfloat16", True, [], False),  # never measured with a compiled step
        ("mixed_bfloat16", False, [], False),
    ],
)
def test_the_cpu_profile_uses_xla_where_it_was_measured_faster_and_on_gpus(
    policy, onednn, gpus, xla, capsys, monkeypatch, without_op_determinism
):
    monkeypatch.setattr(fam, "onednn_enabled", lambda: onednn)
    monkeypatch.setattr(fam, "GPUS", gpus)
    profile = fam.PROFILES["cpu"]
    assert profile.jit_compile  # 1.3x the steps in float32 (benchmarks/README.md)
    smoke = fam.PROFILES["smoke"].replace(jit_compile=True)
    with dtype_policy(policy):
        model = fam.FAMILY.build(smoke, "fashion_mnist")
    assert model.jit_compile is xla
    reasons = {"float32": "oneDNN's CPU kernels run the step", "mixed_bfloat16": "in bfloat16"}
    out = capsys.readouterr().out
    assert out.count("XLA (jit_compile) is off") == (0 if xla else 1)  # says so, once, when off
    assert xla or reasons[policy] in out
    if gpus and policy == "float32":  # the first case already compiled this float32 XLA step
        return  # (on this CPU, whatever the pretend GPU): about 35 s of CI for nothing new
    x = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    logs = model.train_on_batch(x, np.arange(4), return_dict=True)  # the compiled step runs
    assert np.isfinite(logs["loss"]) and int(model.step.numpy()) == 1


def test_without_average_the_sampler_is_the_network():
    model = small_model(ema=0.0)
    assert model.sampler is model.unet


def test_guidance_combines_conditional_and_unconditional_predictions(conditional):
    den = conditional.denoiser
    x = np.random.default_rng(3).standard_normal((2, 28, 28, 1)).astype("float32")
    y = np.array([3, 7], "int32")

    def net(labels):
        return np.asarray(den.net([x, np.full(2, 40.0, "float32"), labels]))

    cond, uncond = net(y), net(np.full(2, 10, "int32"))
    assert not np.allclose(cond, uncond)
    np.testing.assert_allclose(den.predict(x, 40, y, 1.0), cond, atol=1e-5)
    np.testing.assert_allclose(den.predict(x, 40, y, 0.0), uncond, atol=1e-5)
    np.testing.assert_allclose(den.predict(x, 40, y, 3.0), uncond + 3 * (cond - uncond), atol=1e-4)


def test_sampling_options_are_checked(conditional):
    model = conditional
    # DDPM with fewer steps than T is ancestral sampling on the respaced schedule: DDIM, eta 1
    np.testing.assert_array_equal(
        samplers.generate(model, 2, seed=4, sampler="ddpm", steps=10)[0],
        samplers.generate(model, 2, seed=4, sampler="ddim", steps=10, eta=1.0)[0],
    )
    assert not np.array_equal(
        samplers.generate(model, 2, seed=4, sampler="ddpm", steps=10)[0],
        samplers.generate(model, 2, seed=4, sampler="ddim", steps=10)[0],
    )
    with pytest.raises(ValueError, match="sampler must be 'ddpm' or 'ddim'"):
        samplers.generate(model, 2, sampler="euler")
    with pytest.raises(ValueError, match=r"labels must be class numbers 0..9"):
        samplers.generate(model, 2, steps=2, labels=10)
    with pytest.raises(ValueError, match="eta must be a number in"):
        samplers.generate(model, 2, steps=2, eta=1.5)
    images = samplers.sample(model, 3, steps=2, labels=[0, 1, 2])
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8


# --------------------------------------------------------------------------- the family


#: The smoke profile cut to one resolution, for tests that build a model of their own: the
#: fewer layers, the less there is to trace (and, in 16 bits, to compile with XLA)
SMALL = fam.PROFILES["smoke"].replace(widths=(8,))


def smoke_model(policy: str = "float32", profile=fam.PROFILES["smoke"]) -> dm.DiffusionModel:
    with dtype_policy(policy):
        model = fam.FAMILY.build(profile, "mnist")
    last = model.ema_unet.get_layer("ema_out")  # the output layer starts at zero: wake it up
    last.set_weights([np.random.default_rng(2).normal(0, 0.2, w.shape) for w in last.get_weights()])
    return model


@pytest.fixture(scope="module")
def conditional() -> dm.DiffusionModel:
    """The smoke profile's class-conditional model, woken up, for the tests that only sample from
    it: built once, and its denoiser's compiled prediction traced once for all of them."""
    keras.utils.set_random_seed(0)
    return smoke_model()


@pytest.fixture(scope="module")
def unconditional() -> dm.DiffusionModel:
    """A model built by the family with ``conditional=False`` (the tests only ask it to refuse
    labels)."""
    return fam.FAMILY.build(SMALL.replace(conditional=False), "mnist")


def test_profiles_refuse_bad_settings_by_name():
    smoke = fam.PROFILES["smoke"]
    for bad, word in (
        ({"patch": 3}, "patch"), ({"schedule": "quadratic"}, "schedule"),
        ({"prediction": "noise"}, "prediction"), ({"widths": []}, "widths"),
        ({"sample_steps": 101}, "sample_steps"), ({"ema": 1.0}, "ema"),
        ({"weighting": "snr"}, "weighting"), ({"lr_decay": "step"}, "lr_decay"),
    ):  # fmt: skip
        with pytest.raises(ConfigError, match=word):
            smoke.replace(**bad)
    # a manifest stores widths as a JSON list; the profile comes back equal
    assert fam.DiffusionProfile(**{**smoke.__dict__, "widths": [8, 16]}) == smoke


def test_the_export_carries_its_schedule_and_samples_like_the_model(tmp_path):
    keras.utils.set_random_seed(0)
    model = smoke_model("mixed_bfloat16", SMALL)
    assert model.unet.compute_dtype == "bfloat16"
    path = tmp_path / fam.FAMILY.export_name
    fam.FAMILY.export(model, SMALL, path)
    loaded = fam.FAMILY.load_export(path)
    assert loaded.net.compute_dtype == "float32"
    assert (loaded.prediction, loaded.num_classes) == ("v", 10)
    np.testing.assert_array_equal(loaded.betas, model.betas)
    ours, theirs = (fam.FAMILY.sample(m, 4, seed=3, steps=5) for m in (model, loaded))
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 4  # bfloat16 vs float32
    with zipfile.ZipFile(path) as archive:  # a .keras file without the schedule is refused
        entries = {n: archive.read(n) for n in archive.namelist() if n != fam.EXPORT_META}
    with zipfile.ZipFile(tmp_path / "plain.keras", "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(ConfigError, match="not a diffusion export"):
        fam.FAMILY.load_export(tmp_path / "plain.keras")


def test_sampling_options_reach_the_sampler(conditional, unconditional):
    model = conditional
    den = model.denoiser
    three = fam.FAMILY.sample(model, 4, seed=1, steps=5, label=3, guidance=2.0)
    direct = samplers.sample(den, 4, seed=1, steps=5, labels=3, guidance=2.0)
    np.testing.assert_array_equal(three, direct)
    assert not np.array_equal(three, fam.FAMILY.sample(model, 4, seed=1, steps=5, label=4,
                                                       guidance=2.0))  # fmt: skip
    every = fam.FAMILY.sample(model, 4, seed=1, steps=5)  # default: classes 0, 1, 2, 3
    np.testing.assert_array_equal(every, samplers.sample(den, 4, seed=1, steps=5,
                                                         labels=[0, 1, 2, 3]))  # fmt: skip
    ddpm = fam.FAMILY.sample(model, 4, seed=1, steps=5, sampler="ddpm")
    assert not np.array_equal(ddpm, fam.FAMILY.sample(model, 4, seed=1, steps=5))
    with pytest.raises(ConfigError, match="no sampling option"):
        fam.FAMILY.sample(model, 2, temperature=1.0)
    with pytest.raises(ConfigError, match="sampler must be one of"):
        fam.FAMILY.sample(model, 2, sampler="euler")
    for bad, word in (
        ({"label": 10}, "label"),
        ({"steps": 0}, "steps"),
        ({"guidance": -1.0}, "guidance"),
    ):
        with pytest.raises(ConfigError, match=word):
            fam.FAMILY.sample(model, 2, **bad)
    with pytest.raises(ConfigError, match="unconditional"):
        fam.FAMILY.sample(unconditional, 2, steps=2, label=1)


def test_float16_training_scales_the_loss():
    with dtype_policy("mixed_float16"):
        model = fam.FAMILY.build(SMALL, "mnist")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    logs = model.train_on_batch(x, np.arange(4) % 10, return_dict=True)
    assert np.isfinite(logs["loss"]) and int(model.step.numpy()) == 1


def test_guidance_explorer_redraws_with_the_chosen_class_and_scale(conditional, unconditional):
    from aigc_course.widgets import guidance_explorer

    model = conditional
    widget = guidance_explorer(model, n=3, steps=2, seed=4)
    first = widget.image.value
    widget.label.value, widget.guidance.value = 7, 3.0
    np.testing.assert_array_equal(
        widget.images, fam.FAMILY.sample(model, 3, 4, steps=2, label=7, guidance=3.0)
    )
    assert widget.image.value != first
    with pytest.raises(ValueError, match="class-conditional"):
        guidance_explorer(unconditional)


def test_sample_scorer_scores_real_images_near_its_floor_and_noise_far_above():
    from aigc_course.data import load_dataset

    scorer = fam.SampleScorer("mnist", 64, seed=0)
    images, labels = load_dataset("mnist", "test", verbose=False)
    real = scorer(images[:64], labels[:64])
    noise = scorer(np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    assert real["fid_floor"] == scorer.floor and real["fid"] < 3 * scorer.floor < noise["fid"]
    assert real["class_accuracy"] > 0.5 and "class_accuracy" not in noise


def test_the_shipped_model_is_trained_and_follows_its_labels():
    """The chapter samples from the model in aigc_course/_data: it must load without training and
    beat an untrained network of the same size by far, with the classes it is asked for."""
    shipped = fam.pretrained("fashion_mnist")
    record = fam.pretrained_record("fashion_mnist")
    assert (record["dataset"], record["profile"]) == ("fashion_mnist", "cpu")
    assert shipped.net.compute_dtype == "float32" and shipped.num_classes == 10
    assert record["fid"] < 10 * record["fid_floor"] + 10  # what the chapter prints, not noise
    scorer = fam.SampleScorer("fashion_mnist", 60, seed=0)
    labels = np.arange(60) % 10
    trained = scorer(fam.FAMILY.sample(shipped, 60, seed=0, steps=4, guidance=2.0), labels)
    # the same network freshly initialised (what the family builds before training, without
    # the optimizer and the weight average that sampling does not use)
    untrained_net = keras.models.clone_model(shipped.net)
    untrained_model = samplers.Denoiser(untrained_net, shipped.betas, shipped.prediction, 10)
    untrained = scorer(fam.FAMILY.sample(untrained_model, 60, seed=0, steps=4), labels)
    assert trained["fid"] < untrained["fid"] / 3, (trained, untrained)
    assert trained["class_accuracy"] > 0.5 > untrained["class_accuracy"]
    with pytest.raises(ConfigError, match="no pretrained diffusion model"):
        fam.pretrained("mnist")


def test_an_export_loads_in_a_fresh_python():
    """The export names the U-Net's own layers: loading it must not depend on what the session
    happened to import before."""
    import subprocess
    import sys

    code = (
        "from aigc_course.families.diffusion import pretrained, FAMILY; "
        "print(FAMILY.sample(pretrained(), 1, steps=1).shape)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("(1, 28, 28)")
