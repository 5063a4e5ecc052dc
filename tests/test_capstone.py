"""The capstone (tutorial 17): the grader of vae_backward passes the teacher's assembly and fails wrong ones;
read_tape lays out tutorial 06's tape and refuses other models by name; your_pieces finds a learner's own
functions in their scripts and notebooks."""
import importlib.util
import json
import os
import types
from pathlib import Path

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.teach.exercises import grade, stand_in
from numpyvae.teach.tape_view import read_tape
from numpyvae.teach.your_work import PIECES, find_definition, your_pieces

SOLUTIONS_FILE = Path(__file__).resolve().parent.parent / "tutorials" / "solutions" / "solutions.py"
_spec = importlib.util.spec_from_file_location("teacher_solutions_capstone", SOLUTIONS_FILE)
SOL = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(SOL)


def capstone_with(**pieces):
    """The teacher's vae_backward with some of its pieces swapped for wrong ones."""
    return types.FunctionType(SOL.vae_backward.__code__, {**vars(SOL), **pieces})


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_teacher_assembly_passes_and_every_attempt_has_a_batch_of_one_and_iwae(seed):
    seen = []

    def spy(model, tape):
        seen.append((tape["x"].shape[0], read_tape(model, tape).objective, tape["eps"].shape[0]))
        return SOL.vae_backward(model, tape)
    g = grade("vae_backward", spy, seed=seed, verbose=False)
    assert g.passed and g.worst <= 1e-7, g.message
    assert seen[0][0] == 1 and [o for _, o, _ in seen] == ["elbo", "elbo", "iwae"]
    assert all(S >= 2 for n, _, S in seen[1:])          # several samples where a forgotten 1/S shows


def _times_S(x, logits):                                 # the reconstruction's gradient without the 1/S
    return logits.shape[0] * SOL.bernoulli_backward(x, logits)


def _kl_times_N(mu, logvar):                             # the analytic KL's gradient without the 1/N
    return tuple(mu.shape[0] * g for g in SOL.kl_backward(mu, logvar))


def _uniform_weights(log_w):                             # IWAE treated as the ELBO: 1/(SN) for every sample
    return np.full(log_w.shape, 1.0 / log_w.size)


@pytest.mark.parametrize("wrong, where", [
    (dict(kl_backward=lambda mu, lv: (0 * mu, 0 * lv),
          kl_mc_backward=lambda dkl, mu, lv, eps: (0 * mu, 0 * lv)), "encoder"),   # forgot the KL's gradient
    (dict(bernoulli_backward=_times_S), ""),                                        # dropped 1/S
    (dict(kl_backward=_kl_times_N), "encoder"),                                     # dropped the KL's 1/N
    (dict(iwae_weights=_uniform_weights), ""),                                      # IWAE as if it were the ELBO
    (dict(relu_backward=lambda x, dy: dy), ""),                                     # no ReLU mask
])
def test_wrong_assemblies_fail(wrong, where):
    for seed in (0, 1, 2):
        g = grade("vae_backward", capstone_with(**wrong), seed=seed, verbose=False)
        assert g.status == "FAIL" and g.worst > 1e-3, g.message
        assert where in g.message and "all, vs finite differences" in g.message


def test_answers_that_cannot_be_compared_are_clear_fails():
    def missing(model, tape):
        out = SOL.vae_backward(model, tape)
        del out["encoder.mu.b"]
        return out
    g = grade("vae_backward", missing, seed=0, verbose=False)
    assert g.status == "FAIL" and "no gradient for encoder.mu.b" in g.message
    g = grade("vae_backward", lambda m, t: [1, 2], seed=0, verbose=False)
    assert g.status == "FAIL" and "expected a dict" in g.message
    g = grade("vae_backward", lambda m, t: {k: np.zeros(1) for k in m.params}, seed=0, verbose=False)
    assert g.status == "FAIL" and "must have the parameter's shape" in g.message


def test_the_stand_in_is_model_backward_and_graded_as_the_librarys_answer():
    fn = stand_in("vae_backward")
    assert fn.__name__.endswith("_stand_in")
    g = grade("vae_backward", fn, seed=0, verbose=False)
    assert g.status == "NOT DONE" and "this calls numpyvae's own answer" in g.message
    model = VAE(5, [4], 2, seed=1, dtype="float64")
    tape = model.forward(np.full((2, 5), 1.0))
    want = {k: v.copy() for k, v in model.backward(tape).items()}
    assert all(np.array_equal(fn(model, tape)[k], want[k]) for k in want)


def test_read_tape_lays_out_the_forward_pass():
    model = VAE(5, [4, 3], 2, seed=1, dtype="float64", hidden_dec=[3])
    x = (np.random.default_rng(0).random((2, 5)) < 0.5).astype(np.float64)
    tape = model.forward(x, np.random.default_rng(1).standard_normal((3, 2, 2)))
    view = read_tape(model, tape)
    assert [s.name for s in view.encoder] == ["encoder.0", "encoder.1"]
    assert [s.name for s in view.decoder] == ["decoder.0"]
    assert view.objective == "elbo" and view.kl == "analytic" and view.decoder_head.name == "decoder.out"
    for step in view.encoder + view.decoder:               # h = max(a, 0), a = x W + b, rows
        np.testing.assert_array_equal(step.h, np.maximum(step.a, 0))
        assert step.x.ndim == 2 and step.a.shape == (step.x.shape[0], step.W.shape[1])
    assert view.decoder[0].x.shape == (6, 2)               # S·N = 6 rows of z
    np.testing.assert_array_equal(view.decoder[0].x, tape["z"].reshape(6, 2))
    assert read_tape(model, model.forward(x, n_samples=2, objective="iwae")).objective == "iwae"


@pytest.mark.parametrize("kwargs, setting", [
    (dict(activation="tanh"), "activation='tanh'"),
    (dict(prior="mog:3"), "prior='mog'"),
    (dict(likelihood="gaussian"), "likelihood='gaussian'"),
    (dict(posterior="planar:2"), "posterior='planar"),
])
def test_read_tape_refuses_other_models_by_name(kwargs, setting):
    model = VAE(4, [3], 2, seed=0, dtype="float64", **kwargs)
    x = np.full((1, 4), 0.5)
    with pytest.raises(ValueError, match=r"read_tape: the capstone walks tutorial 06's model .*" + setting):
        read_tape(model, model.forward(x))
    with pytest.raises(TypeError, match="pass the tape model.forward returned"):
        read_tape(VAE(4, [3], 2, seed=0), {"x": x})


DENSE_STUB = "def dense_backward(x, W, b, dy):\n    raise NotImplementedError\n"
DENSE_RIGHT = "def dense_backward(x, W, b, dy):\n    return dy @ W.T, x.T @ dy, dy.sum(axis=0)\n"
DENSE_WRONG = "def dense_backward(x, W, b, dy):\n    return dy @ W.T, x.T @ dy, dy.mean(axis=0)\n"


def _notebook(path, code):
    cells = [{"cell_type": "code", "metadata": {}, "source": code, "outputs": [], "execution_count": None}]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_your_pieces_reads_the_learners_script_or_notebook(tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    script, notebook = tmp_path / "02_dense.py", tmp_path / "notebooks" / "02_dense.ipynb"
    script.write_text("# %%\nimport numpy as np\n\n# %%\n" + DENSE_STUB + "\nprint('a loop that must not run')\n")
    _notebook(notebook, DENSE_RIGHT)
    os.utime(notebook, (1, 1))                             # older, but the only one that is done
    assert find_definition("dense_backward", [script, notebook]) == (notebook, False)
    fn = your_pieces(tmp_path, ["dense_backward"])["dense_backward"]
    assert not fn.__name__.endswith("_stand_in")
    out = capsys.readouterr().out
    assert "yours, from 02_dense.ipynb: PASS" in out and "a loop that must not run" not in out

    script.write_text(DENSE_WRONG)                          # wrong, and newer than the right notebook
    assert find_definition("dense_backward", [script, notebook])[0] == script
    fn = your_pieces(tmp_path, ["dense_backward"])["dense_backward"]
    assert fn.__name__.endswith("_stand_in") and "FAIL (seed" in capsys.readouterr().out

    notebook.unlink()
    script.write_text(DENSE_STUB)
    pieces = your_pieces(tmp_path / "notebooks", ["dense_backward", "kl_backward"])    # from inside notebooks/
    out = capsys.readouterr().out
    assert "NOT DONE (a stub in 02_dense.py)" in out and "kl_backward" in out and "NOT DONE (not found" in out
    assert all(f.__name__.endswith("_stand_in") for f in pieces.values())


def test_the_pieces_are_the_exercises_the_capstone_solution_calls():
    names = set(SOL.vae_backward.__code__.co_names) | {
        n for c in SOL.vae_backward.__code__.co_consts if isinstance(c, types.CodeType) for n in c.co_names}
    assert set(PIECES) <= names


def test_read_tape_refuses_a_hierarchy_in_one_line():
    from numpyvae.models.hvae import HVAE
    model = HVAE(4, [3, 2], [3], activation="relu", seed=0, dtype="float64")
    x = np.full((1, 4), 0.5)
    with pytest.raises(ValueError, match=r"kind='hvae' \(the capstone's is the one-layer 'vae'; trace_step shows"):
        read_tape(model, model.forward(x))


def test_the_class_grader_and_tutorial_17_agree_on_the_capstone(tmp_path):
    """A course folder laid out as the tutorials: the pieces in their tutorials (kl_backward wrong), the capstone in
    17. Tutorial 17's own check (your_pieces, then grade) and the class grader give the same verdict on one seed,
    each piece taken from its own file (17's helper of the same name does not replace 02's)."""
    import inspect

    from numpyvae.teach import grade as class_grade
    from numpyvae.teach import sandbox
    from numpyvae.teach.grade_worker import load

    def source(*names):
        return "import numpy as np\n\n" + "\n\n".join(inspect.getsource(getattr(SOL, n)) for n in names)
    (tmp_path / "02_dense.py").write_text(source("dense_backward"))
    (tmp_path / "03_elbo.py").write_text("import numpy as np\n\ndef kl_backward(mu, logvar):\n"
                                         "    return 0.5 * mu, 0.25 * (np.exp(logvar) - 1.0)\n")
    (tmp_path / "04_reparam.py").write_text(source("reparam_backward"))
    (tmp_path / "05_likelihoods.py").write_text(source("bernoulli_backward"))
    (tmp_path / "16_workbook.py").write_text(source("relu_backward", "kl_mc_backward", "iwae_weights"))
    (tmp_path / "17_capstone.py").write_text(
        "import numpy as np\nfrom numpyvae.teach.tape_view import read_tape\n\n"
        "def dense_backward(x, W, b, dy):\n    return 0 * dy @ W.T, 0 * x.T @ dy, 0 * dy.sum(axis=0)\n\n"
        "pieces = your_pieces(HERE)\n\n" + inspect.getsource(SOL.vae_backward))
    pieces = your_pieces(tmp_path, verbose=False)                    # what tutorial 17 runs
    assert pieces["kl_backward"].__name__.endswith("_stand_in") and not pieces["dense_backward"].__name__.endswith(
        "_stand_in")
    fn, namespace = load("vae_backward", tmp_path / "17_capstone.py")
    namespace.update(pieces)
    files = sorted(tmp_path.glob("*.py"))
    mode = "bwrap" if sandbox.bwrap_problem() is None else "none"
    notebook = grade("vae_backward", fn, seed=0, verbose=False)
    graded = class_grade.grade_student(files, ["vae_backward", "kl_backward"], class_grade.Limits(timeout=30),
                                       seed=0, mode=mode)
    assert graded["kl_backward"].status == "FAIL"
    assert graded["vae_backward"].message == notebook.message              # same verdict, same worst error


def test_in_the_class_grader_the_capstone_cannot_return_model_backward(tmp_path):
    """Called directly, kept from a class body before the call, or through the stand-in: NOT DONE, in the sandbox."""
    from numpyvae.teach import grade as class_grade
    from numpyvae.teach import sandbox
    (tmp_path / "direct.py").write_text("def vae_backward(model, tape):\n    return model.backward(tape)\n")
    (tmp_path / "kept.py").write_text("from numpyvae.models.vae import VAE\n\nclass Keep:\n    backward = VAE.backward\n\n"
                                      "def vae_backward(model, tape):\n    return Keep.backward(model, tape)\n")
    (tmp_path / "stand_in.py").write_text("from numpyvae.teach import exercises as E\n\n"
                                          "def vae_backward(model, tape):\n    return E.stand_in('vae_backward')(model, tape)\n")
    mode = "bwrap" if sandbox.bwrap_problem() is None else "none"
    for path in sorted(tmp_path.glob("*.py")):
        r = class_grade.grade_student([path], ["vae_backward"], class_grade.Limits(timeout=20), seed=1, mode=mode)
        assert r["vae_backward"].status == "NOT DONE", (path.name, r["vae_backward"].message)
        assert "this calls numpyvae's own answer" in r["vae_backward"].message
