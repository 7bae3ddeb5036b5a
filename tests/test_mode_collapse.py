"""Mode collapse on a ring (chapter 04): the data, the coverage metric, the seed-batched GAN."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course import mode_collapse as mc


def test_ring_geometry_sampling_and_assignment():
    ring = mc.Ring(modes=8, radius=2.0, sigma=0.05)
    centres = ring.centres
    assert centres.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0)
    np.testing.assert_array_equal(ring.assign(centres), np.arange(8))
    x = ring.sample(4000, np.random.default_rng(0))
    assigned = ring.assign(x)
    assert np.mean(assigned >= 0) > 0.97  # 3 sigma holds 98.9 % of a 2-D Gaussian
    counts = np.bincount(assigned[assigned >= 0], minlength=8)
    assert counts.min() > 400  # every mode is drawn about 500 times
    # points between two modes, or at the centre, belong to none
    between = (centres[0] + centres[1]) / 2
    np.testing.assert_array_equal(ring.assign([between, [0.0, 0.0]]), [-1, -1])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        ring.assign(np.zeros(5))
    with pytest.raises(ValueError, match="modes must be"):
        mc.Ring(modes=1)


def test_mode_coverage_counts_modes_and_quality():
    # 8 modes, 80 samples: a fair share is 10, so a mode is hit with at least 2 samples
    assigned = np.array([0] * 40 + [1] * 20 + [2] * 2 + [3] * 1 + [-1] * 17)
    cov = mc.mode_coverage(assigned, 8)
    assert (cov.modes_hit, cov.modes) == (3, 8)
    assert cov.high_quality == pytest.approx(63 / 80)
    np.testing.assert_array_equal(cov.counts, [40, 20, 2, 1, 0, 0, 0, 0])
    assert str(cov) == "3/8 modes hit, 79% high-quality samples"
    assert mc.mode_coverage(assigned, 8, min_share=0.05).modes_hit == 4
    # uneven shares (e.g. digit classes): a rare mode needs fewer samples to count as hit
    shares = np.array([0.5, 0.45, 0.05])
    assert mc.mode_coverage(np.array([0] * 50 + [1] * 49 + [2]), shares).modes_hit == 3
    assert mc.mode_coverage(np.array([0] * 51 + [1] * 49), shares).modes_hit == 2


def test_mode_coverage_rejects_bad_input():
    with pytest.raises(ValueError, match="integer array"):
        mc.mode_coverage(np.array([0.5, 1.0]), 2)
    with pytest.raises(ValueError, match="indices must lie"):
        mc.mode_coverage(np.array([0, 5]), 3)
    with pytest.raises(ValueError, match="weights"):
        mc.mode_coverage(np.array([0, 1]), np.array([0.7, 0.7]))
    with pytest.raises(ValueError, match="min_share"):
        mc.mode_coverage(np.array([0, 1]), 2, min_share=0)


def test_seed_batched_mlp_gives_each_seed_its_own_gradient():
    """Summing the seeds' losses must give every seed exactly the gradient it would get alone."""
    from aigc_course._tf import tf

    rng = np.random.default_rng(0)
    batched = mc._init_mlp(rng, 3, [2, 5, 1])
    alone = [tf.Variable(w.numpy()[1:2]) for w in batched]  # seed 1's weights, by themselves
    x = rng.standard_normal((3, 7, 2)).astype(np.float32)
    target = rng.standard_normal((3, 7, 1)).astype(np.float32)
    with tf.GradientTape() as tape:
        per_seed = tf.reduce_mean(tf.square(mc._mlp(batched, x) - target), axis=[1, 2])
        total = tf.reduce_sum(per_seed)
    grads = tape.gradient(total, batched)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(mc._mlp(alone, x[1:2]) - target[1:2]))
    for g, g_alone in zip(grads, tape.gradient(loss, alone), strict=True):
        np.testing.assert_allclose(g.numpy()[1:2], g_alone.numpy(), rtol=1e-5, atol=1e-7)
    # and the seeds do not share weights: their outputs differ
    out = mc._mlp(batched, np.repeat(x[:1], 3, axis=0)).numpy()
    assert not np.allclose(out[0], out[1])


def test_train_ring_gan_records_snapshots_and_repeats():
    kwargs = dict(steps=20, seeds=2, batch_size=16, width=8, snapshot_every=10, snapshot_size=50)
    run = mc.train_ring_gan(pack=2, progress=False, **kwargs)
    assert [s for s, _ in run.snapshots] == [0, 10, 20]
    assert run.snapshots[-1][1].shape == (2, 50, 2)
    assert len(run.d_loss) == len(run.g_loss) == 20 and run.d_loss[0].shape == (2,)
    assert np.all(np.isfinite(np.array(run.d_loss)))
    cov = run.coverage()
    assert len(cov) == 2 and all(isinstance(c, mc.Coverage) for c in cov)
    assert run.summary().startswith("modes hit ")
    again = mc.train_ring_gan(pack=2, progress=False, **kwargs)
    np.testing.assert_allclose(np.array(again.d_loss), np.array(run.d_loss), rtol=1e-5)
    other = mc.train_ring_gan(pack=2, progress=False, seed=1, **kwargs)
    assert not np.allclose(np.array(other.d_loss), np.array(run.d_loss))


def test_train_ring_gan_rejects_bad_arguments():
    with pytest.raises(ValueError, match="multiple of pack"):
        mc.train_ring_gan(steps=1, batch_size=10, pack=3, progress=False)
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        mc.train_ring_gan(steps=1, seeds=0, progress=False)
    with pytest.raises(TypeError, match="Ring"):
        mc.train_ring_gan(ring="ring", steps=1, progress=False)


def test_pictures_of_runs(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    kwargs = dict(steps=6, seeds=2, batch_size=8, width=4, snapshot_every=3, progress=False)
    runs = {"plain": mc.train_ring_gan(**kwargs), "packed": mc.train_ring_gan(pack=2, **kwargs)}
    fig = mc.plot_ring_runs(runs, seeds=2)
    assert len(fig.axes) == 4 and "packed, seed 1, step 6" in fig.axes[3].get_title()
    plt.close(fig)
    gif = mc.save_ring_gif(runs, tmp_path / "rings.gif")
    with Image.open(gif) as image:
        assert image.n_frames == 3  # steps 0, 3, 6
    runs["short"] = mc.train_ring_gan(**{**kwargs, "steps": 3})
    with pytest.raises(ValueError, match="share their snapshot steps"):
        mc.save_ring_gif(runs, tmp_path / "bad.gif")
