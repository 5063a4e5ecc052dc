"""The grader's side of the channel: what comes back from a submission's sandbox is read as arrays or not at
all (links, pickles, zip bombs, forged statuses are no answer), and only the grader's judge turns it into a grade."""
import importlib.util
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from numpyvae.teach.exercises import EXERCISES, Unanswered, draw_attempt, judge_attempt, learner_args
from numpyvae.teach.grade_channel import answer_arrays, learner_problems, problem_arrays, read_answers

SEED = 11


def _right(mu, logvar):
    return mu.copy(), 0.5 * (np.exp(logvar) - 1.0)


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def _answers(problems, fn=_right):
    out = {}
    for i, (_, arrays) in enumerate(problems):
        out.update({f"p{i}.status": np.array("answered"), f"p{i}.detail": np.array("")},
                   **answer_arrays("kl_backward", i, fn(*learner_args("kl_backward", arrays))))
    return out


def test_right_answers_through_the_channel_pass_and_wrong_ones_fail(tmp_path):
    problems = draw_attempt("kl_backward", SEED)
    path = _save(tmp_path / "a.npz", **_answers(problems))
    assert judge_attempt("kl_backward", SEED, problems, read_answers("kl_backward", path, problems)).passed
    half = _save(tmp_path / "h.npz", **_answers(problems, lambda m, lv: (0.5 * m, 0.25 * (np.exp(lv) - 1))))
    assert judge_attempt("kl_backward", SEED, problems, read_answers("kl_backward", half, problems)).status == "FAIL"


def test_the_learner_gets_its_arguments_only(tmp_path):
    problems = draw_attempt("gumbel_softmax_backward", SEED)
    sent = problem_arrays("gumbel_softmax_backward", problems)
    assert not any("logits" in k for k in sent)                 # what the loss needs, the learner is not given
    _save(tmp_path / "p.npz", **sent)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as data:
        args = learner_problems("gumbel_softmax_backward", data)
    assert len(args) == 3 and isinstance(args[0][2], float)    # tau comes back a Python float


@pytest.mark.parametrize("forge", ["symlink", "pickle", "bomb", "status", "not a zip", "text"])
def test_what_is_not_plain_arrays_is_no_answer(tmp_path, forge):
    problems = draw_attempt("kl_backward", SEED)
    path = tmp_path / "answers.npz"
    if forge == "symlink":                                     # a link to a file of the grader's
        secret = _save(tmp_path / "secret.npz", **_answers(problems))
        os.symlink(secret, path)
    elif forge == "pickle":
        np.savez(path, **{"p0.status": np.array("answered"), "p0.kind": np.array("single"),
                          "p0.out0": np.array([{"a": 1}], dtype=object)})
    elif forge == "bomb":                                      # small on disk, 64 MiB unpacked
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("p0.out0.npy", b"\0" * (64 * 2 ** 20))
        path.write_bytes(buf.getvalue())
    elif forge == "status":                                    # a verdict is not an answer
        _save(path, **{"p0.status": np.array("PASS"), "p0.detail": np.array("forged")})
    elif forge == "not a zip":
        path.write_text("PASS")
    else:                                                      # numbers as text
        _save(path, **{"p0.status": np.array("answered"), "p0.kind": np.array("tuple"),
                       "p0.out0": np.array(["1.0"]), "p0.out1": np.array(["1.0"])})
    g = judge_attempt("kl_backward", SEED, problems, read_answers("kl_backward", path, problems))
    assert g.status == "FAIL" and not g.passed, g.message
    with pytest.raises(Unanswered):
        read_answers("kl_backward", path, problems)(0, problems[0][1])


SOLUTIONS_FILE = Path(__file__).resolve().parent.parent / "tutorials" / "solutions" / "solutions.py"


@pytest.mark.parametrize("name", list(EXERCISES))
def test_every_exercise_goes_through_the_channel_and_back(tmp_path, name):
    """problem.npz -> the learner's arguments -> the teacher's answer -> answers.npz -> PASS, as the worker and the
    grader do it (without the process in between); numbers come back as the Python numbers they were."""
    spec = importlib.util.spec_from_file_location("channel_solutions", SOLUTIONS_FILE)
    sol = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sol)
    problems = draw_attempt(name, SEED)
    _save(tmp_path / "p.npz", **problem_arrays(name, problems))
    with np.load(tmp_path / "p.npz", allow_pickle=False) as data:
        sent = learner_problems(name, data)
    out = {}
    for i, args in enumerate(sent):
        if name != "vae_backward":
            assert [type(a) for a in args] == [type(a) for a in learner_args(name, problems[i][1])]
        out.update({f"p{i}.status": np.array("answered")}, **answer_arrays(name, i, getattr(sol, name)(*args)))
    _save(tmp_path / "a.npz", **out)
    g = judge_attempt(name, SEED, problems, read_answers(name, tmp_path / "a.npz", problems))
    assert g.passed, g.message
