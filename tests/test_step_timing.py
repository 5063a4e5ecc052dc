"""The benchmarks' stopwatches: they count what runs inside, and leave every object as it was."""
import types

import pytest

from numpyvae.bench.step_timing import Stopwatches, Timed, best_per_call


class Ticks:
    """A clock that moves one second per reading, so a timed call adds exactly 1."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


class Thing:
    def forward(self, x):
        return x + 1

    def backward(self, d):
        return 2 * d


def test_timed_passes_the_call_through_and_counts():
    t = Timed(lambda a, b=0: a * 10 + b, Ticks())
    assert t(3, b=4) == 34 and t(1) == 10
    assert t.seconds == 2.0


def test_timed_counts_a_call_that_raises():
    def boom():
        raise KeyError("x")
    t = Timed(boom, Ticks())
    with pytest.raises(KeyError):
        t()
    assert t.seconds == 1.0


def test_groups_take_and_zero():
    a, b = Thing(), Thing()
    watch = Stopwatches(Ticks())
    watch.add("f", a, "forward")
    watch.add("both", b, "forward", "backward")
    assert a.forward(1) == 2 and b.forward(1) == 2 and b.backward(3) == 6 and b.backward(1) == 2
    assert watch.take() == {"f": 1.0, "both": 3.0}
    assert watch.take() == {"f": 0.0, "both": 0.0}


def test_remove_restores_methods_modules_and_earlier_attributes():
    obj = Thing()
    module = types.ModuleType("m")
    module.fn = original_fn = lambda: 5
    own = Thing()
    own.forward = original_own = lambda x: -x           # an instance attribute that was already there
    watch = Stopwatches(Ticks())
    watch.add("g", obj, "forward", "backward")
    watch.add("g", module, "fn")
    watch.add("g", own, "forward")
    assert isinstance(obj.forward, Timed) and isinstance(module.fn, Timed)
    watch.remove()
    assert "forward" not in vars(obj) and "backward" not in vars(obj)     # the class's methods again
    assert obj.forward(1) == 2
    assert module.fn is original_fn and own.forward is original_own
    assert watch.take() == {}


def test_add_layers_times_each_layer_of_the_kind_once():
    class Net:
        def __init__(self, layers):
            self.layers = layers

        def named_layers(self):
            return [(str(i), layer) for i, layer in enumerate(self.layers)]

    shared, other = Thing(), object()
    watch = Stopwatches(Ticks())
    watch.add_layers("things", [Net([shared, other]), Net([shared])], Thing)
    shared.forward(0)
    shared.backward(0)
    assert watch.take() == {"things": 2.0}            # once each, though the layer is in both nets
    watch.add_layers("none", [Net([other])], Thing)
    assert watch.take()["none"] == 0.0
    watch.remove()
    assert "forward" not in vars(shared)


def test_best_per_call_is_the_fastest_repeat_per_call():
    """A fake clock that only fn moves: the first calls cost 5 s each (a busy machine), later ones 2 s;
    the answer is the cost of a call in the fastest repeat, 2 s, whatever the calibration chose."""
    now, calls = [0.0], [0]

    def fn():
        calls[0] += 1
        now[0] += 5.0 if calls[0] <= 10 else 2.0
    assert best_per_call(fn, repeats=4, min_seconds=100.0, clock=lambda: now[0]) == 2.0
    assert calls[0] > 10


def test_best_per_call_of_a_steady_cost():
    now = [0.0]

    def fn():
        now[0] += 0.25
    assert best_per_call(fn, repeats=3, min_seconds=10.0, clock=lambda: now[0]) == 0.25
