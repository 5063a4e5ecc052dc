"""The latent side: variational families q(z|x), priors p(z) and the KL between them."""
