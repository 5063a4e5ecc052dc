"""The registry of paper comparisons that ``python -m numpyvae reproduce`` runs: one entry per claimed effect.

A :class:`Comparison` names two sides (``a``: the baseline, ``b``: the method the paper says is
better), the paper's claim (number, data, setting, citation), the metric and the paper's effect
(b − a, in the metric's units, its sign the direction). The sides are settings of the runner of
their ``kind``:

    "vae"   a TrainConfig (dict of its fields) over the budget's base; metric: log p(x) per test
            example, importance-sampled with the budget's k (higher is better)
    "m2"    TrainConfig fields of ``train --model m2``; metric: test error of M2 (b) against the classifier
            alone (a, run.classifier_alone), %; with ``features: M1_RUN`` in b, M1+M2 (M2 on the features of a
            VAE, M1, that the runner trains first with the budget's "m1" settings)
    "avb"   TrainConfig fields of ``train --model avb`` over the ring preset; metric: log p(x) by quadrature
            over z (no q needed) of AVB (b) and of a VAE of the same sizes (a)
    "cubo"  cubo_q.linear_gaussian_experiment settings; metric: the gap log p(x) − ELBO closed
    "cvae"  structured_output.run settings; metric: log p(x_out | x_in) of the CVAE (b) and a network (a)
    "flow2d" {"K": steps} of a global planar flow fitted to a 2-D density of Rezende & Mohamed's Table 1
            (latent.flows.fit_density, the budget's updates); the "datasets" are the potentials U1–U4;
            metric: KL(q_K ‖ p*) on the same evaluation draws (lower is better)

A value ``M1_RUN`` (an M2 side's ``features``) is replaced by the run directory of M1, trained first;
a value ``K_TRAIN`` in a side is replaced by the budget's training k (Burda et al.: 50 in the
long budget), ``EpochsFraction(f)`` by f times the budget's epochs (a warm-up over part of the run);
``None`` removes the budget's setting (a hierarchy names its layer sizes in place of z_dim). Adding a comparison is one ``register(Comparison(...))`` call below.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Claim", "Comparison", "REGISTRY", "register", "K_TRAIN", "M1_RUN", "EpochsFraction", "BUDGETS"]

K_TRAIN = "<k_train>"          # replaced by the budget's training k
M1_RUN = "<m1_run>"            # replaced by the run directory of M1, trained with the budget's "m1" settings


@dataclass(frozen=True)
class EpochsFraction:
    """A setting counted in epochs, given as a fraction of the budget's epochs (e.g. the KL warm-up)."""
    fraction: float

# Each budget: the base settings of every kind. smoke: seconds a comparison (what the tests run; its
# numbers are no evidence); short: about 24 CPU-minutes for all (measured, one core); long: the papers' k and lengths.
BUDGETS = {
    "smoke": {"quiet": True, "k_train": 2, "k_eval": 10, "n_train": 600, "n_test": 100,
              "vae": dict(hidden=[16], z_dim=4, epochs=1, batch_size=100),
              "m2": dict(labels=20, epochs=1, hidden=[16], z_dim=4, classifier_hidden=[16], batch_size=100, lr=3e-4),
              "m1": dict(hidden=[16], z_dim=4, epochs=1),
              "avb": dict(epochs=1, n_test=50, batch_size=500),
              "cubo": dict(warm_steps=2000, steps=50, k_eval=200),
              "cvae": dict(hidden=[16], z_dim=2, epochs=1, k=5, n_train=600, n_test=100),
              "flow2d": dict(steps=50, samples=20, lr=0.005, n_eval=500)},
    "short": {"quiet": False, "k_train": 5, "k_eval": 500, "n_train": None, "n_test": 500,
              "vae": dict(hidden=[200], z_dim=20, epochs=30, batch_size=128),
              "m2": dict(labels=100, epochs=30, hidden=[500], z_dim=50, classifier_hidden=[500], batch_size=100, lr=3e-4,
                         activation="softplus", init="kingma"),
              "m1": dict(hidden=[500, 500], z_dim=50, activation="softplus", epochs=300),
              "avb": dict(epochs=20, n_test=500, batch_size=100),
              "cubo": dict(warm_steps=2000, steps=1500, k_eval=5000),
              "cvae": dict(hidden=[200], z_dim=20, epochs=10, k=100, n_test=500),
              "flow2d": dict(steps=5000, samples=100, lr=0.005, n_eval=10_000)},
    "long": {"quiet": False, "k_train": 50, "k_eval": 5000, "n_train": None, "n_test": None,
             "vae": dict(hidden=[200, 200], z_dim=50, epochs=3280, batch_size=20, lr_schedule="burda",
                         adam_eps=1e-4),
             "m2": dict(labels=100, epochs=3000, hidden=[500], z_dim=50, classifier_hidden=[500], batch_size=100, lr=3e-4,
                        activation="softplus", init="kingma"),
             "m1": dict(hidden=[500, 500], z_dim=50, activation="softplus", epochs=3000),
             "avb": dict(epochs=200, n_test=1000, batch_size=100),
             "cubo": dict(warm_steps=5000, steps=5000, k_eval=20000),
             "cvae": dict(hidden=[500, 500], z_dim=50, epochs=300, k=5000),
             "flow2d": dict(steps=500_000, samples=100, lr=0.001, n_eval=100_000)},
}


@dataclass(frozen=True)
class Claim:
    """What the paper reports: the effect (``number``), on which data, in which setting, and where."""
    number: str
    data: str
    setting: str
    citation: str


@dataclass(frozen=True)
class Comparison:
    name: str
    kind: str                  # "vae" | "m2" | "avb" | "cubo" | "cvae" | "flow2d"
    label_a: str
    a: dict
    label_b: str
    b: dict
    claim: Claim
    metric: str                # what is compared, its unit
    effect: float              # the paper's b − a in the metric's units (its sign: the direction)
    higher_is_better: bool = True
    direction_only: bool = False   # the paper gives a direction, no number: effect's size means nothing
    measure: str = "log_px"        # "vae" kind: "log_px" (importance-sampled) or "elbo" (a q without a density)
    datasets: tuple = ("digits", "fashion-mnist")
    note: str = ""
    tags: tuple = field(default_factory=tuple)
    # this comparison's own length, by budget name, where its paper's effect needs more updates than the
    # budget's base gives every comparison (e.g. {"short": 100}); both sides train that long
    epochs: dict = field(default_factory=dict)


REGISTRY: dict[str, Comparison] = {}
KINDS = ("vae", "m2", "avb", "cubo", "cvae", "flow2d")
POTENTIALS_2D = ("U1", "U2", "U3", "U4")      # the "datasets" of the flow2d kind: latent.flows.potentials


def register(c: Comparison) -> Comparison:
    if c.name in REGISTRY:
        raise ValueError(f"comparison {c.name!r} is registered twice")
    if c.kind not in KINDS:
        raise ValueError(f"comparison {c.name!r}: kind must be one of {', '.join(KINDS)}, got {c.kind!r}")
    REGISTRY[c.name] = c
    return c


LOG_PX = "test log p(x), nats"
BURDA = "Burda, Grosse & Salakhutdinov 2016 (ICLR), Table 1"
MNIST = "MNIST, dynamically binarized, 60k/10k"

register(Comparison(
    "iwae", "vae", "VAE", {}, "IWAE", {"objective": "iwae", "n_samples": K_TRAIN},
    Claim("+2.0 nats (1 layer), +2.4 (2 layers)", MNIST, "k = 50, 3,280 epochs, log p(x) with k = 5,000", BURDA),
    LOG_PX, 2.0))
register(Comparison(
    "two-layers", "vae", "one stochastic layer", {}, "two stochastic layers", {"stochastic": [100, 50], "z_dim": None},
    Claim("+1.4 nats (VAE), +1.9 (IWAE, k = 50)", MNIST, "784-200-200-50 vs 784-200-200-100-100-50, 3,280 epochs",
          BURDA), LOG_PX, 1.4,
    epochs={"short": 100},
    note="the paper trains 3,280 epochs; after the short budget's base 30 the second layer still loses "
         "(−0.77 ± 0.21 nats, 6 December), so this comparison trains 100 (issue 25)"))
register(Comparison(
    "vamp", "vae", "N(0, I) prior", {}, "VampPrior", {"prior": "vamp:500"},
    Claim("about +3 nats", MNIST, "VampPrior with 500 pseudo-inputs, 1 layer", "Tomczak & Welling 2018 (AISTATS), MNIST results"),
    LOG_PX, 3.0))
register(Comparison(
    "mog10", "vae", "N(0, I) prior", {}, "MoG prior, K = 10", {"prior": "mog:10"},
    Claim("about +2 nats with K = 500", MNIST, "mixture of 500 Gaussians", "Tomczak & Welling 2018 (AISTATS), MNIST results"),
    LOG_PX, 2.0, note="the K = 10 of the priors table (tutorials/reference/deeper-models-and-learned-priors.md); "
                     "the paper's K is 500 (entry mog500)"))
register(Comparison(
    "mog500", "vae", "N(0, I) prior", {}, "MoG prior, K = 500", {"prior": "mog:500"},
    Claim("about +2 nats", MNIST, "mixture of 500 Gaussians", "Tomczak & Welling 2018 (AISTATS), MNIST results"),
    LOG_PX, 2.0))
register(Comparison(
    "iaf", "vae", "diagonal Gaussian q", {}, "IAF q (2 steps)", {"posterior": "iaf:2"},
    Claim("+2 to +3 nats", MNIST, "IAF on a ResNet VAE", "Kingma et al. 2016 (NeurIPS), MNIST results"), LOG_PX, 2.0))
register(Comparison(
    "full-cov", "vae", "diagonal Gaussian q", {"warmup_epochs": EpochsFraction(2 / 3)}, "full-covariance q",
    {"posterior": "full-gaussian", "warmup_epochs": EpochsFraction(2 / 3)},
    Claim("a small gain", MNIST, "full-covariance Gaussian q", "Kingma & Welling 2019, An Introduction to Variational Autoencoders"),
    LOG_PX, 0.5, direction_only=True, note="both sides with the KL warm-up over the first 2/3 of the epochs (issue 25: −1.1 without)"))
for K in (2, 8, 32):
    register(Comparison(
        f"planar{K}", "vae", "diagonal Gaussian q", {"warmup_epochs": EpochsFraction(1 / 3)}, f"planar flow, K = {K} (amortized)",
        {"posterior": f"planar:{K}", "warmup_epochs": EpochsFraction(1 / 3)},
        Claim("the bound improves with K (K = 10, 80)", MNIST, "annealed β from 0.01 to 1 over 10,000 updates; 500k "
              "updates", "Rezende & Mohamed 2015 (ICML), MNIST results"), LOG_PX, 1.0, direction_only=True,
        note="the encoder emits the flow's parameters for every example (the amortization gap); see planar-global"))
    register(Comparison(
        f"planar{K}-global", "vae", "diagonal Gaussian q", {"warmup_epochs": EpochsFraction(1 / 3)},
        f"planar flow, K = {K}, global parameters", {"posterior": f"planar:{K},amortized=false", "warmup_epochs": EpochsFraction(1 / 3)},
        Claim("the bound improves with K", MNIST, "annealed β; 500k updates", "Rezende & Mohamed 2015 (ICML), MNIST results"),
        LOG_PX, 1.0, direction_only=True, note="one flow shared by all examples: no flow parameters for the encoder to amortize"))
for K_a, K_b in ((2, 8), (8, 32)):
    register(Comparison(
        f"planar-2d-K{K_b}", "flow2d", f"planar flow, K = {K_a}", {"K": K_a}, f"planar flow, K = {K_b}", {"K": K_b},
        Claim("the fit to the 2-D densities improves with K = 2, 8, 32", "the four unnormalized 2-D densities "
              "exp(−U) of Table 1", "q_0 = N(0, I) through K planar steps with global parameters, trained on "
              "KL(q_K ‖ p*)", "Rezende & Mohamed 2015 (ICML), Figure 3"),
        "KL(q_K ‖ p*), nats", -1.0, higher_is_better=False, direction_only=True, datasets=POTENTIALS_2D,
        note="the setting where K helps: no encoder, no amortization, thousands of updates of a 2-D map; U2–U4 "
             "walled in to the paper's box |z1| ≤ 4 (not integrable over the plane otherwise); log Z by "
             "quadrature; the SE is over the evaluation draws, one training seed"))
register(Comparison(
    "vr-max", "vae", "VAE", {}, "VR-max", {"objective": "vr-max", "n_samples": K_TRAIN},
    Claim("VR-max ≈ IWAE > VAE", MNIST, "k = 5", "Li & Turner 2016 (NeurIPS), MNIST results"), LOG_PX, 1.0,
    direction_only=True))
register(Comparison(
    "rws", "vae", "wake–sleep", {"model": "helmholtz", "q_update": "sleep"},
    "reweighted wake–sleep", {"model": "helmholtz", "q_update": "both", "n_samples": K_TRAIN},
    Claim("reweighted wake–sleep's log-likelihood beats classic wake–sleep's", MNIST,
          "sigmoid belief nets; K = 5 samples; q by the wake and the sleep phase", "Bornschein & Bengio 2015 (ICLR), "
          "MNIST results"), LOG_PX, 1.0, direction_only=True,
    note="a Helmholtz machine of binary latents (no reparameterization); log p(x) with q(h|x) as the proposal"))
register(Comparison(
    "gumbel", "vae", "straight-through Gumbel", {"posterior": "gumbel-st:10", "prior": "categorical", "z_dim": 200},
    "Gumbel-softmax", {"posterior": "gumbel:10", "prior": "categorical", "z_dim": 200},
    Claim("Gumbel-softmax's bound beats straight-through's", "MNIST, binarized", "20 categorical variables of 10 "
          "classes, τ annealed from 1 to 0.5", "Jang, Gu & Poole 2017 (ICLR), the VAE experiment"), "test ELBO, nats",
    1.0, direction_only=True, measure="elbo",
    note="test ELBO (analytic KL): a relaxed z has no density under the discrete prior, so no log p(x); τ = 1"))
register(Comparison(
    "output-bias", "vae", "output bias 0", {"output_bias": "zero"}, "output bias at the data mean",
    {"output_bias": "data"},
    Claim("an unreported choice in the reference code (yburda/iwae initializes the output bias at the data "
          "mean)", MNIST, "N(0, I) VAE", "yburda/iwae, iwae/vae.py"), LOG_PX, 1.0, direction_only=True,
    note="decided the default output bias: the data mean since issue 25 (+6.29 ± 0.22 nats at 1,000 test digits, "
         "784-200-200-50 tanh, 50 epochs)"))
register(Comparison(
    "m2", "m2", "classifier on the labels alone", {}, "M2", {},
    Claim("11.97% vs 25.8% test error (−13.8 points)", "MNIST, 100 labels, 49,900 unlabeled",
          "M2, 3,000 epochs, α = 0.1·N/N_l on sums, mixed batches, softplus, weights ~ N(0, 0.001²)",
          "Kingma et al. 2014 (NeurIPS), Table 1"),
    "test error, %", -13.8, higher_is_better=False,
    note="the cheap progress signal, argmax_y L(x, y)'s error, is in the JSON"))
register(Comparison(
    "m1-m2", "m2", "classifier on the labels alone", {}, "M1+M2 (M2 on M1's features)",
    {"features": M1_RUN, "hidden": [300], "classifier_hidden": [300]},
    Claim("3.33% vs 25.8% test error (−22.5 points)", "MNIST, 100 labels, 49,900 unlabeled",
          "M1: 784-500-500-50 VAE, softplus; M2 on its active units (a fresh draw each step), 300 hidden units, "
          "3,000 epochs, α = 0.1·N/N_l", "Kingma et al. 2014 (NeurIPS), Table 1; dpkingma/nips14-ssl, "
          "run_2layer_ssl.py"),
    "test error, %", -22.5, higher_is_better=False, epochs={"short": 300},
    note="M1 trains first (the budget's m1 settings: 784-500-500-50, softplus, 300 epochs at the short budget); "
         "the baseline is the classifier on the pixels, as the paper's NN; the same classifier on M1's feature "
         "means, labels alone (the paper's M1+TSVM row), is in the JSON"))
register(Comparison(
    "avb", "avb", "VAE", {}, "AVB (adaptive contrast, ⟨θ(x), s(z)⟩ critic)",
    {"critic": "inner", "adaptive_contrast": True, "beta1": 0.5},
    Claim("AVB with adaptive contrast ≥ VAE", "MNIST (and a 2-D toy)", "Adam β₁ = 0.5, lr 5e-5 / 1e-4",
          "Mescheder, Nowozin & Geiger 2017 (ICML), MNIST results"), "test log p(x) by quadrature, nats", 0.5, direction_only=True,
    datasets=("ring",), note="on the 2-D ring, where log p(x) is exact by quadrature (AVB's q has no density)"))
register(Comparison(
    "cubo", "cubo", "ELBO-trained q", {"steps": 0}, "then trained by CUBO_2", {},
    Claim("the sandwich ELBO ≤ log p(x) ≤ CUBO closes as q improves", "linear Gaussian model whose diagonal q "
          "holds the posterior", "ELBO warm start, k = 32", "Dieng et al. 2017 (NeurIPS)"),
    "gap log p(x) − ELBO closed (a − b), nats", 0.01, direction_only=True, datasets=("linear-gaussian",),
    note="on a posterior with correlation −0.654 CUBO_2 is infinite at the best diagonal q (cubo_q.cubo2_is_finite)"))
for given in ("quadrant", "top-half"):
    register(Comparison(
        f"cvae-{given}", "cvae", "deterministic network", {"given": given}, "conditional VAE", {"given": given},
        Claim("the CVAE's conditional log-likelihood beats the deterministic network's", "MNIST",
              f"complete a digit from {'one quadrant' if given == 'quadrant' else 'its top half'}",
              "Sohn, Lee & Yan 2015 (NeurIPS), MNIST experiments"), "test log p(x_out | x_in), nats", 1.0,
        direction_only=True, datasets=("digits",),
        note="the CVAE's by its IWAE bound (a lower bound on it), the network's exact; prior N(0, I), "
             "not Sohn's prior network"))
