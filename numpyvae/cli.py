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

from .argparser import Parser
from .run.checkpoint_format import CheckpointError

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
    """One flag per TrainConfig field; help from numpyvae.run.setting_help, choices from numpyvae.run.settings
    (from the registries)."""
    from .run.config import TrainConfig
    from .run.presets import PRESETS
    from .run.setting_help import HELP
    from .run.settings import CHOICES
    p.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file (keys as the flags, "
                   "with underscores); flags given on the command line win")
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from one of the seeds' experiments")
    for f in dataclasses.fields(TrainConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = f"{default:.4g}" if isinstance(default, float) else default
        kw = dict(dest=f.name, default=None, help=f"{HELP[f.name]} (default: {shown})")
        if f.name in ("hidden", "hidden_dec", "stochastic", "classifier_hidden", "hidden_critic"):
            kw.update(type=int, nargs="+", metavar="SIZE")
        elif isinstance(default, bool):
            kw.update(action="store_const", const=True, help=f"{HELP[f.name]} (default: off)")
        elif f.name in CHOICES:
            kw.update(choices=CHOICES[f.name])
        else:
            kw.update(type=type(default), metavar=f.name.upper())
        p.add_argument(_flag(f.name), **kw)
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--no-plots", action="store_true", help="skip the pictures at the end")
    add_threads_flag(p)


def add_threads_flag(p: argparse.ArgumentParser) -> None:
    """--threads N: pin the BLAS thread count (numpyvae.run.threads); default: chosen by size and load."""
    p.add_argument("--threads", type=_int_at_least(1), default=None, metavar="N",
                   help="BLAS threads for the matmuls, whatever the machine's load (default: numpyvae "
                        "chooses by the model's size and by what else runs; NUMPYVAE_BLAS_THREADS or "
                        "OPENBLAS_NUM_THREADS also pin it)")


def config_from_args(args) -> "TrainConfig":
    """defaults < --preset < --config file < explicit flags; each error names where the value came from."""
    from .run.config import TrainConfig
    from .run.presets import PRESETS
    from .run.settings import config_from_toml, settings_from_sources
    sources = []
    if args.preset:
        sources.append((f"preset {args.preset!r}", PRESETS[args.preset]))
    if args.config:
        sources.append((f"config file {args.config}", config_from_toml(args.config)))
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name)
        if value is not None:
            sources.append((_flag(f.name), {f.name: value}))
    return TrainConfig(**settings_from_sources(sources))


def cmd_train(args) -> int:
    from .run.train import Trainer, new_run_dir
    cfg = config_from_args(args)
    trainer = Trainer(cfg, run_dir=new_run_dir(cfg), quiet=args.quiet)   # owns and checks the directory first
    return _fit_and_finish(trainer, args)


def cmd_m2(args) -> int:
    """The former `m2` command: trains M2 through the one trainer and says once which command it stands for."""
    from .run.m2_command import config_of
    from .run.train import Trainer, new_run_dir
    cfg = config_of(args)
    flags = (f"--model m2 --dataset {cfg.dataset} --labels {cfg.labels} --epochs {cfg.epochs} --batch-size "
             f"{cfg.batch_size} --hidden {' '.join(map(str, cfg.hidden))} --z-dim {cfg.z_dim} --classifier-hidden "
             f"{' '.join(map(str, cfg.classifier_hidden))} --lr {cfg.lr:g} --seed {cfg.seed}")
    print(f"numpyvae: `m2` is an alias of `python -m numpyvae train {flags}`", file=sys.stderr)
    return _fit_and_finish(Trainer(cfg, run_dir=new_run_dir(cfg), quiet=args.quiet), args)


def cmd_resume(args) -> int:
    from .run.train import Trainer
    trainer = Trainer.resume(args.run_dir, epochs=args.epochs, quiet=args.quiet)
    if trainer.epoch >= trainer.cfg.epochs:
        trainer.close()
        print(f"{args.run_dir} has already trained {trainer.epoch} of {trainer.cfg.epochs} epochs; "
              "pass --epochs N (the new total) to train more")
        return 0
    return _fit_and_finish(trainer, args)


def _describe(trainer) -> str:
    """What is being trained, in a few words: sizes and kind."""
    cfg = trainer.cfg
    if trainer.protocol:
        return trainer.model.describe()
    arch = (f"{trainer.model.x_dim}-{'-'.join(map(str, cfg.hidden))}-{cfg.z_dim}" if not (cfg.encoder or cfg.decoder)
            else f"encoder [{cfg.encoder or 'mlp ' + ' '.join(map(str, cfg.hidden))}] z {cfg.z_dim} "
                 f"decoder [{cfg.decoder or 'mlp'}]")
    kind = "plain autoencoder" if cfg.model == "ae" else "VAE"
    if cfg.stochastic:            # a hierarchy: hidden, then the stochastic layer sizes
        arch = f"{trainer.model.x_dim}-{'-'.join(map(str, cfg.hidden))}-{'|'.join(map(str, cfg.stochastic))}"
        kind = "HVAE"
    return f"{arch} {kind}, {cfg.likelihood} likelihood"


def _fit_and_finish(trainer, args) -> int:
    """Train, then draw the pictures, holding the run directory throughout; Ctrl-C keeps the last epoch."""
    print(f"training {trainer.cfg.dataset}: {_describe(trainer)}, {trainer.cfg.optimizer}, "
          f"{trainer.cfg.epochs} epochs -> {trainer.run_dir}", flush=True)
    try:
        try:
            trainer.fit()
        except KeyboardInterrupt:
            print(f"\ninterrupted after {trainer.epoch} epoch(s); continue with: "
                  f"python -m numpyvae resume {trainer.run_dir}", file=sys.stderr)
            return 130
        if not args.no_plots:
            from .plots.run import plot_run
            try:
                for path in plot_run(trainer.run_dir):
                    print(f"  wrote {path}")
            except OSError as err:
                raise ValueError(f"the run is saved in {trainer.run_dir}, but its pictures could not be written "
                                 f"({_os_error(err)}); draw them later with `python -m numpyvae plot`") from None
    finally:
        trainer.close()
    print(f"run saved in {trainer.run_dir}")
    return 0


#: above this estimate, evaluate asks for --force
EVALUATE_MAX_HOURS = 24


def cmd_evaluate(args) -> int:
    from .measure.evaluate import evaluate_run, format_table
    from .measure.report import PROTOCOL_KINDS, evaluate_model_run, format_model_table

    def on_estimate(seconds: float) -> None:
        if seconds > EVALUATE_MAX_HOURS * 3600 and not args.force:
            raise ValueError(f"evaluating with k={args.k} would take about {_duration(seconds)} on this machine; "
                             "lower --k or --n-test, or add --force to run it anyway")
        if seconds > 60:
            print(f"estimated time: about {_duration(seconds)} (k={args.k})", file=sys.stderr, flush=True)

    if _run_kind(args.run_dir) in PROTOCOL_KINDS:
        results = evaluate_model_run(args.run_dir, k=args.k, n_test=args.n_test, baseline=args.baseline,
                                     gaps=args.gaps, chunk_size=args.chunk_size, on_estimate=on_estimate,
                                     progress=not args.quiet)
        print(format_model_table(results))
    else:
        results = evaluate_run(args.run_dir, k=args.k, chunk_size=args.chunk_size, baseline=args.baseline,
                               n_test=args.n_test, progress=not args.quiet, on_estimate=on_estimate, gaps=args.gaps)
        print(format_table(results))
    from .run.memory import peak_memory_mb
    peak = peak_memory_mb()
    print(f"{results['n_test']:,} test examples, k={args.k}: {results['seconds']:.1f} s"
          + (f", peak memory {peak:,.0f} MB" if peak is not None else ""))
    print(f"saved {Path(args.run_dir) / 'evaluation.json'}")
    return 0


def _run_kind(run_dir) -> str:
    """The kind of model a run directory holds (read and validated from its checkpoint)."""
    from .run.checkpoint import read_run_checkpoint
    return read_run_checkpoint(run_dir).kind


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} hours" if seconds >= 3600 else f"{seconds / 60:.0f} minutes"


def cmd_sample(args) -> int:
    import numpy as np
    from .run.checkpoint import load_run
    from .files import check_writable
    from .plots.canvas import plot_image_grid
    out = Path(args.out) if args.out else Path(args.run_dir) / "samples.png"
    run = load_run(args.run_dir)
    image = run.model.x_dim == 784
    if not image:
        out = out.with_suffix(".npy")
    check_writable(out, "samples file")
    y = _labels_for(run, args.label)
    labels = {} if y is None and run.kind == "hvae" else {"y": y}       # the hierarchy takes no labels
    x = run.model.sample(args.n, mean=not args.draw, rng=np.random.default_rng(args.seed), **labels)
    if not image:
        from .files import atomic_save
        atomic_save(out, lambda f: np.save(f, x))
        print(f"wrote {out}")
    else:
        which = "" if y is None else f" with label {args.label}" if args.label is not None else ", labels in turn"
        print(f"wrote {plot_image_grid(x, out, (28, 28), title=f'{args.n} samples from the prior{which}')}")
    return 0


def _labels_for(run, label):
    """The labels to sample with: --label for a conditional VAE or M2 (required by the former), else None."""
    n_classes = getattr(run.model, "n_labels", 0) or getattr(run.model, "n_classes", 0)
    if label is not None and not n_classes:
        raise ValueError(f"sample --label: {run.path} holds a {run.kind} model without labels; remove --label")
    if label is not None and label >= n_classes:
        raise ValueError(f"sample --label {label}: the model's labels are 0..{n_classes - 1}")
    if label is None and getattr(run.model, "n_labels", 0):
        raise ValueError(f"sample: {run.path} holds a conditional VAE; say which digit with --label 0..{n_classes - 1}")
    return label


def cmd_plot(args) -> int:
    from .run.checkpoint import load_run
    from .files import check_writable
    from .plots.run import plot_run
    load_run(args.run_dir)                     # a clear error for a missing or corrupt run, before drawing
    check_writable(Path(args.run_dir) / "history.png", "picture")
    if args.animate:
        from .plots.animate import SNAPSHOTS, LatentSnapshots, write_animation
        snaps = Path(args.run_dir) / SNAPSHOTS
        if not snaps.exists():
            raise ValueError(f"plot --animate: {args.run_dir} has no {SNAPSHOTS}; train with --z-dim 2 "
                             f"--snapshot-every K (e.g. 50) to record the frames")
        print(f"wrote {write_animation(LatentSnapshots.load(snaps), Path(args.run_dir) / 'training.gif')}")
    for path in plot_run(args.run_dir):
        print(f"wrote {path}")
    return 0


def _os_error(err: OSError) -> str:
    """An OSError as "<file>: <reason>" (e.g. "runs/x/samples.png: Is a directory")."""
    where = err.filename if err.filename is not None else ""
    return f"{where}: {err.strerror}" if where and err.strerror else str(err)


def _int_at_least(low: int):
    """An argparse type: an integer >= low, with a message naming the bound."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    return parse


def cmd_bench(args) -> int:
    from .bench.command import main as bench_main
    return bench_main(args.bench_args)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m numpyvae", description="Variational autoencoders in "
                                     "pure NumPy, every gradient written by hand.", epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("train", help="train a model, --model vae|hvae|ae|m2|helmholtz|avb (default: a VAE on the "
                                     "bundled MNIST digits)")
    add_train_flags(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("resume", help="continue a run from its last checkpoint, bit for bit")
    p.add_argument("run_dir")
    p.add_argument("--epochs", type=_int_at_least(1), help="new total number of epochs")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    add_threads_flag(p)
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("evaluate", help="test ELBO, importance-sampled log-likelihood, active units")
    p.add_argument("run_dir")
    p.add_argument("--k", type=_int_at_least(1), default=5000,
                   help="importance samples per example (default 5000, as in Burda et al.)")
    p.add_argument("--chunk-size", type=_int_at_least(1), default=None, help="importance samples per chunk (bounds memory)")
    p.add_argument("--n-test", type=_int_at_least(1), default=None, help="use only the first N test examples")
    p.add_argument("--force", action="store_true",
                   help=f"run even when the estimated time is over {EVALUATE_MAX_HOURS} hours")
    p.add_argument("--baseline", action="store_true", help="also fit the mixture-model baseline on the same data")
    p.add_argument("--gaps", action="store_true",
                   help="also optimize each test example's own q (non-amortized) and split log p(x) − ELBO into "
                        "the approximation and the amortization gap")
    p.add_argument("--quiet", action="store_true")
    add_threads_flag(p)
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("sample", help="draw digits from a trained model's prior")
    p.add_argument("run_dir")
    p.add_argument("-n", type=_int_at_least(1), default=100, help="how many (default 100)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--draw", action="store_true", help="draw x ~ p(x|z) instead of showing its mean")
    p.add_argument("--label", type=_int_at_least(0), default=None,
                   help="the label y of every sample (a conditional VAE, M2; M2 without it: the labels in turn)")
    p.add_argument("--out", help="output PNG (default RUN_DIR/samples.png)")
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("plot", help="(re)draw all pictures of a run")
    p.add_argument("run_dir")
    p.add_argument("--animate", action="store_true",
                   help="also write RUN/training.gif: the 2-D latent space and decoded grid as training went "
                        "(needs a run trained with --snapshot-every K)")
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("m2", help="(replaced by `train --model m2`) semi-supervised M2 with a few labels")
    from .run.m2_command import add_flags as add_m2_flags
    add_m2_flags(p)
    p.set_defaults(func=cmd_m2)
    p = sub.add_parser("reproduce", help="each paper's effect beside ours, paired: reproduce [NAME ...|all] --budget")
    from .measure.reproduce import add_flags as add_reproduce_flags, cmd_reproduce
    add_reproduce_flags(p)
    p.set_defaults(func=cmd_reproduce)
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
        from .teach import course_cli, grade
        return (course_cli if argv[0] == "course" else grade).main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if getattr(args, "threads", None) is not None:
            from .run.threads import pin
            pin(args.threads)
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, CheckpointError, RuntimeError) as err:
        print(f"numpyvae: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:                 # a full disk, a permission, a path in the way
        print(f"numpyvae: error: {_os_error(err)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("numpyvae: error: out of memory; use a smaller model, batch or --chunk-size", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nnumpyvae: interrupted", file=sys.stderr)
        return 130
