"""Reading IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a tiny header followed by one C-order array, big-endian:

    bytes 0-1   0x00 0x00                      (always zero)
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16,
                           0x0C int32, 0x0D float32, 0x0E float64
    byte  3     ndim, the number of dimensions
    then        ndim sizes, each a big-endian uint32
    then        prod(sizes) items of that type, big-endian

MNIST's images are (N, 28, 28) uint8 ("idx3"), its labels (N,) uint8 ("idx1").
Files are usually gzip-compressed; we detect gzip from its two magic bytes
(0x1f 0x8b), not from the file name.

Every check below exists because a truncated download or a wrong file would
otherwise surface much later as a strange reshape error or garbage images.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

# type code -> element type, big-endian as stored ('>'); uint8/int8 have no byte order
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a new, writable, native-endian array.

    Parameters
    ----------
    path : str or Path   the file, e.g. "train-images-idx3-ubyte.gz"

    Returns
    -------
    np.ndarray with the shape stored in the header, e.g. (60000, 28, 28) uint8.

    Raises
    ------
    FileNotFoundError  if the file does not exist.
    ValueError         naming the file, if the gzip stream is corrupt, the magic
                       number or type code is wrong, or the data is shorter
                       (truncated) or longer than the header says.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = _read_bytes(path)
    dtype, shape, offset = _parse_header(raw, path)
    _check_length(raw, dtype, shape, offset, path)
    data = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a copy: writable, native byte order


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped if it starts with the gzip magic bytes."""
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: corrupt or truncated gzip stream ({err}); "
                         f"delete the file and download it again") from err


def _parse_header(raw: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """Validate the magic number and return (dtype, shape, byte offset of the data)."""
    if len(raw) < 4:
        raise ValueError(f"{path}: only {len(raw)} bytes, too short for an IDX header (4 bytes at least); "
                         f"the file is truncated or empty")
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(f"{path}: not an IDX file: magic number starts with "
                         f"0x{zero0:02x} 0x{zero1:02x}, expected 0x00 0x00")
    if type_code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header says 0 dimensions; expected at least 1")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"{path}: truncated header: {ndim} dimensions need {offset} header bytes, "
                         f"file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:offset])
    return IDX_TYPES[type_code], shape, offset


def _check_length(raw: bytes, dtype: np.dtype, shape: tuple[int, ...], offset: int, path: Path) -> None:
    """The data must be exactly prod(shape) items long: shorter means truncated."""
    expected = math.prod(shape) * dtype.itemsize      # Python ints: four uint32 sizes overflow int64
    found = len(raw) - offset
    if found < expected:
        raise ValueError(f"{path}: truncated: header says shape {shape} of {dtype.name} "
                         f"({expected} data bytes) but the file holds {found}; download it again")
    if found > expected:
        raise ValueError(f"{path}: {found - expected} unexpected bytes after the data "
                         f"(header says shape {shape} of {dtype.name}, {expected} data bytes); "
                         f"the file is corrupt or not an IDX file")
