"""Pictures of a learned prior: samples, decoded component means, pseudo-inputs, the 2-D latent density."""
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from numpyvae import VAE
from numpyvae.models.hvae import HVAE
from numpyvae.plots.prior import log_mixture_density, plot_prior, prior_components


def test_mixture_density_matches_scipy():
    rng = np.random.default_rng(0)
    means, logvars = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)) * 0.3
    w = np.array([0.2, 0.5, 0.3])
    z = rng.standard_normal((5, 2))
    expected = np.log(sum(w[c] * multivariate_normal(means[c], np.diag(np.exp(logvars[c]))).pdf(z) for c in range(3)))
    assert np.allclose(log_mixture_density(z, means, logvars, np.log(w)), expected, rtol=1e-12)


@pytest.mark.parametrize("model", [VAE(16, [8], 2, prior="vamp:5"), VAE(16, [8], 2, prior="mog:4"),
                                   HVAE(16, [4, 2], [8], prior="vamp:3")])
def test_plot_prior_writes_its_pictures(model, tmp_path):
    x = (np.random.default_rng(0).uniform(size=(30, 16)) < 0.5).astype(np.float32)
    paths = plot_prior(model, tmp_path, (4, 4), x=x)
    names = {p.name for p in paths}
    assert {"prior_samples.png", "prior_components.png", "prior_latent.png"} <= names
    assert ("pseudo_inputs.png" in names) == (model.prior.name == "vamp")
    assert all(p.stat().st_size > 1000 for p in paths)
    means, logvars, log_w = prior_components(model)
    assert means.shape == logvars.shape == (log_w.size, 2) and np.isclose(np.exp(log_w).sum(), 1, rtol=1e-5)


def test_standard_prior_has_no_components(tmp_path):
    with pytest.raises(ValueError, match="no components"):
        plot_prior(VAE(16, [8], 2), tmp_path, (4, 4))
