"""The one importance-sampling estimator (numpyvae.measure) and each protocol model's log p(x) built on it,
judged against log p(x) computed another way: exact enumeration of a Helmholtz machine's binary codes,
quadrature over M2's and AVB's low-dimensional latents, and a direct log-sum-exp of the same weights."""
import itertools
import math

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from numpyvae.measure import importance_sampled
from numpyvae.models.avb import AVBModel
from numpyvae.models.base import Batch
from numpyvae.models.helmholtz import HelmholtzModel
from numpyvae.models.m2 import M2Model


def test_the_running_log_sum_exp_is_the_log_mean_of_the_same_weights_whatever_the_chunks():
    kept = []

    def log_weights(sl, c, rng):
        w = rng.normal(size=(c, sl.stop - sl.start)) * 50 - 300      # far below exp's range: a naive exp underflows
        kept.append((sl, w))
        return w
    got = importance_sampled(log_weights, 7, 23, np.random.default_rng(1), batch_size=3, chunk=5)
    by_batch = {}
    for sl, w in kept:
        by_batch.setdefault(sl.start, []).append(w)
    want = np.concatenate([logsumexp(np.concatenate(ws), axis=0) - math.log(23) for _, ws in sorted(by_batch.items())])
    mean = np.concatenate([np.concatenate(ws).mean(0) for _, ws in sorted(by_batch.items())])
    np.testing.assert_allclose(got["log_likelihood"], want, rtol=1e-13)
    np.testing.assert_allclose(got["elbo"], mean, rtol=1e-13)
    assert len(kept) == 3 * 5                                         # 3 batches, ⌈23/5⌉ chunks each


def test_helmholtz_log_likelihood_approaches_the_exact_sum_over_all_codes():
    """K = 4 binary latents: p(x) = Σ_h p(h) p(x|h) over all 16 codes, computed here from the logits."""
    hm = HelmholtzModel(6, [5], 4, activation="tanh", seed=3, dtype="float64")
    hm.machine.prior_logits[...] = np.random.default_rng(0).normal(size=4)
    x = (np.random.default_rng(1).random((5, 6)) < 0.5).astype(np.float64)
    codes = np.array(list(itertools.product([0.0, 1.0], repeat=4)))             # (16, 4)
    logits_x = hm.machine.decoder.forward(codes)[0]                             # (16, 6)
    a = hm.machine.prior_logits
    log_ph = (codes * np.log(expit(a)) + (1 - codes) * np.log(expit(-a))).sum(1)
    log_px_h = (x[:, None] * np.log(expit(logits_x)) + (1 - x[:, None]) * np.log(expit(-logits_x))).sum(-1)
    exact = logsumexp(log_ph + log_px_h, axis=1)                                # (5,)
    got = hm.estimates(x, 20000, np.random.default_rng(2), chunk=1000)
    np.testing.assert_allclose(got["log_likelihood"], exact, atol=0.02)
    assert np.all(got["elbo"] < exact)


def test_m2_log_likelihood_sums_the_labels_out_and_approaches_quadrature():
    """z of one dimension: p(x) = (1/C) Σ_y ∫ p(x|z, y) N(z; 0, 1) dz on a fine grid."""
    m = M2Model(4, 3, hidden=[5], z_dim=1, classifier_hidden=[4], activation="tanh", seed=1, dtype="float64")
    # q(z|x, y) wider than the prior: bounded weights (an untrained q narrower than N(0, 1) has weights of
    # infinite variance, and no k makes the comparison tight)
    m.params["vae.encoder.logvar.b"][...] = 1.0
    x = (np.random.default_rng(0).random((4, 4)) < 0.5).astype(np.float64)
    z = np.linspace(-9, 9, 6001)[:, None]
    log_prior = -0.5 * z[:, 0] ** 2 - 0.5 * math.log(2 * math.pi) + math.log(z[1, 0] - z[0, 0])
    per_label = []
    for y in range(3):
        logits = m.vae.decode(z, np.full(z.shape[0], y))[0]                     # (G, D)
        log_px_z = (x[:, None] * np.log(expit(logits)) + (1 - x[:, None]) * np.log(expit(-logits))).sum(-1)
        per_label.append(logsumexp(log_prior + log_px_z, axis=1))
    exact = logsumexp(np.stack(per_label, 1), axis=1) - math.log(3)
    got = m.estimates(x, 20000, np.random.default_rng(3), chunk=5000)
    np.testing.assert_allclose(got["log_px_given_y"], np.stack(per_label, 1), atol=0.02)
    np.testing.assert_allclose(got["log_likelihood"], exact, atol=0.02)


def test_avb_fitted_proposal_estimate_approaches_quadrature():
    m = AVBModel(3, [6], 2, likelihood="gaussian", likelihood_kwargs={"sigma": 0.5}, activation="tanh", seed=2)
    x = m.sample(5, np.random.default_rng(0), mean=False)      # data the model makes: its posterior inside the grid
    exact = m.log_likelihood_by_quadrature(x)
    got = m.estimates(x, 20000, np.random.default_rng(1), chunk=2000)
    np.testing.assert_allclose(got["log_likelihood"], exact, atol=0.03)


def test_avb_steps_fill_each_group_and_extra_critic_steps_touch_only_the_critic():
    m = AVBModel(4, [5], 2, seed=0)
    x = (np.random.default_rng(0).random((6, 4)) < 0.5).astype(np.float32)
    m.backward(m.forward(Batch(x)))
    gen = {k: v.copy() for k, v in m.groups["generator"].grads.items()}
    assert all(np.abs(v).sum() > 0 for v in gen.values())
    m.critic_step(Batch(x))
    assert all(np.array_equal(gen[k], v) for k, v in m.groups["generator"].grads.items())


@pytest.mark.parametrize("model", [HelmholtzModel(4, [3], 2), AVBModel(4, [3], 2)])
def test_models_without_labels_refuse_them(model):
    with pytest.raises(ValueError, match="(not conditional|takes no labels)"):
        model.sample(2, y=1)


@pytest.mark.parametrize("model", [M2Model(5, 3, [4], 2, [3]), HelmholtzModel(5, [4], 3), AVBModel(5, [4], 2)],
                         ids=["m2", "helmholtz", "avb"])
def test_each_protocol_model_keeps_the_contract(model):
    """A Model with its kind, a JSON-able config that rebuilds it, named groups whose params and grads have the
    same names and shapes, and a backward that fills the grads of a forward on a Batch."""
    import json
    from numpyvae.models.base import Model, ParamGroup
    from numpyvae.models.registry import KINDS, model_from_kind
    assert isinstance(model, Model) and model.kind in KINDS
    assert model_from_kind(model.kind, json.loads(json.dumps(model.config))).config == model.config
    for group in model.groups.values():
        assert isinstance(group, ParamGroup) and list(group.params) == list(group.grads)
        assert all(group.params[k].shape == group.grads[k].shape for k in group.params)
    x = (np.random.default_rng(0).random((4, 5)) < 0.5).astype(np.float32)
    batch = Batch(x[:2], np.array([0, 2]), x[2:]) if model.kind == "m2" else Batch(x)
    for group in model.groups.values():
        for g in group.grads.values():
            g[...] = np.nan
    model.backward(model.forward(batch))
    filled = [np.isfinite(g).all() for group in model.groups.values() for g in group.grads.values()]
    assert all(filled), filled
    assert model.sample(3, np.random.default_rng(0)).shape == (3, 5)
    log_px = model.log_likelihood(x, 4, np.random.default_rng(0))          # the protocol's (N,) estimate
    assert log_px.shape == (4,) and np.isfinite(log_px).all() and (log_px < 0).all()


@pytest.mark.parametrize("make", [lambda: M2Model(5, 3, [4], 2, [3]), lambda: HelmholtzModel(5, [4], 3),
                                  lambda: AVBModel(5, [4], 2), lambda: __import__("numpyvae").VAE(5, [4], 2)],
                         ids=["m2", "helmholtz", "avb", "vae"])
def test_every_kind_takes_the_same_rng_forms_for_its_log_likelihood(make):
    """The protocol's rng: None (the evaluation seed), an integer seed, or a Generator; the same seed gives the
    same estimate in every form, and anything else is refused naming rng (an int once reached the Helmholtz
    machine's sampler as is: AttributeError: 'int' object has no attribute 'random')."""
    from numpyvae.seeds import EVAL_SEED
    model = make()
    x = (np.random.default_rng(0).random((4, 5)) < 0.5).astype(np.float32)
    by_int = model.log_likelihood(x, 4, 7)
    np.testing.assert_array_equal(by_int, model.log_likelihood(x, 4, np.random.default_rng(7)))
    np.testing.assert_array_equal(model.log_likelihood(x, 4), model.log_likelihood(x, 4, EVAL_SEED))
    for bad in (-1, "seven", 1.5):
        with pytest.raises(ValueError, match="rng must be None, an integer seed >= 0 or a numpy.random.Generator"):
            model.log_likelihood(x, 4, bad)
