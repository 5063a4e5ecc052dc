"""The only way into and out of a submission's sandbox: two ``.npz`` files of plain arrays.

The class grader draws an attempt's problems in its own process, writes the learner's arguments
(:func:`problem_arrays`, nothing else: not the Gumbel-softmax's logits, not the capstone's
reference) to ``problem.npz``; the sandboxed worker computes the learner's answers and writes
``answers.npz`` (:func:`answer_arrays`); the grader reads that back with :func:`read_answers`:
``allow_pickle=False``, a regular file of bounded size, every key one it expects, every array
a number array of the size it expects. What comes back is only ever judged by the grader
(:func:`numpyvae.teach.exercises.judge_attempt`), so a forged file can at most be a (wrong or
right) answer, never a verdict.

Per problem i: ``p{i}.status`` is one of STATUSES, ``p{i}.detail`` says why (text, cut short),
and the outputs are ``p{i}.out{k}`` (``p{i}.kind`` "tuple" or "single") or, for the capstone,
``p{i}.grad.{parameter name}`` (kind "dict").
"""
from __future__ import annotations

import io
import json
import os
import stat
import zipfile

import numpy as np

from .exercises import CALLS_THE_ANSWER, EXERCISES, Unanswered

__all__ = ["STATUSES", "problem_arrays", "learner_problems", "answer_arrays", "read_answers", "ANSWER_BYTES"]

STATUSES = ("answered", "not done", "raised", "bad output", "calls the answer")
ANSWER_BYTES = 16 * 2 ** 20        # the largest answers.npz read, packed and unpacked
DETAIL_CHARS = 300
CAPSTONE = "vae_backward"


def problem_arrays(name: str, problems: list) -> dict:
    """key -> array for ``problem.npz``: the learner's arguments of each problem, and nothing more."""
    ex, out = EXERCISES[name], {}
    for i, (_, arrays) in enumerate(problems):
        if name == CAPSTONE:
            out.update({f"p{i}.config": np.array(json.dumps(arrays["model"].config)),
                        f"p{i}.params": arrays["_params"], f"p{i}.x": arrays["_x"], f"p{i}.eps": arrays["_eps"],
                        f"p{i}.objective": np.array(arrays["_objective"])})
        else:
            out.update({f"p{i}.{a}": np.asarray(arrays[a]) for a in ex.args})
    return out


def learner_problems(name: str, data) -> list:
    """The worker's side: argument tuples, one per problem, from a loaded ``problem.npz``."""
    ex, problems, i = EXERCISES[name], [], 0
    while f"p{i}.{'params' if name == CAPSTONE else ex.args[0]}" in data:
        if name == CAPSTONE:
            from .capstone import rebuild
            problems.append(rebuild(json.loads(str(data[f"p{i}.config"])), data[f"p{i}.params"], data[f"p{i}.x"],
                                    data[f"p{i}.eps"], str(data[f"p{i}.objective"])))
        else:
            problems.append(tuple(data[f"p{i}.{a}"].item() if data[f"p{i}.{a}"].ndim == 0 else data[f"p{i}.{a}"]
                                  for a in ex.args))            # a 0-d array is the Python number it was
        i += 1
    return problems


def _numbers(value, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the output for {what} is not an array of numbers ({type(err).__name__})") from None


def answer_arrays(name: str, i: int, outs) -> dict:
    """The worker's side: key -> array for one problem's answer ``outs`` (raises ValueError if it is not numbers)."""
    ex = EXERCISES[name]
    if name == CAPSTONE:
        if not isinstance(outs, dict):
            raise ValueError(f"expected a dict {{parameter name: gradient}} with the names of model.params, "
                             f"got {type(outs).__name__}")
        arrays = {f"p{i}.grad.{k}": _numbers(v, k) for k, v in outs.items() if isinstance(k, str)}
        return {f"p{i}.kind": np.array("dict"), **arrays}
    if isinstance(outs, (tuple, list)):
        names = list(ex.wrt) + [f"output {k}" for k in range(len(ex.wrt), len(outs))]
        return {f"p{i}.kind": np.array("tuple"), **{f"p{i}.out{k}": _numbers(o, names[k]) for k, o in enumerate(outs)}}
    return {f"p{i}.kind": np.array("single"), f"p{i}.out0": _numbers(outs, ex.wrt[0])}


def _answers_bytes(path) -> bytes:
    """The answers file, if it is a regular file (not a link to one of the grader's) that unpacks to a bounded size."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > ANSWER_BYTES:
            raise ValueError("answers.npz is not a regular file of at most 16 MiB")
        raw = f.read(ANSWER_BYTES + 1)
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        if len(z.infolist()) > 10_000 or sum(i.file_size for i in z.infolist()) > ANSWER_BYTES:
            raise ValueError("answers.npz unpacks to more than 16 MiB")
    return raw


def _text(data, key: str) -> str:
    if key not in data:
        return ""
    value = data[key]
    return str(value)[:DETAIL_CHARS] if value.dtype.kind == "U" and value.ndim == 0 else ""


def _array(data, key: str) -> np.ndarray:
    value = data[key]
    if value.dtype.kind not in "fiub":
        raise ValueError(f"{key} is not an array of numbers")
    return value.astype(np.float64)


def _answer(name: str, data, i: int, arrays: dict):
    """One problem's outputs, as the learner's function returned them, or Unanswered."""
    status = _text(data, f"p{i}.status")
    detail = _text(data, f"p{i}.detail")
    if status == "calls the answer":
        raise Unanswered("NOT DONE", f"{CALLS_THE_ANSWER} ({detail}); write it from your own pieces")
    if status == "not done":
        raise Unanswered("NOT DONE", f"not implemented yet; write {EXERCISES[name].signature}")
    if status in ("raised", "bad output"):
        raise Unanswered("FAIL", f"your function raised {detail}" if status == "raised" else detail)
    if status != "answered":
        raise Unanswered("FAIL", "no answer came back from the submission's process")
    kind = _text(data, f"p{i}.kind")
    if name == CAPSTONE:
        params = arrays["model"].params
        return {k: _array(data, f"p{i}.grad.{k}") for k in params if f"p{i}.grad.{k}" in data}
    ex = EXERCISES[name]
    outs = []
    while f"p{i}.out{len(outs)}" in data and len(outs) <= len(ex.wrt):
        outs.append(_array(data, f"p{i}.out{len(outs)}"))
    if kind == "single" and len(outs) == 1:
        return outs[0]
    if kind == "tuple":
        return tuple(outs)
    raise Unanswered("FAIL", "the answers file is not one the grader wrote the format of")


def read_answers(name: str, path, problems: list):
    """answer_of(i, arrays) for :func:`numpyvae.teach.exercises.judge_attempt`, from the worker's ``answers.npz``.

    A missing, oversized, linked or malformed file, or one with pickles, is no answer (Unanswered FAIL, with why).
    """
    try:
        with np.load(io.BytesIO(_answers_bytes(path)), allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        data, why = None, "no answer came back from the submission's process"
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        data, why = None, f"the answers could not be read ({type(err).__name__}: {str(err)[:120]})"

    def answer_of(i, arrays):
        if data is None:
            raise Unanswered("FAIL", why)
        try:
            return _answer(name, data, i, arrays)
        except ValueError as err:
            raise Unanswered("FAIL", f"the answers could not be read ({str(err)[:120]})") from None
    return answer_of
