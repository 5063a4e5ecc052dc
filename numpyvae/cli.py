"""The command line: python -m numpyvae {train,resume,evaluate,sample,plot,bench}.

Every error a user can cause (a bad flag value, a missing run, a corrupt
checkpoint, a config key that does not exist) ends in one line
"numpyvae: error: ..." and exit status 2, never a traceback from deep inside.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .checkpoint import CheckpointError

EXAMPLES = """examples:
  python -m numpyvae train                       # 784-400-20 VAE on the bundled digits (~2 min)
  python -m numpyvae train --preset keras        # the Keras write-up's 784-256-2 model
  python -m numpyvae train --z-dim 2 --epochs 20 # a 2-D latent space, with its pictures
  python -m numpyvae resume runs/digits-z20-...  --epochs 60
  python -m numpyvae evaluate runs/digits-z20-...
"""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, its type and help taken from the dataclass."""
    from .train import HELP, PRESETS, TrainConfig
    p.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file (keys as the flags, "
                   "with underscores); flags given on the command line win")
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from one of the seeds' experiments")
    choices = {"dataset": ["digits", "fashion-mnist", "mnist", "ring"],
               "binarize": ["auto", "dynamic", "static", "none"],
               "likelihood": ["bernoulli", "gaussian", "gaussian-learned", "continuous-bernoulli"],
               "activation": ["relu", "leaky_relu", "elu", "tanh", "sigmoid", "softplus", "identity"],
               "objective": ["elbo", "iwae"],
               "optimizer": ["adam", "sgd", "momentum", "nesterov", "rmsprop", "adagrad"],
               "dtype": ["float32", "float64"]}
    for f in dataclasses.fields(TrainConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kw = dict(dest=f.name, default=None, help=f"{HELP[f.name]} (default: {default})")
        if f.name == "hidden":
            kw.update(type=int, nargs="+", metavar="SIZE")
        elif f.name in choices:
            kw.update(choices=choices[f.name])
        else:
            kw.update(type=type(default), metavar=f.name.upper())
        p.add_argument(_flag(f.name), **kw)
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--no-plots", action="store_true", help="skip the pictures at the end")


def config_from_args(args) -> "TrainConfig":
    """defaults < --preset < --config file < explicit flags."""
    from .train import PRESETS, TrainConfig, config_from_toml
    settings: dict = {}
    if args.preset:
        settings.update(PRESETS[args.preset])
    if args.config:
        settings.update(config_from_toml(args.config))
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name)
        if value is not None:
            settings[f.name] = value
    where = f"config file {args.config}" if args.config else "settings"
    return TrainConfig.from_dict(settings, where)


def cmd_train(args) -> int:
    from .train import Trainer, new_run_dir
    cfg = config_from_args(args)
    run_dir = new_run_dir(cfg)
    trainer = Trainer(cfg, run_dir=run_dir, quiet=args.quiet)
    return _fit_and_finish(trainer, args)


def cmd_resume(args) -> int:
    from .train import Trainer
    trainer = Trainer.resume(args.run_dir, epochs=args.epochs, quiet=args.quiet)
    if trainer.epoch >= trainer.cfg.epochs:
        print(f"{args.run_dir} has already trained {trainer.epoch} of {trainer.cfg.epochs} epochs; "
              "pass --epochs N (the new total) to train more")
        return 0
    return _fit_and_finish(trainer, args)


def _fit_and_finish(trainer, args) -> int:
    """Train, then draw the pictures; Ctrl-C keeps the last completed epoch."""
    print(f"training {trainer.cfg.dataset}: {trainer.model.x_dim}-{'-'.join(map(str, trainer.cfg.hidden))}-"
          f"{trainer.cfg.z_dim} VAE, {trainer.cfg.likelihood} likelihood, {trainer.cfg.optimizer}, "
          f"{trainer.cfg.epochs} epochs -> {trainer.run_dir}", flush=True)
    try:
        trainer.fit()
    except KeyboardInterrupt:
        print(f"\ninterrupted after {trainer.epoch} epoch(s); continue with: "
              f"python -m numpyvae resume {trainer.run_dir}", file=sys.stderr)
        return 130
    if not args.no_plots:
        from .plots import plot_run
        for path in plot_run(trainer.run_dir):
            print(f"  wrote {path}")
    print(f"run saved in {trainer.run_dir}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate_run, format_table
    results = evaluate_run(args.run_dir, k=args.k, chunk_size=args.chunk_size, baseline=args.baseline,
                           progress=not args.quiet)
    print(format_table(results))
    print(f"saved {Path(args.run_dir) / 'evaluation.json'}")
    return 0


def cmd_sample(args) -> int:
    import numpy as np
    from .checkpoint import load_run
    from .plots import plot_image_grid
    run = load_run(args.run_dir)
    x = run.model.sample(args.n, mean=not args.draw, rng=np.random.default_rng(args.seed))
    out = Path(args.out) if args.out else Path(args.run_dir) / "samples.png"
    shape = (28, 28) if run.model.x_dim == 784 else None
    if shape is None:
        np.save(out.with_suffix(".npy"), x)
        print(f"wrote {out.with_suffix('.npy')}")
    else:
        print(f"wrote {plot_image_grid(x, out, shape, title=f'{args.n} samples from the prior')}")
    return 0


def cmd_plot(args) -> int:
    from .plots import plot_run
    for path in plot_run(args.run_dir):
        print(f"wrote {path}")
    return 0


def cmd_bench(args) -> int:
    from .bench import main as bench_main
    return bench_main(args.bench_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m numpyvae", description="Variational autoencoders in "
                                     "pure NumPy, every gradient written by hand.", epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("train", help="train a VAE (default: on the bundled MNIST digits)")
    add_train_flags(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("resume", help="continue a run from its last checkpoint, bit for bit")
    p.add_argument("run_dir")
    p.add_argument("--epochs", type=int, help="new total number of epochs")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("evaluate", help="test ELBO, importance-sampled log-likelihood, active units")
    p.add_argument("run_dir")
    p.add_argument("--k", type=int, default=5000, help="importance samples per example (default 5000, as in Burda et al.)")
    p.add_argument("--chunk-size", type=int, default=None, help="importance samples per chunk (bounds memory)")
    p.add_argument("--baseline", action="store_true", help="also fit the mixture-model baseline on the same data")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("sample", help="draw digits from a trained model's prior")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=100, help="how many (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draw", action="store_true", help="draw x ~ p(x|z) instead of showing its mean")
    p.add_argument("--out", help="output PNG (default RUN_DIR/samples.png)")
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("plot", help="(re)draw all pictures of a run")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("bench", help="time training epochs against this machine's BLAS bound", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)
    for name, text in (("course", "build the student or teacher edition of the tutorials; notebooks"),   # hook: course
                       ("grade", "grade a folder of students' notebooks or scripts into a CSV")):         # hook: grade
        sub.add_parser(name, help=text, add_help=False).add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        # the benchmark parses its own flags (argparse's REMAINDER would drop leading options)
        return cmd_bench(argparse.Namespace(bench_args=argv[1:]))
    if argv[:1] in (["course"], ["grade"]):            # hook: these two parse their own flags
        from .teach import course, grade
        return (course if argv[0] == "course" else grade).main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, CheckpointError, RuntimeError) as err:
        print(f"numpyvae: error: {err}", file=sys.stderr)
        return 2
