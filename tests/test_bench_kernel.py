"""bench names the OpenBLAS kernel and whether the environment forced it."""
import numpy as np

from numpyvae.bench.data import KERNEL_VARS, blas_kernel


def test_the_kernel_says_who_chose_it(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    assert blas_kernel().endswith("(set by OPENBLAS_CORETYPE=Haswell)")
    for v in KERNEL_VARS:
        monkeypatch.delenv(v, raising=False)
    name = blas_kernel()
    assert name.endswith("(OpenBLAS's choice for this CPU)")
    if "openblas" in str(np.show_config(mode="dicts")["Build Dependencies"]["blas"]).lower():
        assert not name.startswith("unknown")             # NumPy's own OpenBLAS answers
