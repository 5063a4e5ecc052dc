"""The seeds' experiments, by name: the settings that reproduce each one (``train --preset lecture``).

The presets from the seeds' code keep its start, ``output_bias="zero"`` (Keras' zero biases, PyTorch's
uniform ones), where numpyvae's own default is the data mean (:mod:`numpyvae.run.output_bias`).

Each preset is a dict of settings (:mod:`numpyvae.run.sections`), checked like a TOML file's
(:func:`numpyvae.run.settings.settings_from_sources`); flags given beside ``--preset`` win.
"""
from __future__ import annotations

__all__ = ["PRESETS"]

PRESETS = {
    # the lecture slides: 784-500-500-20, Adam 1e-3, batch 150, 50 epochs, Bernoulli
    "lecture": dict(hidden=[500, 500], z_dim=20, optimizer="adam", lr=1e-3, batch_size=150, epochs=50,
                    output_bias="zero"),
    # the Keras write-up: 784-256-2, RMSprop, Bernoulli on grey levels, batch 100, 50 epochs
    "keras": dict(hidden=[256], z_dim=2, optimizer="rmsprop", lr=1e-3, batch_size=100, epochs=50,
                  binarize="none", output_bias="zero"),
    # the blog post: 784-128-2, MSE + β·KL with Adam 3e-4, batch 8. MSELoss averages over the batch's
    # 8·784 values while the KL is summed over the batch; times 8·784/2 this is, per example, a
    # Gaussian likelihood with σ = 1 and β = 1e-4 · 8 · 784 / 2 = 0.3136.
    "blog": dict(hidden=[128], z_dim=2, activation="tanh", likelihood="gaussian", sigma=1.0, beta=0.3136,
                 optimizer="adam", lr=3e-4, batch_size=8, epochs=20,
                 output_bias="zero"),
    # pytorch/examples' VAE exactly: 784-400-20 ReLU, Bernoulli on grey levels, Adam 1e-3, batch 128,
    # 10 epochs, PyTorch's default initialization (W and b ~ U(±1/√fan_in))
    "pytorch-example": dict(hidden=[400], z_dim=20, optimizer="adam", lr=1e-3, batch_size=128, epochs=10,
                            binarize="none", init="pytorch", output_bias="zero"),
    # Burda, Grosse & Salakhutdinov (2015), section 5: one stochastic layer (784-200-200-50 tanh) and two
    # (784-100-100-100(z1)-50-50-50(z2)), batch 20, Adam beta (0.9, 0.999), eps 1e-4, lr 1e-3·10^(−i/7) for
    # 3^i epochs, i = 0..7 (3280 epochs), dynamic binarization; --objective iwae --n-samples 50 for IWAE.
    # Their code (yburda/iwae, get_train_bias_np) starts the decoder's output bias at logit of the mean image.
    "burda-1l": dict(hidden=[200, 200], z_dim=50, activation="tanh", batch_size=20, optimizer="adam", lr=1e-3,
                     adam_eps=1e-4, lr_schedule="burda", burda_stages=8, epochs=3280, binarize="dynamic",
                     output_bias="data"),
    "burda-2l": dict(hidden=[100, 100], stochastic=[100, 50], activation="tanh", batch_size=20, optimizer="adam",
                     lr=1e-3, adam_eps=1e-4, lr_schedule="burda", burda_stages=8, epochs=3280, binarize="dynamic",
                     output_bias="data"),
    # keras-io's convolutional VAE (fchollet, "Variational AutoEncoder", 2020): Conv(32, 3, s2) -> Conv(64, 3, s2)
    # -> Dense(16) -> z (2-D); Dense(7·7·64) -> ConvT(64, 3, s2) -> ConvT(32, 3, s2) -> ConvT(1, 3) -> logits;
    # ReLU, "same" padding, Glorot uniform weights and zero biases (Keras' defaults), binary cross-entropy on
    # grey levels, Adam 1e-3, batch 128, 30 epochs
    "keras-conv": dict(encoder="conv:32:3:2,conv:64:3:2,flatten,dense:16",
                       decoder="dense:3136,reshape:64:7:7,convt:64:3:2,convt:32:3:2", z_dim=2,
                       init="glorot_uniform", optimizer="adam", lr=1e-3, batch_size=128, epochs=30,
                       binarize="none", output_bias="zero"),
    # a 2-D latent on the ring toy data, drawn in seconds
    "ring": dict(dataset="ring", hidden=[64, 64], z_dim=2, likelihood="gaussian", sigma=0.05,
                 activation="tanh", batch_size=100, epochs=30),
}

