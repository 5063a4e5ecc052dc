"""The learner's own exercise functions, read back from their earlier tutorials (for the capstone).

Tutorial 17 assembles the VAE's backward pass from the pieces the learner wrote in
tutorials 02–05 and 16. :func:`your_pieces` finds them where the learner wrote them:
the tutorial scripts ``NN_*.py`` and notebooks ``notebooks/NN_*.ipynb`` of the course
folder. A file is read the way ``python -m numpyvae grade`` reads a submission: only
its definitions run (imports, functions, assignments without calls), never its
training loops. Each piece is graded again on a fresh problem; one that is not
done, not found or wrong is replaced by its stand-in, and the table says which.

When a script and a notebook both define a piece, the one that is more than a stub
(``raise NotImplementedError``) wins, and of two such the one saved last.
"""
from __future__ import annotations

from pathlib import Path

from . import exercises
from .grade_worker import load
from .submission import find_definition

__all__ = ["PIECES", "your_pieces", "find_definition"]

#: the exercises the capstone's backward pass is made of, with the tutorial that asks for each
PIECES = {"dense_backward": "02", "relu_backward": "16", "reparam_backward": "04", "kl_backward": "03",
          "kl_mc_backward": "16", "bernoulli_backward": "05", "iwae_weights": "16"}


#: the capstone's own file, left out when its pieces are looked for (here and by the class grader)
CAPSTONE_FILE = "17_"


def _candidates(folder: Path, skip: str) -> list:
    """Tutorial scripts and notebooks in folder, folder/notebooks and (from inside notebooks/) its parent."""
    roots = [folder, folder / "notebooks"] + ([folder.parent] if folder.name == "notebooks" else [])
    files = []
    for root in roots:
        for pattern in ("[0-9][0-9]_*.py", "[0-9][0-9]_*.ipynb"):
            files += [p for p in sorted(root.glob(pattern)) if not p.name.startswith(skip)]
    return files


def _load(name: str, path: Path):
    """The function ``name`` as the definitions of ``path`` make it, in that file's own namespace (None if not callable)."""
    return load(name, path)[0]


def your_pieces(folder=None, names=None, *, skip: str = CAPSTONE_FILE, verbose: bool = True) -> dict:
    """name -> function for each piece: the learner's own if it passes its grader, else the stand-in.

    folder : the course folder holding the tutorials (default: the current directory)
    names : the pieces to look for (default: PIECES)
    skip : file-name prefix to leave out (the capstone itself)
    Prints one line per piece: where it came from, and PASS / FAIL / NOT DONE with the seed.
    """
    folder = Path.cwd() if folder is None else Path(folder)
    files = _candidates(folder, skip)
    pieces = {}
    for name in (names or PIECES):
        path, stub = find_definition(name, files)
        fn = _load(name, path) if path is not None and not stub else None
        if fn is None:
            where = f"a stub in {path.name}" if path is not None else f"not found in {folder}"
            status, fn = f"NOT DONE ({where})", exercises.stand_in(name)
        else:
            g = exercises.grade(name, fn, verbose=False)
            status = f"{g.status} (seed {g.seed}, worst relative error {g.worst:.1e})"
            if g.passed:
                status = f"yours, from {path.name}: {status}"
            else:
                fn = exercises.stand_in(name)
        if verbose:
            use = "your function" if not fn.__name__.endswith("_stand_in") else "the stand-in"
            print(f"{name:<19} tutorial {PIECES.get(name, '??')}  {status} -> {use}")
        pieces[name] = fn
    return pieces
