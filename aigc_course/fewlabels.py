"""Few-label classifiers (chapter 02, part B): how far do 100 or 1,000 labelled Fashion-MNIST
images go with data augmentation (数据增强), and with features learned on MNIST digits first
(transfer learning, 迁移学习)?

A small convolutional feature extractor, a linear head, and a training loop counted in steps
(not epochs), so every budget and seed costs the same. :func:`augmentation_comparison` and
:func:`transfer_comparison` run the chapter's experiments over label budgets and seeds and
return one row per run, for the chapter to print and plot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aigc_course.validate import positive_int

__all__ = [
    "build_digit_features",
    "build_classifier",
    "fit_steps",
    "accuracy",
    "augmentation_comparison",
    "TRANSFER_MODES",
    "transfer_comparison",
]


def build_digit_features():
    """A small convolutional feature extractor, ``(B, 28, 28, 1)`` in [0, 1] -> ``(B, 800)``."""
    from aigc_course._tf import keras

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
        ],
        name="features",
    )


def build_classifier(features, num_classes: int = 10, learning_rate: float = 1e-3, augment=None):
    """``features`` followed by dropout and a linear layer of logits, compiled with Adam.

    ``augment``, a Keras model of random augmentation layers, goes in front: it changes the
    images while the model trains and passes them through unchanged at test time.
    """
    from aigc_course._tf import keras

    layers = [features, keras.layers.Dropout(0.3), keras.layers.Dense(num_classes, name="head")]
    model = keras.Sequential(
        layers if augment is None else [augment, *layers],
        name=f"classifier_on_{features.name}",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def fit_steps(model, x, y, steps: int, batch_size: int = 32, seed: int = 0) -> None:
    """Train a compiled ``model`` for exactly ``steps`` mini-batches, however few examples.

    With 100 labelled images an "epoch" is only 3 batches; counting steps instead keeps
    comparisons fair (the same number of updates for every label budget). The shuffled
    batches are fed as a ``tf.data`` pipeline: Keras' own NumPy pipeline makes TensorFlow
    2.21 print a C++ "NodeDef mentions attribute" error line into notebook outputs.
    """
    from aigc_course._tf import tf

    positive_int("steps", steps)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"need as many labels as inputs (and at least one), got {len(x)}, {len(y)}"
        )
    rng = np.random.default_rng(seed)
    repeats = -(-steps * batch_size // len(x))
    order = np.concatenate([rng.permutation(len(x)) for _ in range(repeats)])
    order = order[: steps * batch_size]
    batches = tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(batch_size)
    model.fit(batches, epochs=1, shuffle=False, verbose=0)


def accuracy(model, x, y, batch_size: int = 500) -> float:
    """Fraction of ``x`` whose arg-max logit equals the label ``y`` (model run in inference mode)."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"need as many labels as inputs (and at least one), got {len(x)}, {len(y)}"
        )
    hits = 0
    for start in range(0, len(x), batch_size):
        logits = np.asarray(model(x[start : start + batch_size], training=False))
        hits += int((logits.argmax(axis=1) == np.asarray(y[start : start + batch_size])).sum())
    return hits / len(x)


def augmentation_comparison(
    augment,
    x_train,
    y_train,
    x_test,
    y_test,
    budgets: Sequence[int] = (100, 1000),
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 300,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Test accuracy of the same small classifier trained with and without ``augment`` in front.

    For each label budget and seed: pick that many training examples (the seed chooses which, and
    the initial weights), train one model on them as they are and one behind a fresh copy of the
    ``augment`` pipeline (:func:`keras.models.clone_model`, same layers and settings), both for
    ``steps`` batches, and test both on ``x_test``. Images are float32 ``(N, 28, 28, 1)`` in
    [0, 1]. Returns one dict per (budget, seed): ``labels``, ``seed``, ``plain``, ``augmented``.
    """
    from aigc_course._tf import keras

    budgets, seeds = list(budgets), list(seeds)
    if not budgets or not all(isinstance(n, int | np.integer) and n > 0 for n in budgets):
        raise ValueError(f"budgets must be positive integers (numbers of labels), got {budgets!r}")
    if max(budgets) > len(x_train):
        raise ValueError(f"a budget of {max(budgets)} labels needs that many training images")
    if not seeds:
        raise ValueError("give at least one seed")
    jobs = [(n, seed, aug) for n in budgets for seed in seeds for aug in (False, True)]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="augmentation", unit="model")
    rows = []
    for n, seed, aug in jobs:
        if not aug:
            rows.append({"labels": n, "seed": seed})
        pick = np.random.default_rng(seed).choice(len(x_train), n, replace=False)
        keras.utils.set_random_seed(seed + 1)  # the same initial weights with and without
        pipeline = keras.models.clone_model(augment) if aug else None
        model = build_classifier(build_digit_features(), augment=pipeline)
        fit_steps(model, x_train[pick], y_train[pick], steps, seed=seed)
        rows[-1]["augmented" if aug else "plain"] = accuracy(model, x_test, y_test)
    return rows


TRANSFER_MODES = ("scratch", "random frozen", "pretrained frozen", "pretrained fine-tuned")


def transfer_comparison(
    pretrained_weights,
    x_train,
    y_train,
    x_test,
    y_test,
    budgets: Sequence[int] = (100, 1000),
    steps: int = 300,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Test accuracy of four ways to use few labels, for each label budget.

    ``scratch``: features and head trained only on the few labels. ``random frozen``: a
    random, frozen feature extractor and a trained head (the control: how much do
    features help when they learned nothing?). ``pretrained frozen``: the features
    learned on another dataset (``pretrained_weights`` of :func:`build_digit_features`),
    frozen, with a trained head. ``pretrained fine-tuned``: the same start, everything
    trained. Images are float32 ``(N, 28, 28, 1)`` in [0, 1]. Returns one dict per budget.
    """
    from aigc_course._tf import keras

    budgets = list(budgets)
    if not budgets or not all(isinstance(n, int | np.integer) and n > 0 for n in budgets):
        raise ValueError(f"budgets must be positive integers (numbers of labels), got {budgets!r}")
    if max(budgets) > len(x_train):
        raise ValueError(
            f"a budget of {max(budgets)} labels needs that many training images; "
            f"got {len(x_train)}"
        )
    rng = np.random.default_rng(seed)
    rows = []
    jobs = [(n, mode) for n in budgets for mode in TRANSFER_MODES]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="transfer", unit="model")
    picks = {n: rng.choice(len(x_train), n, replace=False) for n in budgets}
    for n, mode in jobs:
        if mode == TRANSFER_MODES[0]:
            rows.append({"labels": n})
        keras.utils.set_random_seed(seed + 1)  # same initial head for every mode
        features = build_digit_features()
        if mode.startswith("pretrained"):
            features.set_weights(pretrained_weights)
        frozen = mode.endswith("frozen")
        features.trainable = not frozen
        # a frozen extractor leaves only a linear head to fit: a larger step size suits it
        model = build_classifier(features, learning_rate=3e-3 if frozen else 1e-3)
        x_fit = x_train[picks[n]]
        if frozen:  # the features never change: compute them once, train dropout + head on them
            model = _head_on_features(model, features)
            x_fit = np.asarray(features(x_fit, training=False))
        fit_steps(model, x_fit, y_train[picks[n]], steps, seed=seed)
        rows[-1][mode] = accuracy(model.full if frozen else model, x_test, y_test)
    return rows


def _head_on_features(classifier, features):
    """The layers after ``features`` of a compiled :func:`build_classifier` model, as a model of
    their own on precomputed features (shared weights, same optimizer settings). Training it is
    training the classifier with frozen features, without running the convolutions every step;
    ``.full`` is the whole classifier, for testing on images."""
    from aigc_course._tf import keras

    head = keras.Sequential(
        [keras.Input((features.output_shape[-1],)), *classifier.layers[1:]], name="head_only"
    )
    head.compile(
        optimizer=keras.optimizers.Adam(float(classifier.optimizer.learning_rate)),
        loss=classifier.loss,
        metrics=["accuracy"],
    )
    head.full = classifier
    return head
