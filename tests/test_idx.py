"""read_idx: values checked against files written byte by byte with struct."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpyvae.datasets import read_idx

FASHION = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path, type_code, shape, payload: bytes, gz=False, ndim=None):
    """An IDX file by hand: 0x00 0x00 type ndim, big-endian uint32 sizes, payload."""
    ndim = len(shape) if ndim is None else ndim
    raw = struct.pack(">BBBB", 0, 0, type_code, ndim) + struct.pack(f">{len(shape)}I", *shape) + payload
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)
    return Path(path)


@pytest.mark.parametrize("gz", [False, True])
def test_uint8_values_and_shape(tmp_path, gz):
    path = write_idx(tmp_path / "a.idx", 0x08, (2, 3, 4), bytes(range(24)), gz=gz)
    x = read_idx(path)
    assert x.shape == (2, 3, 4) and x.dtype == np.uint8
    assert x[0, 0, 0] == 0 and x[0, 1, 0] == 4 and x[1, 0, 0] == 12 and x[1, 2, 3] == 23  # C order
    x[0, 0, 0] = 7  # writable: a copy, not a view on read-only bytes


@pytest.mark.parametrize("code, fmt, values", [
    (0x09, "b", [-128, -1, 0, 127]),
    (0x0B, "h", [-32768, -2, 3, 32767]),
    (0x0C, "i", [-2**31, -5, 6, 2**31 - 1]),
    (0x0D, "f", [-1.5, 0.0, 0.25, 3.0e38]),
    (0x0E, "d", [-1e300, -0.5, 1.0 / 3.0, 2.5]),
])
def test_big_endian_types(tmp_path, code, fmt, values):
    payload = struct.pack(f">{len(values)}{fmt}", *values)
    x = read_idx(write_idx(tmp_path / "t.idx", code, (2, 2), payload))
    assert x.shape == (2, 2)
    assert x.dtype.isnative
    np.testing.assert_array_equal(x.ravel(), np.array(values, dtype=x.dtype))


@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.randoms())
def test_uint8_round_trip_any_shape(tmp_path_factory, shape, rnd):
    n = int(np.prod(shape))
    payload = bytes(rnd.randrange(256) for _ in range(n))
    x = read_idx(write_idx(tmp_path_factory.mktemp("h") / "x.idx", 0x08, shape, payload))
    assert x.shape == tuple(shape)
    assert x.tobytes() == payload


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data(tmp_path, gz):
    path = write_idx(tmp_path / "short.idx", 0x08, (10, 28, 28), bytes(10 * 784 - 1), gz=gz)
    with pytest.raises(ValueError, match=r"short\.idx.*truncated.*7840 data bytes.*holds 7839"):
        read_idx(path)


def test_extra_bytes(tmp_path):
    path = write_idx(tmp_path / "long.idx", 0x08, (3,), bytes(5))
    with pytest.raises(ValueError, match=r"long\.idx: 2 unexpected bytes"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "hdr.idx"
    path.write_bytes(struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">I", 10))  # 1 of 3 sizes
    with pytest.raises(ValueError, match=r"hdr\.idx: truncated header"):
        read_idx(path)


@pytest.mark.parametrize("content, message", [
    (b"", "too short"),
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01\x00\x00\x00\x00", "not an IDX file.*0x01 0x00"),
    (b"\x00\x00\x0a\x01\x00\x00\x00\x00", "unknown IDX type code 0x0A"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
])
def test_corrupt_header(tmp_path, content, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    raw = struct.pack(">BBBBI", 0, 0, 8, 1, 1000) + bytes(range(256)) * 4
    packed = bytearray(gzip.compress(raw[:1008]))
    path = tmp_path / "cut.gz"
    path.write_bytes(bytes(packed[: len(packed) // 2]))       # download cut in half
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt or truncated gzip"):
        read_idx(path)
    packed[-6] ^= 0xFF                                          # flipped bits: CRC/size check fails
    path.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt or truncated gzip"):
        read_idx(path)


@pytest.mark.skipif(not (FASHION / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_test_labels():
    y = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert np.bincount(y).tolist() == [1000] * 10  # Fashion-MNIST's test set is balanced
    assert y[:5].tolist() == [9, 2, 1, 1, 6]


def test_header_sizes_whose_product_overflows_int64_report_the_true_byte_count(tmp_path):
    # 4 sizes of 2**32 - 1: the product (~3.4e38) overflows int64 and used to print a negative byte count
    big = 2 ** 32 - 1
    path = write_idx(tmp_path / "huge.idx", 0x08, (big, big, big, big), bytes(16))
    with pytest.raises(ValueError, match=r"huge\.idx: truncated") as err:
        read_idx(path)
    assert f"({big ** 4} data bytes)" in str(err.value) and "-" not in str(err.value).split("data bytes")[0][-30:]
