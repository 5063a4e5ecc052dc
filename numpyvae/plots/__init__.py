"""Pictures, drawn headless with matplotlib, one call each, written as PNG files.

Every function returns the path it wrote:

    plot_history(history, path)                      loss, reconstruction and KL per epoch          history.py
    plot_reconstructions(model, x, path)             inputs above their reconstructions             decoded.py
    plot_samples(model, path)                        x ~ p(x|z), z ~ p(z) (decoder means)           decoded.py
    plot_interpolation(model, x_a, x_b, path)        decoded straight line from mu(x_a) to mu(x_b) decoded.py
    plot_manifold(model, path)                       decoded grid of z = Φ⁻¹(quantiles), K = 2      decoded.py
    plot_prior_decodings(models, path)               each model's decoder at z ~ N(0, I)            decoded.py
    plot_latent(model, x, y, path)                   E_q[z|x] coloured by label (PCA for K > 2)     latent_space.py
    plot_kl_per_dimension(model, x, path)            which latent dimensions are used               latent_space.py
    plot_code_sweep(model, path)                     categorical latents: one variable swept        latent_space.py
    plot_label_grid(model, path)                     conditional VAE: rows one z, columns labels    latent_space.py
    plot_image_grid(images, path, image_shape)       any images, e.g. a mixture's means             canvas.py
    plot_mixture(mixture, directory, image_shape)    a mixture's component means and samples       mixture.py

All that apply to a run, into its directory: ``run.py`` (:func:`numpyvae.plots.run.plot_run`); a learned
prior's samples and components: ``prior.py``; training as it goes: ``animate.py``. The figure, PNG and
mosaic helpers they share are in ``canvas.py``.
"""
from .canvas import mosaic, plot_image_grid
from .decoded import plot_interpolation, plot_manifold, plot_prior_decodings, plot_reconstructions, plot_samples
from .history import plot_history
from .latent_space import plot_code_sweep, plot_kl_per_dimension, plot_label_grid, plot_latent
from .mixture import plot_mixture

__all__ = ["mosaic", "plot_history", "plot_reconstructions", "plot_samples", "plot_latent", "plot_manifold",
           "plot_interpolation", "plot_kl_per_dimension", "plot_code_sweep", "plot_label_grid", "plot_image_grid",
           "plot_mixture", "plot_prior_decodings"]
