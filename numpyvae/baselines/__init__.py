"""Models the VAE is compared with: mixtures fitted by EM (the lecture's first generative model)."""
