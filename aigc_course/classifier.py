"""The course's evaluation classifier: a small CNN per data set, trained once and cached.

The Inception network behind the usual FID and Inception Score was trained on photographs and
needs the internet to download; for 28x28 digits and clothes we use a small CNN trained on the
same dataset instead (a *domain classifier*). Its penultimate layer gives the features for the
Fréchet distance (:func:`features`), its softmax the class probabilities for the classifier
score. :mod:`aigc_course.metrics` builds the scores on top of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
import weakref
from pathlib import Path

import numpy as np

from aigc_course.atomic import atomic_path
from aigc_course.env import is_smoke
from aigc_course.errors import ConfigError
from aigc_course.images import to_float
from aigc_course.inference import BATCH

CACHE_VERSION = 1  # bump when the classifier's architecture or training recipe changes
FEATURE_LAYER = "features"
_SEED = 1234
_memo: dict[tuple[str, bool], object] = {}  # (dataset, smoke) -> classifier, per process
_feature_models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # classifier -> model


def _cache_dir() -> Path:
    env = os.environ.get("AIGC_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aigc_course"


def _check_shape(shape: tuple, what: str) -> None:
    if len(shape) not in (3, 4) or tuple(shape[1:]) not in ((28, 28), (28, 28, 1)):
        raise ConfigError(
            f"{what} must have shape (N, 28, 28) or (N, 28, 28, 1), got {shape}; "
            "pass a batch of images, e.g. images[None] for a single one"
        )


def _as_model_input(images, what: str = "images") -> np.ndarray:
    """uint8 (N,28,28[,1]) or float in [-1,1] -> float32 (N,28,28,1) in [-1,1]."""
    _check_shape(np.shape(images), what)
    return to_float(images, what)


# --------------------------------------------------------------------------- the classifier


def _build_classifier(smoke: bool):
    from aigc_course._tf import keras

    L = keras.layers
    c1, c2, dense = (8, 16, 32) if smoke else (16, 32, 128)

    def init(i: int):
        return keras.initializers.GlorotUniform(seed=_SEED + i)

    inputs = keras.Input((28, 28, 1), name="image")
    x = L.Conv2D(c1, 3, padding="same", activation="relu", kernel_initializer=init(0))(inputs)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(c2, 3, padding="same", activation="relu", kernel_initializer=init(1))(x)
    x = L.MaxPooling2D()(x)
    x = L.Flatten()(x)
    x = L.Dense(dense, activation="relu", kernel_initializer=init(2), name=FEATURE_LAYER)(x)
    x = L.Dropout(0.3, seed=_SEED)(x)
    outputs = L.Dense(10, activation="softmax", kernel_initializer=init(3), name="probs")(x)
    return keras.Model(inputs, outputs, name="domain_classifier")


def _train_classifier(images, labels, smoke: bool, verbose: bool):
    """Fit with a fixed seed; the batch order comes from NumPy, so no global RNG is touched."""
    from aigc_course._tf import keras, tf

    epochs, batch = (2, 32) if smoke else (3, 128)
    model = _build_classifier(smoke)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(_SEED)
    steps = len(images) // batch
    order = np.concatenate([rng.permutation(len(images))[: steps * batch] for _ in range(epochs)])
    pixels, targets = tf.constant(images), tf.constant(labels.astype(np.int32))

    def lookup(idx):
        x = tf.cast(tf.gather(pixels, idx), tf.float32) / 127.5 - 1.0
        return x[..., None], tf.gather(targets, idx)

    ds = tf.data.Dataset.from_tensor_slices(order).batch(batch).map(lookup).prefetch(2)
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=1 if verbose else 0)
    return model


def _fingerprint(images: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(images).data, digest_size=4).hexdigest()


def _accuracy(model, images, labels) -> float:
    probs = _features_and_probs(images, "", model, "test images")[1]
    return float(np.mean(probs.argmax(axis=1) == labels))


def get_classifier(dataset: str = "mnist", verbose: bool = True):
    """The evaluation classifier for ``dataset``: trained once (about a minute), then cached.

    The cache file lives in ``AIGC_CACHE_DIR`` (default ``~/.cache/aigc_course``); its name
    holds the dataset, the training data's size and fingerprint, the smoke flag and a
    version, so a different data source or recipe never reuses a stale model. Under
    ``AIGC_SMOKE=1`` a tiny model is trained on 2,000 images for two epochs instead.
    Prints one line with the test accuracy (``verbose=False`` silences it).
    """
    from aigc_course._tf import keras
    from aigc_course.data import load_dataset

    smoke = is_smoke()
    if (dataset, smoke) in _memo:
        return _memo[(dataset, smoke)]
    train_x, train_y = load_dataset(dataset, split="train", verbose=False)
    test_x, test_y = load_dataset(dataset, split="test", verbose=False)
    if smoke:
        train_x, train_y, test_x, test_y = (
            train_x[:2000],
            train_y[:2000],
            test_x[:1000],
            test_y[:1000],
        )
    tag = "smoke" if smoke else "full"
    name = f"classifier-{dataset}-{tag}-n{len(train_x)}-{_fingerprint(train_x)}-v{CACHE_VERSION}"
    model_path = _cache_dir() / f"{name}.keras"
    meta_path = _cache_dir() / f"{name}.json"

    model, how = None, ""
    if model_path.exists() and meta_path.exists():
        try:
            model = keras.models.load_model(model_path, compile=False)
            acc = json.loads(meta_path.read_text())["test_accuracy"]
            how = "loaded from the cache"
        except Exception as err:  # any unreadable cache entry (corrupt, older Keras): retrain
            warnings.warn(
                f"could not load cached classifier {model_path} ({err}); retraining", stacklevel=2
            )
            model = None
    if model is None:
        if verbose:
            print(f"Training the {dataset} evaluation classifier once (cached afterwards) ...")
        start = time.perf_counter()
        model = _train_classifier(train_x, train_y, smoke, verbose)
        acc = _accuracy(model, test_x, test_y)
        seconds = time.perf_counter() - start
        model_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "dataset": dataset,
            "test_accuracy": acc,
            "train_size": len(train_x),
            "smoke": smoke,
            "seconds": round(seconds, 1),
            "version": CACHE_VERSION,
        }
        # the metadata goes first: a model file on disk always has its metadata beside it
        with atomic_path(meta_path) as tmp:
            tmp.write_text(json.dumps(meta, indent=1))
        with atomic_path(model_path) as tmp:
            model.save(tmp)
        how = f"trained in {seconds:.0f} s"
    if verbose:
        print(f"{dataset} classifier: test accuracy {acc:.1%} ({how})")
    _memo[(dataset, smoke)] = model
    return model


# --------------------------------------------------------------------------- features, scores


def _feature_model(classifier):
    from aigc_course._tf import keras

    if classifier not in _feature_models:
        try:
            layer = classifier.get_layer(FEATURE_LAYER)
        except ValueError:
            raise ValueError(
                f"the classifier has no layer named {FEATURE_LAYER!r}: build it with "
                "get_classifier() or name its penultimate layer so"
            ) from None
        outputs = [layer.output, classifier.outputs[0]]
        _feature_models[classifier] = keras.Model(classifier.inputs[0], outputs)
    return _feature_models[classifier]


def _features_and_probs(images, dataset: str, classifier, what: str):
    model = _feature_model(classifier if classifier is not None else get_classifier(dataset))
    x = _as_model_input(images, what)
    if len(x) == 0:
        raise ValueError(f"{what} is empty: pass at least one image")
    feats, probs = [], []
    for i in range(0, len(x), BATCH):
        f, p = model(x[i : i + BATCH], training=False)
        feats.append(np.asarray(f))
        probs.append(np.asarray(p))
    return np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64)


def features(images, dataset: str = "mnist", *, classifier=None) -> np.ndarray:
    """The classifier's penultimate-layer activations, float64 (N, D): FID's feature space."""
    return _features_and_probs(images, dataset, classifier, "images")[0]


__all__ = ["CACHE_VERSION", "FEATURE_LAYER", "get_classifier", "features"]
