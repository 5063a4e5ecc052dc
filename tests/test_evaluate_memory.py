"""The log p(x) estimate's memory is bounded by its chunks, not by k or the number of test images
(tracemalloc counts NumPy's arrays; nothing is timed)."""
import tracemalloc

import numpy as np

from numpyvae import VAE
from numpyvae.measure import vae_log_likelihood as vll


def peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_test_set_or_k():
    model = VAE(784, [400], 20, seed=0)
    x = (np.random.default_rng(0).random((400, 784)) < 0.3).astype(np.float32)
    run = lambda n, k: peak_mb(lambda: vll.log_likelihood(model, x[:n], k=k, batch_size=100, progress=False))  # noqa: E731
    small, more_images, more_samples = run(100, 200), run(400, 200), run(100, 800)
    # the default chunk fills FAST_CHUNK_MB of working memory (an estimate on the safe side)
    assert small < 1.5 * vll.FAST_CHUNK_MB, small
    assert more_images < 1.2 * small + 2, (small, more_images)       # + the (N,) results, a few kB
    assert more_samples < 1.2 * small + 2, (small, more_samples)


def test_the_default_chunk_is_the_fast_one_unless_memory_is_tighter():
    model = VAE(784, [400], 20, seed=0)
    per_sample = vll._floats_per_sample(model) * 4 * 100
    fast = vll._chunk_size(model, 5000, 100, None, 512, "t")
    assert fast == vll.FAST_CHUNK_MB * 2 ** 20 // per_sample < 5000
    assert vll._chunk_size(model, 5000, 100, None, None, "t") == fast            # no bound: still the fast chunk
    assert vll._chunk_size(model, 5000, 100, None, 16, "t") == 16 * 2 ** 20 // per_sample   # a tighter bound wins
    assert vll._chunk_size(model, 10, 100, None, 512, "t") == 10                 # never more than k
    assert vll._chunk_size(model, 5000, 100, 300, 512, "t") == 300               # the user's choice stands
