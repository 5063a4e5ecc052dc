"""load(): the bundled digits, Fashion-MNIST, MNIST's cache, the ring, and every error."""
import gzip
import hashlib
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from numpyvae.datasets import DATASETS, Dataset, load
from numpyvae.datasets import digits, fashion

FASHION = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------- bundled digits

@pytest.fixture(scope="module")
def bundled():
    return load("digits")


def test_digits_is_the_default_and_offline(bundled):
    assert isinstance(bundled, Dataset) and bundled.name == "digits"
    assert load().x_train.shape == bundled.x_train.shape


def test_digits_shapes_dtypes_range(bundled):
    d = bundled
    assert d.x_train.shape == (9000, 784) and d.x_test.shape == (1000, 784)
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.image_shape == (28, 28)
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    pixels = np.round(d.x_train * 255)
    np.testing.assert_allclose(d.x_train * 255, pixels, atol=1e-4)   # whole bytes / 255
    assert np.count_nonzero(np.bincount(pixels.astype(np.int64).ravel())) == 256


def test_digits_split_is_stratified_and_disjoint(bundled):
    d = bundled
    assert np.bincount(d.y_test, minlength=10).tolist() == [100] * 10
    assert np.bincount(d.y_train, minlength=10).tolist() == [901, 1027, 891, 932, 880, 763, 914, 970, 844, 878]
    train = {row.tobytes() for row in d.x_train}
    test = {row.tobytes() for row in d.x_test}
    assert len(train) == 9000 and len(test) == 1000 and not (train & test)
    assert len(set(d.y_train[:50].tolist())) == 10        # shuffled: a prefix mixes all classes


def test_digits_look_like_digits(bundled):
    """Cheap sanity on real content: mean MNIST ink ~0.13; '1' has the least ink, '0' the most."""
    d = bundled
    assert 0.12 < d.x_train.mean() < 0.14
    ink = [d.x_train[d.y_train == k].mean() for k in range(10)]
    assert np.argmin(ink) == 1 and np.argmax(ink) == 0
    border = d.x_train.reshape(-1, 28, 28)[:, 0, :]
    assert border.max() == 0.0                              # MNIST digits are centred, row 0 empty


def test_digits_float64_is_the_same_data(bundled):
    d64 = load("digits", dtype="float64")
    assert d64.x_train.dtype == np.float64
    np.testing.assert_array_equal(d64.x_train.astype(np.float32), bundled.x_train)
    np.testing.assert_array_equal(d64.y_test, bundled.y_test)


def test_bundled_file_checksum_matches_constant():
    found = hashlib.sha256(digits.DIGITS_PATH.read_bytes()).hexdigest()
    assert found == digits.DIGITS_SHA256
    assert digits.DIGITS_PATH.stat().st_size < 3_000_000


def test_damaged_digits_file_is_refused(tmp_path):
    copy = tmp_path / "digits.npz"
    data = bytearray(digits.DIGITS_PATH.read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"digits\.npz: SHA-256 is [0-9a-f]{64}, expected.*build_digits\.py"):
        digits.load_digits(path=copy)


def test_missing_digits_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.npz.*build_digits\.py"):
        digits.load_digits(path=tmp_path / "nothere.npz")


def test_wrong_arrays_in_a_file_with_matching_checksum(tmp_path):
    """If file and constant were edited together, the shape check still catches it."""
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((2, 784), np.uint8), y_train=np.zeros(2, np.uint8),
             x_test=np.zeros((1, 784), np.uint8), y_test=np.zeros(1, np.uint8))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=r"x_train is uint8 \(2, 784\), expected uint8 \(9000, 784\)"):
        digits.load_digits(path=path, expected_sha256=sha)


# ---------------------------------------------------------------- load() errors

def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'.*digits, fashion-mnist, mnist, ring"):
        load("cifar")
    assert set(DATASETS) == {"digits", "fashion-mnist", "mnist", "ring"}


@pytest.mark.parametrize("dtype", ["int32", "float16", np.uint8, "banana"])
def test_unsupported_dtype(dtype):
    with pytest.raises(ValueError, match="unsupported dtype"):
        load("digits", dtype=dtype)


def test_unknown_option():
    with pytest.raises(ValueError, match=r"unknown option.*'n_train'"):
        load("digits", n_train=5)


# ---------------------------------------------------------------- Fashion-MNIST / MNIST from IDX

def write_idx(path, shape, payload, gz):
    raw = struct.pack(">BBBB", 0, 0, 0x08, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)


def fake_idx_dir(directory, n_train=4, n_test=2, labels_train=None):
    """Four tiny IDX files, gzip and raw mixed; image k is filled with the byte 10*k."""
    directory.mkdir(exist_ok=True)
    labels_train = labels_train if labels_train is not None else [3, 1, 4, 1][:n_train]
    write_idx(directory / "train-images-idx3-ubyte.gz", (n_train, 28, 28),
              b"".join(bytes([10 * k]) * 784 for k in range(n_train)), gz=True)
    write_idx(directory / "train-labels-idx1-ubyte", (len(labels_train),), bytes(labels_train), gz=False)
    write_idx(directory / "t10k-images-idx3-ubyte", (n_test, 28, 28), bytes([255]) * 784 * n_test, gz=False)
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", (n_test,), bytes([9] * n_test), gz=True)
    return directory


def test_fashion_from_a_directory_argument(tmp_path):
    d = load("fashion-mnist", path=fake_idx_dir(tmp_path / "f"))
    assert d.name == "fashion-mnist" and d.image_shape == (28, 28)
    assert d.x_train.shape == (4, 784) and d.x_train.dtype == np.float32
    np.testing.assert_allclose(d.x_train[:, 0], [0, 10 / 255, 20 / 255, 30 / 255], rtol=1e-6)
    assert d.y_train.tolist() == [3, 1, 4, 1] and d.y_test.tolist() == [9, 9]
    assert (d.x_test == 1.0).all()


def test_fashion_from_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMPYVAE_FASHION_MNIST", str(fake_idx_dir(tmp_path / "f")))
    assert load("fashion-mnist", dtype="float64").x_train.dtype == np.float64


def test_fashion_missing_directory_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)nowhere.*apt-get install dataset-fashion-mnist"
                                                r".*NUMPYVAE_FASHION_MNIST"):
        load("fashion-mnist", path=tmp_path / "nowhere")


def test_fashion_missing_file_is_named(tmp_path):
    directory = fake_idx_dir(tmp_path / "f")
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks t10k-labels-idx1-ubyte\.gz"):
        load("fashion-mnist", path=directory)


def test_fashion_label_count_mismatch(tmp_path):
    directory = fake_idx_dir(tmp_path / "f", labels_train=[1, 2, 3])   # 4 images, 3 labels
    with pytest.raises(ValueError, match=r"labels are uint8 \(3,\), expected uint8 \(4,\)"):
        load("fashion-mnist", path=directory)


def test_fashion_label_out_of_range(tmp_path):
    directory = fake_idx_dir(tmp_path / "f", labels_train=[1, 2, 3, 12])
    with pytest.raises(ValueError, match="label 12 out of range"):
        load("fashion-mnist", path=directory)


def test_fashion_truncated_file(tmp_path):
    directory = fake_idx_dir(tmp_path / "f")
    raw = directory / "t10k-images-idx3-ubyte"
    raw.write_bytes(raw.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: truncated"):
        load("fashion-mnist", path=directory)


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("NUMPYVAE_FASHION_MNIST", raising=False)
    d = load("fashion-mnist")
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.y_train[:5].tolist() == [9, 0, 0, 3, 0]
    assert abs(float(d.x_train.mean()) - 0.2860) < 1e-3      # the published training-set mean
    assert fashion.CLASS_NAMES[d.y_train[0]] == "ankle boot"


def test_mnist_missing_cache_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMPYVAE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"(?s)" + re.escape(str(tmp_path / "mnist")) +
                       r".*python -m numpyvae\.datasets\.fetch.*load\('digits'\)"):
        load("mnist")


def test_mnist_from_a_directory_argument(tmp_path):
    d = load("mnist", path=fake_idx_dir(tmp_path / "m"))
    assert d.name == "mnist" and d.x_train.shape == (4, 784) and "LeCun" in d.source


# ---------------------------------------------------------------- ring

def test_ring_follows_the_map():
    d = load("ring", n_train=500, n_test=100, dtype="float64")
    assert d.x_train.shape == (500, 2) and d.z_test.shape == (100, 2) and d.image_shape is None
    r_z = np.hypot(d.z_train[:, 0], d.z_train[:, 1])
    np.testing.assert_allclose(np.hypot(d.x_train[:, 0], d.x_train[:, 1]), 1 + r_z / 10, rtol=1e-12)
    np.testing.assert_allclose(np.arctan2(d.x_train[:, 1], d.x_train[:, 0]),
                               np.arctan2(d.z_train[:, 1], d.z_train[:, 0]), atol=1e-12)
    assert abs(d.z_train.mean()) < 0.15 and abs(d.z_train.std() - 1) < 0.1


def test_ring_labels_are_octants():
    d = load("ring", n_train=2000, n_test=10, dtype="float64")
    degrees = np.degrees(np.arctan2(d.z_train[:, 1], d.z_train[:, 0])) % 360
    np.testing.assert_array_equal(d.y_train, (degrees // 45).astype(int))
    assert set(d.y_train.tolist()) == set(range(8))


def test_ring_is_seeded():
    a, b, c = load("ring", seed=3), load("ring", seed=3), load("ring", seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.dtype == np.float32 and a.x_train.shape == (10000, 2)
    small = load("ring", n_train=10, seed=3)
    np.testing.assert_array_equal(small.x_test, a.x_test)     # test set independent of n_train


@pytest.mark.parametrize("bad", [0, -5, 2.5])
def test_ring_bad_sizes(bad):
    with pytest.raises(ValueError, match="n_train"):
        load("ring", n_train=bad)


def test_dataset_repr_is_short(bundled):
    assert repr(bundled) == "Dataset('digits', train 9000x784, test 1000x784, float32, image_shape=(28, 28))"


def test_dataset_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="do not match"):
        Dataset("x", np.zeros((3, 2)), np.zeros(2, int), np.zeros((1, 2)), np.zeros(1, int), None, "")


def test_copy_of_fashion_real_files_via_env(tmp_path, monkeypatch):
    """The env var really redirects: a copy of the real files elsewhere is found."""
    if not FASHION.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    target = tmp_path / "fm"
    target.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(FASHION / name, target / name)
        shutil.copy(FASHION / name, target / name.replace("t10k", "train"))
    monkeypatch.setenv("NUMPYVAE_FASHION_MNIST", str(target))
    d = load("fashion-mnist")
    assert d.x_train.shape == (10000, 784)


def _digits_with(bundled, **change):
    arrays = dict(name="digits", x_train=bundled.x_train[:300].copy(), y_train=bundled.y_train[:300].copy(),
                  x_test=bundled.x_test[:100].copy(), y_test=bundled.y_test[:100].copy(),
                  image_shape=bundled.image_shape, source="")
    for key, f in change.items():
        arrays[key] = f(arrays[key])
    return Dataset(**arrays)


def _with_nan(x):
    x[7, 100] = np.nan
    return x


@pytest.mark.parametrize("split", ["x_train", "x_test"])
def test_a_nan_in_either_split_is_refused_when_the_dataset_is_made(bundled, split):
    """A NaN in the test set was never checked: binarization turned it into a 0 and val_loss looked fine."""
    with pytest.raises(ValueError, match=rf"Dataset 'digits': {split} contains 1 non-finite value"):
        _digits_with(bundled, **{split: _with_nan})


@pytest.mark.parametrize("split", ["x_train", "x_test"])
def test_float16_data_is_refused_with_the_cast_to_use(bundled, split):
    with pytest.raises(ValueError, match=rf"Dataset 'digits': {split} has dtype float16; .*astype\('float32'\)"):
        _digits_with(bundled, **{split: lambda x: x.astype(np.float16)})


def test_labels_must_be_integers(bundled):
    with pytest.raises(ValueError, match=r"Dataset 'digits': y_test must hold integer labels, got float64"):
        _digits_with(bundled, y_test=lambda y: y.astype(np.float64))


def test_a_trainer_given_bad_data_refuses_it_before_training(bundled, tmp_path):
    from numpyvae.run.train import TrainConfig, Trainer
    cfg = TrainConfig(hidden=[16], z_dim=2, epochs=1, batch_size=100)
    for bad in (dict(x_test=_with_nan), dict(x_train=lambda x: x.astype(np.float16))):
        with pytest.raises(ValueError, match="Dataset 'digits'"):
            Trainer(cfg, data=_digits_with(bundled, **bad), run_dir=tmp_path / "run", quiet=True)
