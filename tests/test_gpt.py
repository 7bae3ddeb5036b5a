"""The small GPT: attention written out, the KV cache, weight tying, the LM step, sampling,
the data rows, and the masked-LM twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aigc_course import masked_lm, sampling, tang
from aigc_course._tf import keras
from aigc_course.families import gpt
from aigc_course.profiles import get_profile
from aigc_course.transformer import GPT, Block, SelfAttention, as_keras_attention, causal_mask

VOCAB = 23


def _tiny(causal=True, context=12, seed=0, dropout=0.0):
    keras.utils.set_random_seed(seed)
    return GPT(VOCAB, context, width=16, depth=2, heads=4, dropout=dropout, causal=causal)


def _ids(shape, seed=1):
    return np.random.default_rng(seed).integers(0, VOCAB, shape).astype("int32")


@pytest.mark.parametrize("causal", [True, False])
def test_attention_written_out_matches_keras_multi_head_attention(causal):
    keras.utils.set_random_seed(0)
    ours = SelfAttention(32, 4, causal=causal)
    x = np.random.default_rng(0).standard_normal((2, 9, 32)).astype("float32")
    mine = np.asarray(ours(x))
    theirs = as_keras_attention(ours)
    np.testing.assert_allclose(mine, np.asarray(theirs(x, x, use_causal_mask=causal)), atol=2e-6)
    other = np.asarray(theirs(x, x, use_causal_mask=not causal))
    assert np.abs(mine - other).max() > 1e-3  # the mask matters: the comparison can fail


def test_causal_mask_is_the_lower_triangle_and_shifts_with_the_offset():
    np.testing.assert_array_equal(np.asarray(causal_mask(3)), np.tril(np.ones((3, 3), bool)))
    np.testing.assert_array_equal(np.asarray(causal_mask(1, 4, offset=2)), [[True, True, True, False]])


def test_attention_weights_are_causal_rows_that_sum_to_one():
    model = _tiny()
    weights = model.attention_weights(_ids((2, 12)))
    assert len(weights) == 2 and weights[0].shape == (2, 4, 12, 12)
    for w in weights:
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
        assert np.abs(np.triu(w, k=1)).max() == 0.0


def test_gpt_never_looks_ahead_and_the_masked_twin_does():
    ids = _ids((1, 12))
    later = ids.copy()
    later[0, 7:] = (later[0, 7:] + 1) % VOCAB
    for causal in (True, False):
        model = _tiny(causal)
        changed = np.abs(np.asarray(model(ids)) - np.asarray(model(later)))[0, :7].max()
        assert (changed == 0.0) if causal else (changed > 1e-4)


def test_pre_norm_block_by_hand():
    keras.utils.set_random_seed(3)
    block = Block(16, 4)
    x = np.random.default_rng(3).standard_normal((2, 5, 16)).astype("float32")
    out = np.asarray(block(x))
    h = x + np.asarray(block.attention(block.norm1(x)))
    expected = h + np.asarray(block.mlp_out(block.mlp_in(block.norm2(h))))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_output_layer_is_the_token_embedding():
    model = _tiny()
    big = [w for w in model.trainable_weights if VOCAB in w.shape]
    assert len(big) == 1 and big[0].path.endswith("/token_embedding/embeddings")
    ids = _ids((1, 12))
    before = np.asarray(model(ids))
    table = model.token_embedding.embeddings
    table.assign(table.numpy() * 2.0)
    assert np.abs(np.asarray(model(ids)) - before).max() > 1e-3


def test_kv_cache_gives_the_same_logits_one_token_at_a_time():
    model = _tiny()
    ids = _ids((3, 12))
    full = np.asarray(model(ids))
    cache = model.empty_cache(3)
    logits, cache = model.call_cached(ids[:, :4], cache, 0)  # a prompt at once
    steps = [np.asarray(logits)]
    for t in range(4, 12):
        logits, cache = model.call_cached(ids[:, t : t + 1], cache, t)
        steps.append(np.asarray(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_kv_cache_is_refused_for_the_bidirectional_twin():
    model = _tiny(causal=False)
    with pytest.raises(ValueError, match="causal"):
        model.call_cached(_ids((1, 1)), model.empty_cache(1), 0)


def test_train_step_is_one_weighted_cross_entropy_step():
    profile = get_profile("smoke", family="gpt", context=66, warmup_steps=0, learning_rate=0.01)
    model = gpt.build_gpt(profile, VOCAB, seed=0)
    x, y = _ids((4, 66), 5), _ids((4, 66), 6)
    w = (np.arange(66) < 30).astype("float32")[None].repeat(4, 0)
    logits = np.asarray(model(x)).astype(np.float64)
    logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    nll = -np.take_along_axis(logp, y[..., None], -1)[..., 0]
    expected = (nll * w).sum() / w.sum()
    loss, total = model.loss_and_count(x, y, w)
    assert float(total) == 120 and float(loss) == pytest.approx(expected, rel=1e-5)
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.train_step((x, y, w))
    assert float(logs["bits"]) == pytest.approx(expected / math.log(2), rel=1e-4)
    assert all(np.abs(v.numpy() - b).max() > 0 for v, b in zip(model.trainable_variables, before,
                                                                  strict=True))
    assert int(model.optimizer.iterations) == 1
    for _ in range(30):
        model.train_step((x, y, w))
    assert float(model.loss_and_count(x, y, w)[0]) < 0.5 * expected  # it learns the batch


# ----------------------------------------------------------------------------- sampling


def test_temperature_top_k_top_p_and_greedy():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    np.testing.assert_allclose(sampling.next_token_probs(logits), [[0.5, 0.3, 0.15, 0.05]])
    hot = sampling.next_token_probs(logits, temperature=2.0)[0]
    np.testing.assert_allclose(hot, np.sqrt([0.5, 0.3, 0.15, 0.05]) / np.sqrt([0.5, 0.3, 0.15, 0.05]).sum())
    np.testing.assert_allclose(sampling.next_token_probs(logits, top_k=2), [[0.625, 0.375, 0, 0]])
    # top-p 0.75: 0.5 falls short, 0.5 + 0.3 reaches it, so two tokens; 0.85 needs a third
    np.testing.assert_allclose(sampling.next_token_probs(logits, top_p=0.75), [[0.625, 0.375, 0, 0]])
    assert (sampling.next_token_probs(logits, top_p=0.85) > 0).sum() == 3
    np.testing.assert_array_equal(sampling.next_token_probs(logits, temperature=0), [[1, 0, 0, 0]])
    assert sampling.next_token_probs(logits, temperature=0, banned=[0])[0, 1] == 1
    for bad in ({"temperature": -1}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}):
        with pytest.raises(ValueError):
            sampling.next_token_probs(logits, **bad)


def test_choose_draws_from_the_distribution_and_repeats_with_the_seed():
    logits = np.log(np.array([[0.5, 0.3, 0.2]])).repeat(20_000, axis=0)
    ids = sampling.choose(logits, np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(ids, minlength=3) / len(ids), [0.5, 0.3, 0.2], atol=0.015)
    np.testing.assert_array_equal(ids, sampling.choose(logits, np.random.default_rng(0)))
    assert (sampling.choose(logits, np.random.default_rng(0), top_k=1) == 0).all()


@pytest.mark.parametrize("options", [{}, {"temperature": 0.7, "top_k": 5}, {"top_p": 0.9},
                                     {"temperature": 0}])
def test_cached_and_uncached_sampling_give_identical_tokens(options):
    model = _tiny(context=20)
    prompt = [0, 3, 4]
    a = sampling.generate(model, prompt, 4, seed=7, use_cache=True, **options)
    b = sampling.generate(model, prompt, 4, seed=7, use_cache=False, **options)
    assert a.shape == (4, 20) and (a[:, :3] == prompt).all()
    np.testing.assert_array_equal(a, b)
    if options.get("temperature") != 0:
        c = sampling.generate(model, prompt, 4, seed=8, **options)
        assert (a != c).any()  # another seed, other tokens


def test_generate_stops_once_every_row_has_ended_and_checks_its_arguments():
    model = _tiny(context=20)
    ids = sampling.generate(model, [1], 3, seed=0, stop_id=2, banned=[])
    assert ids.shape[1] == 20 or (ids[:, 1:] == 2).any(axis=1).all()
    with pytest.raises(ValueError, match="at least one token"):
        sampling.generate(model, [], 1)
    with pytest.raises(ValueError, match="context is 20"):
        sampling.generate(model, list(range(20)), 1)


# ----------------------------------------------------------------------------- data and family


@pytest.fixture(scope="module")
def tok():
    return gpt.tokenizer()


@pytest.fixture(scope="module")
def poems():
    return tang.load_poems("train")[:200], tang.load_poems("held_out")[:40]


def test_lm_rows_start_at_a_poem_and_targets_are_shifted(tok, poems):
    x, y, w = next(iter(gpt.lm_dataset(tok, poems[0], 70, 8, seed=0)))
    x, y = x.numpy(), y.numpy()
    assert x.shape == y.shape == (8, 70) and (x[:, 0] == tok.end_id).all()
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    assert (w.numpy() == 1).all()
    texts = {p.text for p in poems[0]}
    assert all(tok.decode(row[1:]).split("\n")[0] in texts for row in x)


def test_mlm_rows_hide_about_15_percent_and_weigh_only_those(tok, poems):
    x, y, w = (a.numpy() for a in next(iter(gpt.mlm_dataset(tok, poems[0], 70, 64, seed=0))))
    hidden = x == len(tok)
    np.testing.assert_array_equal(hidden, w == 1)
    np.testing.assert_array_equal(x[~hidden], y[~hidden])
    assert 0.13 < hidden.mean() < 0.17 and (y != len(tok)).all()


def test_poem_rows_score_each_character_and_the_end_mark(tok, poems):
    x, y, w = gpt.poem_rows(tok, poems[1], 66)
    assert w.sum() == sum(len(p.text) + 1 for p in poems[1])
    first = poems[1][0].text
    assert tok.decode(x[0, : len(first) + 1]) == "\n" + first
    assert tok.decode(y[0, : len(first) + 1]) == first + "\n"


def test_profiles_are_checked():
    with pytest.raises(ValueError, match="at least 66"):
        get_profile("smoke", family="gpt", context=64)
    with pytest.raises(ValueError, match="multiple of heads"):
        get_profile("smoke", family="gpt", width=30, heads=4)
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("laptop", family="gpt")


def test_held_out_bits_is_the_mean_over_poem_tokens(tok, poems):
    model = gpt.build_gpt(get_profile("smoke", family="gpt"), len(tok), seed=0)
    rows = gpt.poem_rows(tok, poems[1], model.context)
    logits = np.asarray(model(rows[0])).astype(np.float64)
    logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    picked = np.take_along_axis(logp, rows[1][..., None], -1)[..., 0]
    expected = -(picked * rows[2]).sum() / rows[2].sum() / math.log(2)
    assert gpt.held_out_bits(model, rows) == pytest.approx(expected, rel=1e-5)
    assert abs(expected - math.log2(len(tok))) < 1.0  # untrained: about uniform


def test_write_poems_starts_with_the_prompt_and_explains_unknown_characters(tok):
    model = gpt.build_gpt(get_profile("smoke", family="gpt"), len(tok), seed=0)
    poems_ = gpt.write_poems(model, 3, prompt="牀前看月光", seed=0)
    assert len(poems_) == 3 and all(p.startswith("牀前看月光") for p in poems_)
    assert all(tang.UNKNOWN not in p and "\n" not in p for p in poems_)
    assert poems_ == gpt.write_poems(model, 3, prompt="牀前看月光", seed=0, use_cache=False)
    with pytest.raises(ValueError, match="traditional"):
        gpt.write_poems(model, 1, prompt="春风又绿江南岸")


def test_masked_twin_left_to_right_scores_the_same_tokens(tok, poems):
    profile = get_profile("smoke", family="gpt")
    mlm = gpt.build_gpt(profile, len(tok), causal=False, seed=0)
    assert mlm.vocab_size == len(tok) + 1 and not mlm.causal
    rows = gpt.poem_rows(tok, poems[1][:6], profile.context)
    bits = masked_lm.left_to_right_bits(mlm, rows)
    assert abs(bits - math.log2(len(tok) + 1)) < 1.0
    blanks = masked_lm.blank_positions(rows, seed=0)
    assert blanks[:, 0].sum() == 0 and 0.05 < blanks.sum() / rows[2].sum() < 0.3
    assert np.isfinite(masked_lm.blank_bits(mlm, rows, blanks))
    written = masked_lm.masked_lm_write(mlm, 2, prompt="牀前", seed=0)
    assert all(w.startswith("牀前") for w in written)


# ----------------------------------------------------------------------------- the family in the engine


def test_the_command_line_trains_is_killed_resumes_samples_and_evaluates(tmp_path, monkeypatch,
                                                                         capsys):
    """``aigc-course train --model gpt --corpus tang``: SIGKILL mid-run, ``--resume`` continues
    from the last checkpoint and evaluates, then ``sample`` with every option. The kill and the
    resume are real processes; ``sample`` reads only the run directory, so it runs in-process
    through the same entry point (``cli.main``), which saves a TensorFlow start per command."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from aigc_course import cli
    from aigc_course.checkpoint import read_manifest

    env = {**os.environ, "AIGC_OFFLINE": "1", "AIGC_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    env.pop("AIGC_SMOKE", None)
    out = tmp_path / "run"
    train = [sys.executable, "-m", "aigc_course.cli", "train", "--model", "gpt", "--corpus",
             "tang", "--profile", "smoke", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen([*train, "--epochs", "500", "--no-eval"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while (read_manifest(out / "checkpoints") or {}).get("step", 0) < 10:  # after epoch 1
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    saved = read_manifest(out / "checkpoints")
    epochs = saved["epoch"] + 1
    resumed = subprocess.run([*train, "--resume", "--epochs", str(epochs)], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming at step {saved['step']}" in resumed.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == epochs * 10 and metrics["family"] == "gpt"  # 80 rows / batch 8
    assert f"held-out {metrics['bits_per_char']:.3f} bits/char" in resumed.stdout

    for name in ("AIGC_OFFLINE", "AIGC_CACHE_DIR"):  # the subprocesses' environment
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("AIGC_SMOKE", raising=False)
    poems = tmp_path / "poems.txt"
    code = cli.main(["sample", "--run", str(out), "--n", "3", "--out", str(poems),
                     "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9", "--prompt", "牀前"])
    assert code == 0, capsys.readouterr().err
    assert f"wrote 3 samples to {poems}" in capsys.readouterr().out
    written = poems.read_text(encoding="utf-8").strip().split("\n\n")
    assert len(written) == 3 and all(p.startswith("牀前") for p in written)
    assert cli.main(["sample", "--run", str(out), "--n", "1", "--out", str(poems),
                     "--prompt", "风"]) == 2  # fmt: skip
    assert "traditional" in capsys.readouterr().err


def test_an_export_that_is_not_a_gpt_is_refused_clearly(tmp_path):
    from aigc_course.errors import DataError

    bad = tmp_path / "gpt.weights.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a GPT weights file"):
        gpt.load_weights(bad)


def test_weights_round_trip_in_float32_and_float16(tmp_path):
    _tiny()
    model = _tiny()  # Keras names the second one gpt_1 (or more): the file must not care
    ids = _ids((2, 12))
    gpt.save_weights(model, tmp_path / "a.npz")
    np.testing.assert_array_equal(np.asarray(gpt.load_weights(tmp_path / "a.npz")(ids)),
                                  np.asarray(model(ids)))
    gpt.save_weights(model, tmp_path / "b.npz", dtype="float16")
    half = np.asarray(gpt.load_weights(tmp_path / "b.npz")(ids))
    assert 0 < np.abs(half - np.asarray(model(ids))).max() < 0.05  # rounded, not broken


def test_the_shipped_model_is_checked_and_beats_the_bigram(monkeypatch):
    """The model chapter 08 loads: its hash is checked, it is the cpu profile's architecture,
    and on held-out poems it beats the bigram clearly (an untrained or damaged model would not)."""
    from aigc_course import baselines
    from aigc_course.errors import IntegrityError

    record = gpt.shipped_record()
    model = gpt.pretrained()
    cpu = get_profile("cpu", family="gpt")
    assert record["profile"] == "cpu" and gpt.FAMILY.config(cpu, "tang") == {
        k: getattr(model, k) for k in ("vocab_size", "context", "width", "depth", "heads")}
    held = tang.load_poems("held_out")[:100]
    bits = gpt.held_out_bits(model, gpt.poem_rows(gpt.tokenizer(), held, model.context))
    bigram = baselines.ngram_bits(gpt.tokenizer(), tang.load_poems("train"), held)["bigram"]
    assert bits < 0.95 * bigram, (bits, bigram)
    monkeypatch.setattr(gpt, "SHIPPED_MODEL_SHA256", "0" * 64)
    with pytest.raises(IntegrityError, match="damaged"):
        gpt.pretrained()
