"""Writing .npz files that are identical byte for byte on every rebuild.

np.savez_compressed stamps each member with the current time, so two builds of
the same arrays differ, and a checksum of the file would be useless. An .npz
is just a zip of .npy files, so we write the zip ourselves with every
varying field fixed:

- date_time is 1980-01-01 00:00:00 (the zip format's earliest date);
- the "made by" system and file permissions are fixed;
- members are compressed with bzip2, not deflate. Deflate output depends on
  the library (zlib and zlib-ng, now used by some Linux distributions, give
  different bytes for the same input); bzip2 has a single implementation whose
  output has not changed in years, and it is also ~13% smaller on MNIST.

np.load reads the result like any other .npz (zipfile understands bzip2).
"""
from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np

from ..files import atomic_write_bytes

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
UNIX = 3  # ZipInfo.create_system for Unix; the default depends on the OS running the build


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes of an .npz holding `arrays`, in the given key order, deterministically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_BZIP2
            info.create_system = UNIX
            info.external_attr = 0o644 << 16  # rw-r--r--
            archive.writestr(info, _npy_bytes(array), compresslevel=9)
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    """One array in .npy format (header + raw C-order data), no pickles."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def write_npz_reproducible(path, arrays: dict[str, np.ndarray]) -> str:
    """Write `arrays` to `path` atomically and return the file's SHA-256 (hex)."""
    data = npz_bytes(arrays)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()
