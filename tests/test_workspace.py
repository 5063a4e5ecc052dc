"""The conv layers' reused buffers: handed out again only when no tape, output or view holds them."""
import copy
import pickle
import weakref

import numpy as np
import pytest

from numpyvae.nn.conv import Conv2D, ConvTranspose2D, Geometry, col2im, im2col
from numpyvae.nn.workspace import Workspace


def test_a_released_buffer_is_reused_and_a_held_one_is_not():
    ws = Workspace()
    a, fresh = ws.take("cols", (3, 4), np.float32)
    assert fresh and not a.any()
    a_id = id(a)
    view = a[1:]                                   # a view keeps its base: a is still in use
    b, fresh_b = ws.take("cols", (3, 4), np.float32)
    assert fresh_b and b is not a
    del a, b
    c, fresh_c = ws.take("cols", (3, 4), np.float32)
    assert id(c) != a_id and not fresh_c           # the first one is held by `view`; the second is free
    del view, c
    d, fresh_d = ws.take("cols", (3, 4), np.float32)
    assert not fresh_d                             # either free one may come back, never a new one
    assert ws.nbytes() == 2 * 3 * 4 * 4


def test_shape_dtype_and_role_pick_the_buffer_and_old_ones_are_let_go():
    ws = Workspace(keep=2)
    ws.take("x", (2, 2), np.float32)
    assert not ws.take("x", (2, 2), np.float32)[1]  # the same request again: the free buffer
    assert ws.take("y", (2, 2), np.float32)[1]     # another role: a new buffer
    assert ws.take("x", (2, 2), np.float64)[1]     # another dtype: a new buffer; the free float32 one stays (keep 2)
    assert [a.dtype for a in ws._roles["x"]] == [np.float32, np.float64]
    busy, _ = ws.take("x", (3, 2), np.float32)     # a third: the least recently used (the float32 (2, 2)) goes
    assert [(a.shape, a.dtype) for a in ws._roles["x"]] == [((2, 2), np.float64), ((3, 2), np.float32)]
    assert ws.take("x", (4, 2), np.float32)[1]
    assert any(a is busy for a in ws._roles["x"])  # a busy buffer stays listed: it comes back when freed
    assert len(ws._roles["x"]) == 2


def test_buffers_above_the_size_limit_are_not_kept():
    ws = Workspace(max_buffer_bytes=100)
    small, _ = ws.take("s", (3, 4), np.float64)     # 96 bytes: kept
    big, fresh = ws.take("b", (4, 4), np.float64)   # 128 bytes: handed out, not kept
    assert fresh and ws.nbytes() == small.nbytes
    del big
    assert ws.take("b", (4, 4), np.float64)[1]      # so it is new every time
    del small
    ws.take("s", (5, 4), np.float64)                # too large, in the kept one's role: the free kept one goes
    assert ws.nbytes() == 0                         # (an evaluation's batch does not sit beside training's)


def test_copies_of_a_layer_start_with_an_empty_workspace():
    layer = Conv2D(2, 3, 3, 1, 1, dtype="float64")
    layer.forward(np.ones((2, 2, 5, 5)))
    assert layer.workspace.nbytes() > 0
    assert copy.deepcopy(layer).workspace.nbytes() == 0
    assert pickle.loads(pickle.dumps(layer)).workspace.nbytes() == 0


@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_a_second_forward_leaves_the_first_output_and_tape_alone(cls):
    """Reused buffers must not overwrite what an earlier call still holds: its output, its tape."""
    rng = np.random.default_rng(0)
    layer = cls(3, 4, 3, 2, 1, dtype="float64", rng=rng)
    x1, x2 = rng.standard_normal((2, 2, 3, 6, 6))
    y1, t1 = layer.forward(x1)
    y1_copy = y1.copy()
    dy = rng.standard_normal(y1.shape)
    dx1 = layer.backward(dy, t1)
    dx1_copy, g1 = dx1.copy(), {k: v.copy() for k, v in layer.grads.items()}
    for _ in range(3):                              # steps that would reuse every buffer if they were free
        y2, t2 = layer.forward(x2)
        layer.backward(dy, t2)
        del y2, t2
    assert np.array_equal(y1, y1_copy) and np.array_equal(dx1, dx1_copy)
    assert np.array_equal(layer.backward(dy, t1), dx1_copy)
    assert all(np.array_equal(layer.grads[k], g1[k]) for k in g1)


@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_steps_reuse_the_buffers_instead_of_allocating(cls):
    """Once a step's tape and outputs are gone, the next step takes the same buffers: nothing new."""
    rng = np.random.default_rng(1)
    layer = cls(2, 3, 3, 2, 1, dtype="float32", rng=rng)
    x = rng.standard_normal((4, 2, 7, 7)).astype(np.float32)

    def step():
        y, t = layer.forward(x)
        dx = layer.backward(np.ones_like(y), t)
        return y.copy(), dx.copy()
    y_a, dx_a = step()
    held = {role: [weakref.ref(a) for a in items] for role, items in layer.workspace._roles.items()}
    y_b, dx_b = step()
    now = layer.workspace._roles                   # the very same arrays (not one at a reused address)
    assert now.keys() == held.keys()
    assert all(len(now[r]) == len(held[r]) and all(w() is a for w, a in zip(held[r], now[r])) for r in held)
    assert np.array_equal(y_a, y_b) and np.array_equal(dx_a, dx_b)


@pytest.mark.parametrize("g", [Geometry(3, 3, 2, 2, 1, 1), Geometry(2, 3, 1, 2, 0, 1), Geometry(1, 1, 2, 3, 0, 0),
                               Geometry(3, 2, 3, 1, 2, 0), Geometry(1, 2, 2, 3, 1, 1), Geometry(4, 3, 2, 2, 3, 2)])
def test_workspace_im2col_and_col2im_equal_the_plain_ones_bit_for_bit(g):
    """Reused dirty buffers, the tiled first offsets and the windows clipped at the padding change no bit;
    both equal the definition (a zeroed padded canvas, every entry added, then cropped)."""
    rng = np.random.default_rng(2)
    ws = Workspace()
    for _ in range(3):                                             # the later calls reuse dirty buffers
        x = rng.standard_normal((3, 2, 7, 8))
        cols = im2col(x, g, ws)
        ref = im2col(x, g)
        assert np.array_equal(cols, ref)
        Ho, Wo = g.conv_out(7, 8)
        c = rng.standard_normal((2 * g.kh * g.kw, 3 * Ho * Wo))
        assert np.array_equal(col2im(c, x.shape, g, ws), col2im(c, x.shape, g))
        # and both equal the definition: every entry added onto its pixel, canvas from zeros
        xp = np.zeros((3, 2, 7 + 2 * g.ph, 8 + 2 * g.pw))
        c6 = c.reshape(2, g.kh, g.kw, 3, Ho, Wo)
        for p in range(g.kh):
            for q in range(g.kw):
                for i in range(Ho):
                    for j in range(Wo):
                        xp[:, :, g.sh * i + p, g.sw * j + q] += c6[:, p, q, :, i, j].T
        assert np.allclose(col2im(c, x.shape, g, ws), xp[:, :, g.ph:g.ph + 7, g.pw:g.pw + 8], rtol=1e-13, atol=1e-13)
        del cols


@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_a_layer_used_on_two_batch_shapes_in_a_step_keeps_both_tapes_right_and_reuses_both(cls):
    """As the VampPrior uses its encoder: on the data (N = 4) and on pseudo-inputs (K = 3), then
    backward both with accumulate=True; the same step again takes the buffers of the first."""
    rng = np.random.default_rng(3)
    layer = cls(2, 3, 3, 2, 1, dtype="float64", rng=rng)
    xa, xb = rng.standard_normal((4, 2, 5, 5)), rng.standard_normal((3, 2, 5, 5))

    def step():
        ya, ta = layer.forward(xa)
        yb, tb = layer.forward(xb)
        dya, dyb = np.cos(ya), np.sin(yb)
        dxb = layer.backward(dyb, tb).copy()
        dxa = layer.backward(dya, ta, accumulate=True).copy()
        return ya.copy(), yb.copy(), dxa, dxb, layer.grads["W"].copy()
    first = step()
    # weak references: they neither keep a buffer busy nor let a new one pass for it at a reused address
    held = [weakref.ref(a) for items in layer.workspace._roles.values() for a in items]
    second = step()
    now = [a for items in layer.workspace._roles.values() for a in items]
    assert len(now) == len(held) and all(any(w() is a for w in held) for a in now)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)
    # and every one equals a fresh layer's, used once per shape
    fresh = cls(2, 3, 3, 2, 1, dtype="float64", rng=np.random.default_rng(0))
    fresh.params["W"][...] = layer.params["W"]
    fresh.params["b"][...] = layer.params["b"]
    for x, y_ref in ((xa, first[0]), (xb, first[1])):
        y, _ = fresh.forward(x)
        assert np.array_equal(y, y_ref)
