"""The GPT family: a small Transformer that writes Tang poems (chapter 08), and its BERT twin.

What the engine needs from a family lives here: training profiles, the data stream, a
compiled model, sampling, held-out bits per character. The network itself is in
:mod:`aigc_course.transformer`, the loop that samples in :mod:`aigc_course.sampling`, the
corpus in :mod:`aigc_course.tang`, the baselines in :mod:`aigc_course.baselines`.

Training rows start at the beginning of a poem: ``"\\n" + poem + "\\n" + next poem ...``, cut to
``context + 1`` tokens; the model reads the first ``context`` and predicts the last
``context``. Held-out poems are scored one by one from their own start, so every model (the
baselines too) is measured on exactly the same tokens: each character of the poem and the
``"\\n"`` that ends it.

The masked-LM twin is the same network with ``causal=False`` and one extra input token,
``[MASK]``: 15 % of the tokens of a row are replaced by it, and the loss is the cross-entropy
on those only (Devlin et al., 2019, without BERT's 80/10/10 replacement rule or its
next-sentence task). :mod:`aigc_course.masked_lm` measures what it can and cannot do.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course import sampling, tang
from aigc_course._tf import keras, tf
from aigc_course.errors import ConfigError, DataError, IntegrityError
from aigc_course.families import Family, Option
from aigc_course.profiles import Profile, dtype_policy
from aigc_course.transformer import GPT
from aigc_course.validate import number_in, positive_int

__all__ = [
    "GPTProfile",
    "PROFILES",
    "GPTFamily",
    "FAMILY",
    "tokenizer",
    "lm_dataset",
    "mlm_dataset",
    "poem_rows",
    "build_gpt",
    "held_out_bits",
    "HeldOutBits",
    "weighted_bits",
    "write_poems",
    "pretrained",
    "shipped_record",
    "save_weights",
    "load_weights",
    "SHIPPED_MODEL",
]

MIN_COUNT = 2  # characters seen fewer times in the training poems become □
MASK_RATE = 0.15
LONGEST_POEM = 64  # 8 lines of 7 characters and 8 punctuation marks
#: The shipped model: the ``cpu`` profile's run, weights stored in float16, and its sha256
#: (checked on load; see PROVENANCE.md and scripts/train_shipped_gpt.py).
SHIPPED_MODEL = "gpt_tang_cpu.npz"
SHIPPED_MODEL_SHA256 = "ee737800fc6d048ab9414a576b20d73c6daa695f91ab66ff1c8044e4b8802565"


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPTProfile(Profile):
    """Every knob of a GPT run (the common ones are :class:`~aigc_course.profiles.Profile`'s).

    An *example* is one training row that starts at a poem's beginning, so an epoch of
    ``examples_per_epoch`` rows is ``examples_per_epoch // batch_size`` optimiser steps, after
    which the engine draws sample poems and checkpoints. ``context`` tokens per row; ``width``,
    ``depth`` (blocks) and ``heads`` size the network; the learning rate warms up linearly over
    ``warmup_steps`` and follows a cosine down to 10 % at the last step. ``eval_poems`` held-out
    poems are scored by :meth:`GPTFamily.evaluate` (None: all 1,852); ``eval_samples`` poems are
    written to measure their form and how much they copy.
    """

    context: int
    width: int
    depth: int
    heads: int
    dropout: float = 0.0
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.1
    eval_poems: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for field in ("context", "width", "depth", "heads"):
            positive_int(field, getattr(self, field))
        if self.examples_per_epoch is None:
            raise ConfigError("a GPT profile needs examples_per_epoch (rows of text per epoch)")
        if self.context < LONGEST_POEM + 2:
            raise ConfigError(f"context must be at least {LONGEST_POEM + 2} (the longest poem "
                              f"with its start and end marks), got {self.context}")
        if self.width % self.heads:
            raise ConfigError(f"width ({self.width}) must be a multiple of heads ({self.heads})")
        number_in("dropout", self.dropout, 0, 1, high_open=True)
        number_in("learning_rate", self.learning_rate, 0, 1, low_open=True)
        number_in("weight_decay", self.weight_decay, 0, 1)
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) \
                or self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        if self.eval_poems is not None:
            positive_int("eval_poems", self.eval_poems)

    @property
    def total_steps(self) -> int:
        """Optimiser steps in the whole run: what the learning-rate schedule spans."""
        return self.epochs * (self.examples_per_epoch // self.batch_size)


PROFILES: dict[str, GPTProfile] = {
    # CI: seconds; proves the pipeline end to end. The poems are random characters.
    "smoke": GPTProfile(
        name="smoke", epochs=2, batch_size=8, examples_per_epoch=80, context=72, width=32,
        depth=1, heads=2, warmup_steps=2, checkpoint_every_steps=10, eval_poems=64,
        preview_samples=4, eval_samples=16,
    ),
    # A 2-core laptop: about 5 minutes. Sized by held-out bits after the same 300 s of training on
    # a quiet 2-core Xeon (each schedule spanning what fits in 300 s; seed 0): batch 16, 2 blocks,
    # learning rate 4e-3: 6.73 bits; the same with batch 8 (lr 3e-3): 6.83; width 192: 7.06; 3
    # blocks: 7.52 at 120 s against 2 blocks' 7.20 (stopped there);
    # the earlier 4 blocks at batch 32 (lr 2e-3, 1,200 steps): 7.25 — shallow and small batches
    # take more, cheaper steps, and early on steps matter more than depth. Float32 with XLA was
    # the fastest on that machine (bfloat16 slower with and without XLA). Its run is shipped
    # (SHIPPED_MODEL; see PROVENANCE.md and benchmarks/README.md).
    "cpu": GPTProfile(
        name="cpu", epochs=12, batch_size=16, examples_per_epoch=4480, context=72, width=128,
        depth=2, heads=4, learning_rate=4e-3, warmup_steps=100, jit_compile=True,
        checkpoint_every_steps=100, preview_samples=8, eval_samples=200,
    ),
    # A GPU: a wider, deeper model for longer.
    "gpu": GPTProfile(
        name="gpu", epochs=20, batch_size=64, examples_per_epoch=64_000, context=128, width=384,
        depth=6, heads=6, dropout=0.1, learning_rate=6e-4, warmup_steps=500, jit_compile=True,
        mixed_precision=True, needs_gpu=True, checkpoint_every_steps=1000, preview_samples=8,
        eval_samples=1000,
    ),
}  # fmt: skip


# ----------------------------------------------------------------------------- data


@functools.cache
def tokenizer(min_count: int = MIN_COUNT) -> tang.CharTokenizer:
    """The course's tokenizer: every character seen ``min_count`` times in the training poems."""
    return tang.CharTokenizer.from_poems(tang.load_poems("train"), min_count)


def _rows(stream: np.ndarray, starts: np.ndarray, length: int, batch_size: int, seed: int):
    """Batches of ``length`` tokens starting at shuffled poem starts, forever."""
    padded = tf.constant(np.concatenate([stream, np.zeros(length, stream.dtype)]))
    offsets = tf.range(length, dtype=tf.int64)
    return (
        tf.data.Dataset.from_tensor_slices(starts)
        .repeat()
        .shuffle(len(starts), seed=seed)
        .batch(batch_size, drop_remainder=True)
        .map(lambda s: tf.gather(padded, s[:, None] + offsets[None, :]))
    )


def lm_dataset(tok: tang.CharTokenizer, poems: list[tang.Poem], context: int, batch_size: int,
               seed: int = 0) -> tf.data.Dataset:
    """``(inputs, targets, weights)`` batches for a language model: targets = inputs shifted by one."""
    stream, starts = tang.poem_stream(tok, poems)
    rows = _rows(stream, starts, context + 1, batch_size, seed)
    return rows.map(lambda r: (r[:, :-1], r[:, 1:], tf.ones_like(r[:, 1:], tf.float32))).prefetch(2)


def mlm_dataset(tok: tang.CharTokenizer, poems: list[tang.Poem], context: int, batch_size: int,
                seed: int = 0) -> tf.data.Dataset:
    """``(inputs, targets, weights)`` batches for the masked-LM twin: inputs with 15 % of the
    tokens replaced by ``[MASK]`` (id ``len(tok)``), targets the original tokens, weights 1
    where a token was hidden."""
    stream, starts = tang.poem_stream(tok, poems)
    rows = _rows(stream, starts, context, batch_size, seed).enumerate()

    def hide(step, row):
        hidden = tf.random.stateless_uniform(tf.shape(row), seed=[seed, step]) < MASK_RATE
        return tf.where(hidden, len(tok), row), row, tf.cast(hidden, tf.float32)

    return rows.map(hide).prefetch(2)


def poem_rows(tok: tang.CharTokenizer, poems: list[tang.Poem], context: int):
    """One row per poem for scoring: inputs ``"\\n" + poem`` padded with ``"\\n"`` to
    ``context``, targets ``poem + "\\n"`` (padded), weights 1 on the poem's own tokens."""
    n = len(poems)
    inputs = np.zeros((n, context), np.int32)
    targets = np.zeros((n, context), np.int32)
    weights = np.zeros((n, context), np.float32)
    for i, poem in enumerate(poems):
        ids = tok.encode(poem.text + tang.END)
        inputs[i, 1 : len(ids)] = ids[:-1]
        targets[i, : len(ids)] = ids
        weights[i, : len(ids)] = 1.0
    return inputs, targets, weights


# ----------------------------------------------------------------------------- the model


def build_gpt(profile: GPTProfile, vocab_size: int | None = None, causal: bool = True,
              seed: int | None = None) -> GPT:
    """A compiled :class:`GPT` for ``profile`` (``causal=False``: the masked-LM twin, with one
    more token, ``[MASK]``), in the dtype policy in force (the engine sets the profile's).
    ``vocab_size`` defaults to the course tokenizer's; ``seed`` re-seeds Keras first.

    AdamW with weight decay on the matrices only, gradients clipped to norm 1, the learning
    rate warmed up linearly over ``warmup_steps`` and decayed along a cosine to 10 % at
    ``profile.total_steps`` (nanoGPT's recipe).
    """
    vocab_size = len(tokenizer()) if vocab_size is None else vocab_size
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = GPT(vocab_size + (0 if causal else 1), profile.context, profile.width,
                profile.depth, profile.heads, profile.dropout, causal,
                name="gpt" if causal else "masked_lm")
    warmup = min(profile.warmup_steps, profile.total_steps - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else profile.learning_rate,
        decay_steps=max(profile.total_steps - warmup, 1), alpha=0.1,
        warmup_target=profile.learning_rate if warmup else None, warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=profile.weight_decay, beta_2=0.99,
                                       global_clipnorm=1.0, name="adamw")
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias", "position_embedding"])
    model.compile(optimizer=optimizer, jit_compile=profile.jit_compile)
    model.optimizer.build(model.trainable_variables)
    return model


def weighted_bits(model: GPT, inputs, targets, weights, batch_size: int = 128) -> float:
    """Bits per weighted token: the weighted mean cross-entropy over all rows, in bits."""
    nats, count = 0.0, 0.0
    for i in range(0, len(inputs), batch_size):
        part = slice(i, i + batch_size)
        loss, total = model.loss_and_count(inputs[part], targets[part], weights[part])
        nats += float(loss) * float(total)
        count += float(total)
    return nats / count / math.log(2.0)


def held_out_bits(model: GPT, rows) -> float:
    """Bits per character of ``rows`` (from :func:`poem_rows`) under ``model``."""
    return weighted_bits(model, *rows)


class HeldOutBits(keras.callbacks.Callback):
    """After every epoch: held-out bits per character, with the step and the seconds (wall
    clock and CPU) since training began, in :attr:`history`."""

    def __init__(self, rows, every_epochs: int = 1):
        super().__init__()
        self.rows, self.every = rows, every_epochs
        self.history: list[dict] = []

    def on_train_begin(self, logs=None) -> None:
        self._start = (time.perf_counter(), time.process_time())
        self._evaluating = [0.0, 0.0]  # seconds spent here, which are not training time
        self._step = 0

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._step += 1

    def on_epoch_end(self, epoch, logs=None) -> None:
        if (epoch + 1) % self.every:
            return
        now = (time.perf_counter(), time.process_time())
        wall, cpu = (n - s - e for n, s, e in zip(now, self._start, self._evaluating, strict=True))
        bits = held_out_bits(self.model, self.rows)
        self.history.append({"epoch": epoch + 1, "step": self._step, "seconds": round(wall, 1),
                             "cpu_seconds": round(cpu, 1), "held_out_bits": round(bits, 4)})
        if logs is not None:
            logs["held_out_bits"] = bits
        self._evaluating[0] += time.perf_counter() - now[0]
        self._evaluating[1] += time.process_time() - now[1]


# ----------------------------------------------------------------------------- sampling


def write_poems(model: GPT, n: int = 8, prompt: str = "", seed: int = 0, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
                tok: tang.CharTokenizer | None = None) -> list[str]:
    """``n`` poems from ``model``, each starting with ``prompt`` (e.g. ``"床前明月光"``).

    Every character of the prompt must be in the vocabulary (the poems are in traditional
    script). Generation stops at the end-of-poem mark or when the context is full; □ is never
    generated.
    """
    tok = tok or tokenizer()
    if tang.END in prompt:
        raise ConfigError("the prompt is the beginning of one poem: leave out line breaks")
    unknown = tok.unknown(prompt)
    if unknown:
        raise ConfigError(
            f"the model does not know {'、'.join(unknown)}: the Tang poems are in traditional "
            "script (风 -> 風, 绿 -> 綠, 东 -> 東, ...), and characters rarer than "
            f"{MIN_COUNT} uses in the training poems are unknown too"
        )
    ids = sampling.generate(model, tok.encode(tang.END + prompt), n, seed=seed,
                            temperature=temperature, top_k=top_k, top_p=top_p,
                            banned=[tok.unknown_id], stop_id=tok.end_id, use_cache=use_cache)
    return [tok.decode(row[1:]).split(tang.END)[0] for row in ids]


# ----------------------------------------------------------------------------- the family


def _config_of(model: GPT) -> dict[str, Any]:
    return {"vocab_size": model.vocab_size, "context": model.context, "width": model.width,
            "depth": model.depth, "heads": model.heads, "causal": model.causal}  # fmt: skip


def save_weights(model: GPT, path: str | Path, dtype: str = "float32") -> None:
    """The network's architecture and weights (by path) in one ``.npz`` file: what sampling and
    scoring need, without the optimiser. ``dtype="float16"`` halves the file (the shipped model)."""
    arrays = {f"weight:{w.path}": np.asarray(w.numpy(), dtype) for w in model.weights}
    with open(path, "wb") as f:
        np.savez_compressed(f, config=np.array(json.dumps(_config_of(model))), **arrays)


def load_weights(path: str | Path) -> GPT:
    """A float32 :class:`GPT` from :func:`save_weights`' file (its dropout off)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            config = json.loads(str(data["config"]))
            # keyed by the path inside the model: its own name (gpt, gpt_1, ...) may differ
            arrays = {k.split("/", 1)[-1]: data[k] for k in data.files if k != "config"}
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path} is not a GPT weights file ({type(err).__name__}: {err}); "
                        "export it again with aigc-course train") from err
    name = "gpt" if config["causal"] else "masked_lm"
    with dtype_policy("float32"):
        model = GPT(**config, name=name)
    paths = [w.path.split("/", 1)[-1] for w in model.weights]
    if sorted(paths) != sorted(arrays):
        raise DataError(f"{path} holds weights {sorted(set(arrays) ^ set(paths))[:4]}... that "
                        "do not match the network it describes; export it again")
    model.set_weights([arrays[p].astype("float32") for p in paths])
    return model


def pretrained() -> GPT:
    """The model shipped with the course: the ``cpu`` profile's run on the training poems
    (``aigc_course/_data/gpt_tang_cpu.npz``, float16 weights; see PROVENANCE.md)."""
    from importlib import resources

    path = resources.files("aigc_course").joinpath("_data", SHIPPED_MODEL)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHIPPED_MODEL_SHA256:
        raise IntegrityError(f"aigc_course/_data/{SHIPPED_MODEL} is damaged or was replaced "
                             f"(sha256 {digest}, expected {SHIPPED_MODEL_SHA256}); reinstall the "
                             "course, or remake it with scripts/train_shipped_gpt.py")
    with resources.as_file(path) as file:
        return load_weights(file)


def shipped_record() -> dict[str, Any]:
    """How the shipped model was trained (``gpt_tang_cpu.json``): its profile, the held-out
    curve (step, seconds, bits per character after every epoch), its evaluation, the machine."""
    from importlib import resources

    name = SHIPPED_MODEL.replace(".npz", ".json")
    text = resources.files("aigc_course").joinpath("_data", name).read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _train_five_grams() -> frozenset[str]:
    return frozenset(tang.ngrams([p.text for p in tang.load_poems("train")], 5))


class GPTFamily(Family):
    """A decoder-only Transformer on the Tang poems, one character per token."""

    name = "gpt"
    profiles = PROFILES
    data_kind = "text"
    datasets = ("tang",)
    export_name = "gpt.weights.npz"
    sample_options = (
        Option("temperature", float, 1.0, "divide the logits by this (0 = greedy)"),
        Option("top_k", int, 0, "keep the k most likely characters (0 = all)"),
        Option("top_p", float, 1.0, "keep the most likely characters up to this mass (1 = all)"),
        Option("prompt", str, "", "the poem's first characters, traditional script (床前明月光)"),
    )
    divergence_hint = "lower the learning rate or raise warmup_steps"

    def config(self, profile: GPTProfile, dataset: str) -> dict[str, Any]:
        return {"vocab_size": len(tokenizer()), "context": profile.context,
                "width": profile.width, "depth": profile.depth, "heads": profile.heads}  # fmt: skip

    def build(self, profile: GPTProfile, dataset: str) -> GPT:
        return build_gpt(profile)

    def data(self, dataset: str, profile: GPTProfile, seed: int) -> tuple[tf.data.Dataset, int]:
        self.check_dataset(dataset)
        train = tang.load_poems("train")
        return lm_dataset(tokenizer(), train, profile.context, profile.batch_size, seed), len(train)

    def sample(self, model: GPT, n: int, seed: int = 0, **options: Any) -> list[str]:
        o = self.sample_defaults(**options)
        return write_poems(model, n, o["prompt"], seed, o["temperature"], o["top_k"] or None,
                           o["top_p"] if o["top_p"] < 1 else None)

    def export(self, model: GPT, profile: GPTProfile, path: Path) -> None:
        save_weights(model, path)

    def load_export(self, path: Path) -> GPT:
        return load_weights(path)

    def evaluate(self, model: GPT, dataset: str, profile: GPTProfile, seed: int = 0) -> dict:
        """Held-out bits per character (on ``eval_poems`` poems), beside the bigram baseline on
        the same poems; the form of ``eval_samples`` written poems and the share of their
        5-grams found in the training poems (a memorisation check)."""
        from aigc_course.baselines import ngram_bits

        held_out = tang.load_poems("held_out")[: profile.eval_poems]
        bits = held_out_bits(model, poem_rows(tokenizer(), held_out, model.context))
        written = self.sample(model, profile.eval_samples, seed)
        form = tang.form_report(written)
        return {
            "bits_per_char": round(bits, 4),
            "bigram_bits_per_char": round(
                ngram_bits(tokenizer(), tang.load_poems("train"), held_out)["bigram"], 4),
            "right_line_length": round(form["right_length"], 4),
            "regular_poems": round(form["regular"], 4),
            "copied_5grams": round(tang.copied_fraction(written, _train_five_grams()), 4),
            "eval_poems": len(held_out),
            "eval_samples": profile.eval_samples,
        }

    def describe(self, profile: GPTProfile) -> str:
        v, w, d = len(tokenizer()), profile.width, profile.depth
        params = v * w + profile.context * w + d * (12 * w * w + 13 * w) + 2 * w
        return (f"{d} blocks x width {w}, {profile.heads} heads, context {profile.context}, "
                f"{params / 1e6:.2f} M parameters")

    def headline(self, metrics: dict[str, Any]) -> str:
        line = super().headline(metrics)
        if "bigram_bits_per_char" in metrics:
            line += (f" (bigram {metrics['bigram_bits_per_char']:.3f}); "
                     f"{metrics['right_line_length']:.0%} of written lines the right length, "
                     f"{metrics['copied_5grams']:.0%} of their 5-grams in the training poems")
        return line


FAMILY = GPTFamily()
