"""Conv2D, ConvTranspose2D, Flatten, Reshape: against explicit loops, finite differences and each other.

The naive reference below is written from the definitions with scalar loops (no im2col, no
views), so the fast code is checked against something that shares none of its tricks.
"""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from numpyvae.nn.conv import Conv2D, ConvTranspose2D, col2im, im2col
from numpyvae.nn.shape import Flatten, Reshape
from numpyvae.teach.gradcheck import numerical_gradient, relative_error


# =============================================================================
# naive reference: explicit loops over every index
# =============================================================================

def naive_conv2d(x, Wt, b, stride, padding):
    """y[n,o,i,j] = b[o] + Σ_{c,p,q} Wt[o,c,p,q] xp[n,c,sh i+p,sw j+q], one scalar product at a time."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    O, _, kh, kw = Wt.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    acc = b[o]
                    for c in range(C):
                        for p in range(kh):
                            for q in range(kw):
                                acc += Wt[o, c, p, q] * xp[n, c, sh * i + p, sw * j + q]
                    y[n, o, i, j] = acc
    return y


def naive_conv2d_backward(x, Wt, dy, stride, padding):
    """(dx, dW, db) by sending every dy[n,o,i,j] back along the products it came from."""
    (sh, sw), (ph, pw) = stride, padding
    N, C, H, W = x.shape
    O, _, kh, kw = Wt.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    dxp, dW, db = np.zeros_like(xp), np.zeros_like(Wt), np.zeros(O)
    for n in range(N):
        for o in range(O):
            for i in range(dy.shape[2]):
                for j in range(dy.shape[3]):
                    g = dy[n, o, i, j]
                    db[o] += g
                    for c in range(C):
                        for p in range(kh):
                            for q in range(kw):
                                dW[o, c, p, q] += g * xp[n, c, sh * i + p, sw * j + q]
                                dxp[n, c, sh * i + p, sw * j + q] += g * Wt[o, c, p, q]
    return dxp[:, :, ph:ph + H, pw:pw + W], dW, db


def naive_conv_transpose2d(x, Wt, b, stride, padding, output_padding):
    """PyTorch's definition: each x[n,c,i,j] adds x·Wt[c,o,p,q] at output (sh i+p−ph, sw j+q−pw)."""
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    N, C, H, W = x.shape
    _, O, kh, kw = Wt.shape
    Ho, Wo = (H - 1) * sh - 2 * ph + kh + oph, (W - 1) * sw - 2 * pw + kw + opw
    y = np.zeros((N, O, Ho, Wo)) + b[None, :, None, None]
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    for o in range(O):
                        for p in range(kh):
                            for q in range(kw):
                                h, w = sh * i + p - ph, sw * j + q - pw
                                if 0 <= h < Ho and 0 <= w < Wo:
                                    y[n, o, h, w] += x[n, c, i, j] * Wt[c, o, p, q]
    return y


# =============================================================================
# drawing problems
# =============================================================================

@st.composite
def conv_problems(draw, max_hw=7):
    """A small convolution: batch 1..2, channels 1..3, kernel 1..3, stride 1..3, padding 0..2, odd sizes included."""
    N, C_in, C_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, kh - 2 * ph), max_hw))       # the kernel fits the padded input
    W = draw(st.integers(max(1, kw - 2 * pw), max_hw))
    seed = draw(st.integers(0, 2 ** 16))
    return dict(N=N, C_in=C_in, C_out=C_out, kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), H=H, W=W, seed=seed)


@st.composite
def convT_problems(draw, max_hw=5):
    """A small transposed convolution with 0 <= output_padding < stride and a non-empty output."""
    N, C_in, C_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    oph, opw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
    H, W = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    # padding up to 2, but never cropping the whole output
    ph = draw(st.integers(0, min(2, ((H - 1) * sh + kh + oph - 1) // 2)))
    pw = draw(st.integers(0, min(2, ((W - 1) * sw + kw + opw - 1) // 2)))
    seed = draw(st.integers(0, 2 ** 16))
    return dict(N=N, C_in=C_in, C_out=C_out, kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                output_padding=(oph, opw), H=H, W=W, seed=seed)


def make_conv(pr, dtype="float64"):
    rng = np.random.default_rng(pr["seed"])
    layer = Conv2D(pr["C_in"], pr["C_out"], pr["kernel"], pr["stride"], pr["padding"], rng=rng, dtype=dtype)
    layer.params["b"][:] = rng.standard_normal(pr["C_out"])          # a non-zero bias, so db is exercised
    x = rng.standard_normal((pr["N"], pr["C_in"], pr["H"], pr["W"])).astype(dtype)
    return layer, x, rng


def make_convT(pr, dtype="float64"):
    rng = np.random.default_rng(pr["seed"])
    layer = ConvTranspose2D(pr["C_in"], pr["C_out"], pr["kernel"], pr["stride"], pr["padding"],
                            pr["output_padding"], rng=rng, dtype=dtype)
    layer.params["b"][:] = rng.standard_normal(pr["C_out"])
    x = rng.standard_normal((pr["N"], pr["C_in"], pr["H"], pr["W"])).astype(dtype)
    return layer, x, rng


def fd_check(layer, x, rng):
    """Analytic (x, W, b) gradients of L = Σ dy ⊙ forward(x) against central differences; worst relative error."""
    y, tape = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy, tape)
    loss = lambda _: float(np.sum(dy * layer.forward(x)[0]))         # noqa: E731
    errs = {"x": relative_error(dx, numerical_gradient(loss, x))}
    for name, p in layer.params.items():
        errs[name] = relative_error(layer.grads[name], numerical_gradient(loss, p))
    return errs


# always covered, whatever hypothesis draws: batch 1 with a 1x1 kernel and a stride that skips pixels,
# and an odd size whose last padded row lies in no window
CONV_EXAMPLES = [
    dict(N=1, C_in=1, C_out=2, kernel=(1, 1), stride=(3, 2), padding=(0, 0), H=7, W=5, seed=0),
    dict(N=2, C_in=3, C_out=1, kernel=(3, 2), stride=(2, 3), padding=(1, 2), H=6, W=5, seed=1),
]
CONVT_EXAMPLES = [
    dict(N=1, C_in=2, C_out=1, kernel=(1, 1), stride=(3, 2), padding=(0, 0), output_padding=(2, 1), H=3, W=4, seed=0),
    dict(N=2, C_in=1, C_out=3, kernel=(3, 2), stride=(2, 1), padding=(1, 1), output_padding=(1, 0), H=3, W=4, seed=1),
]


def with_examples(examples):
    def deco(test):
        for ex in examples:
            test = example(ex)(test)
        return test
    return deco


# =============================================================================
# the fast layers against the loops
# =============================================================================

@settings(max_examples=30)
@given(conv_problems())
@with_examples(CONV_EXAMPLES)
def test_conv2d_matches_the_loops(pr):
    layer, x, rng = make_conv(pr)
    y, tape = layer.forward(x)
    Wt, b = layer.params["W"], layer.params["b"]
    np.testing.assert_allclose(y, naive_conv2d(x, Wt, b, pr["stride"], pr["padding"]), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy, tape)
    ndx, ndW, ndb = naive_conv2d_backward(x, Wt, dy, pr["stride"], pr["padding"])
    np.testing.assert_allclose(dx, ndx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], ndW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], ndb, rtol=1e-12, atol=1e-12)


@settings(max_examples=30)
@given(convT_problems())
@with_examples(CONVT_EXAMPLES)
def test_conv_transpose2d_matches_the_loops(pr):
    layer, x, _ = make_convT(pr)
    y, _ = layer.forward(x)
    ref = naive_conv_transpose2d(x, layer.params["W"], layer.params["b"], pr["stride"], pr["padding"],
                                 pr["output_padding"])
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_keras_io_shapes():
    """The conv VAE's layers map 28 -> 14 -> 7 and back 7 -> 14 -> 28 -> 28."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2, 1, 28, 28)).astype(np.float32)
    h, _ = Conv2D(1, 32, 3, 2, 1, rng=rng).forward(x)
    h, _ = Conv2D(32, 64, 3, 2, 1, rng=rng).forward(h)
    assert h.shape == (2, 64, 7, 7)
    h, _ = ConvTranspose2D(64, 64, 3, 2, 1, 1, rng=rng).forward(h)
    assert h.shape == (2, 64, 14, 14)
    h, _ = ConvTranspose2D(64, 32, 3, 2, 1, 1, rng=rng).forward(h)
    h, _ = ConvTranspose2D(32, 1, 3, 1, 1, rng=rng).forward(h)
    assert h.shape == (2, 1, 28, 28) and h.dtype == np.float32


# =============================================================================
# finite differences
# =============================================================================

@settings(max_examples=15)
@given(conv_problems(max_hw=6))
@with_examples(CONV_EXAMPLES)
def test_conv2d_gradients_finite_differences(pr):
    layer, x, rng = make_conv(pr)
    errs = fd_check(layer, x, rng)
    assert max(errs.values()) <= 1e-7, (pr, errs)


@settings(max_examples=15)
@given(convT_problems(max_hw=4))
@with_examples(CONVT_EXAMPLES)
def test_conv_transpose2d_gradients_finite_differences(pr):
    layer, x, rng = make_convT(pr)
    errs = fd_check(layer, x, rng)
    assert max(errs.values()) <= 1e-7, (pr, errs)


def test_finite_difference_check_catches_a_wrong_gradient():
    """The FD harness can fail: a kernel gradient missing its last term is caught."""
    pr = dict(N=2, C_in=2, C_out=3, kernel=(3, 3), stride=(2, 1), padding=(1, 0), H=6, W=5, seed=3)
    layer, x, rng = make_conv(pr)
    y, tape = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    layer.backward(dy, tape)
    layer.grads["W"][..., -1] = 0.0
    num = numerical_gradient(lambda _: float(np.sum(dy * layer.forward(x)[0])), layer.params["W"])
    assert relative_error(layer.grads["W"], num) > 1e-2


# =============================================================================
# the transposed convolution is the adjoint
# =============================================================================

@settings(max_examples=25)
@given(conv_problems())
@with_examples(CONV_EXAMPLES)
def test_conv_transpose_forward_is_conv_input_gradient_bit_for_bit(pr):
    conv, x, rng = make_conv(pr)
    y, tape = conv.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = conv.backward(dy, tape)
    # same kernel array: Conv2D(C_in -> C_out).W is (C_out, C_in, kh, kw) = ConvTranspose2D(C_out -> C_in).W
    H, W = pr["H"], pr["W"]
    (kh, kw), (sh, sw), (ph, pw) = pr["kernel"], pr["stride"], pr["padding"]
    op = ((H + 2 * ph - kh) % sh, (W + 2 * pw - kw) % sw)         # the rows the conv's windows skipped
    convT = ConvTranspose2D(pr["C_out"], pr["C_in"], pr["kernel"], pr["stride"], pr["padding"], op, dtype="float64")
    convT.params["W"][...] = conv.params["W"]                      # its bias stays 0
    xT, _ = convT.forward(dy)
    assert xT.shape == dx.shape and np.array_equal(xT, dx)


@settings(max_examples=25)
@given(conv_problems())
@with_examples(CONV_EXAMPLES)
def test_adjoint_identity(pr):
    """<conv(x), y> = <x, convT(y)> for the bias-free maps with the same kernel."""
    conv, x, rng = make_conv(pr)
    conv.params["b"][:] = 0.0
    cx, _ = conv.forward(x)
    y = rng.standard_normal(cx.shape)
    (kh, kw), (sh, sw), (ph, pw) = pr["kernel"], pr["stride"], pr["padding"]
    op = ((pr["H"] + 2 * ph - kh) % sh, (pr["W"] + 2 * pw - kw) % sw)
    convT = ConvTranspose2D(pr["C_out"], pr["C_in"], pr["kernel"], pr["stride"], pr["padding"], op, dtype="float64")
    convT.params["W"][...] = conv.params["W"]
    ty, _ = convT.forward(y)
    lhs, rhs = float(np.sum(cx * y)), float(np.sum(x * ty))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, float(np.sum(np.abs(cx * y))))


def test_col2im_is_the_adjoint_of_im2col():
    from numpyvae.nn.conv import Geometry
    rng = np.random.default_rng(0)
    g = Geometry(3, 2, 2, 3, 1, 2)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = im2col(x, g)
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, g)), rtol=1e-13)


# =============================================================================
# the contract: accumulate, need_dx, tapes, grads in place, dtypes, leading axes
# =============================================================================

@pytest.mark.parametrize("make", [make_conv, make_convT])
def test_accumulate_adds_and_default_overwrites(make):
    pr = dict(N=2, C_in=2, C_out=3, kernel=(3, 2), stride=(2, 2), padding=(1, 1), output_padding=(1, 0),
              H=5, W=6, seed=7)
    layer, x, rng = make(pr)
    y, tape = layer.forward(x)
    dy1, dy2 = rng.standard_normal(y.shape), rng.standard_normal(y.shape)
    layer.backward(dy1, tape)
    g1 = {k: v.copy() for k, v in layer.grads.items()}
    layer.backward(dy2, tape)
    g2 = {k: v.copy() for k, v in layer.grads.items()}
    assert not np.allclose(g1["W"], g2["W"])                      # overwrote, did not add
    ids = {k: id(v) for k, v in layer.grads.items()}
    layer.backward(dy1, tape, accumulate=True)
    for k in layer.grads:
        np.testing.assert_allclose(layer.grads[k], g1[k] + g2[k], rtol=1e-13, atol=1e-13)
        assert id(layer.grads[k]) == ids[k]                        # written in place, never rebound


@pytest.mark.parametrize("make", [make_conv, make_convT])
def test_tape_independence(make):
    """forward(x1), forward(x2), then backward with x1's tape gives x1's gradients."""
    pr = dict(N=2, C_in=3, C_out=2, kernel=(2, 3), stride=(1, 2), padding=(1, 0), output_padding=(0, 1),
              H=5, W=7, seed=11)
    layer, x1, rng = make(pr)
    x2 = rng.standard_normal(x1.shape)
    y1, tape1 = layer.forward(x1)
    dy = rng.standard_normal(y1.shape)
    dx_ref = layer.backward(dy, tape1).copy()
    g_ref = {k: v.copy() for k, v in layer.grads.items()}
    layer.forward(x1)
    _, tape2 = layer.forward(x2)
    layer.backward(rng.standard_normal(y1.shape), tape2)           # x2's gradients in between
    dx = layer.backward(dy, tape1)
    assert np.array_equal(dx, dx_ref)
    for k in g_ref:
        assert np.array_equal(layer.grads[k], g_ref[k])


@pytest.mark.parametrize("make", [make_conv, make_convT])
def test_need_dx_false_returns_none_with_the_same_weight_gradients(make):
    pr = dict(N=1, C_in=2, C_out=2, kernel=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1),
              H=4, W=4, seed=5)
    layer, x, rng = make(pr)
    y, tape = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    layer.backward(dy, tape)
    ref = {k: v.copy() for k, v in layer.grads.items()}
    assert layer.backward(dy, tape, need_dx=False) is None
    for k in ref:
        assert np.array_equal(layer.grads[k], ref[k])


@pytest.mark.parametrize("make", [make_conv, make_convT])
def test_leading_axes_are_one_batch_axis(make):
    """(S, N, C, H, W) gives the same numbers as (S·N, C, H, W), as Dense does for (..., D)."""
    pr = dict(N=6, C_in=2, C_out=3, kernel=(3, 3), stride=(2, 1), padding=(1, 1), output_padding=(1, 0),
              H=5, W=4, seed=2)
    layer, x, rng = make(pr)
    y, tape = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy, tape)
    gW = layer.grads["W"].copy()
    y5, tape5 = layer.forward(x.reshape((2, 3) + x.shape[1:]))
    assert y5.shape == (2, 3) + y.shape[1:]
    np.testing.assert_allclose(y5.reshape(y.shape), y, rtol=1e-14, atol=1e-14)
    dx5 = layer.backward(dy.reshape(y5.shape), tape5)
    np.testing.assert_allclose(dx5.reshape(dx.shape), dx, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(layer.grads["W"], gW, rtol=1e-13, atol=1e-14)


def test_float32_stays_float32_and_shapes_follow_pytorch():
    rng = np.random.default_rng(0)
    conv, convT = Conv2D(3, 5, (2, 3), rng=rng), ConvTranspose2D(3, 5, (2, 3), rng=rng)
    assert conv.params["W"].shape == (5, 3, 2, 3) and convT.params["W"].shape == (3, 5, 2, 3)
    assert conv.params["b"].shape == convT.params["b"].shape == (5,)
    assert list(conv.params) == list(conv.grads) == ["W", "b"]
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    for layer in (conv, convT):
        assert all(a.dtype == np.float32 for a in (*layer.params.values(), *layer.grads.values()))
        y, tape = layer.forward(x)
        dx = layer.backward(np.ones_like(y), tape)
        assert y.dtype == dx.dtype == np.float32 and dx.shape == x.shape


def test_initializer_uses_the_kernel_fans():
    """Glorot uniform: Var = 2 / (C_in·k² + C_out·k²); He normal: Var = 2 / (C_in·k²)."""
    rng = np.random.default_rng(0)
    W = Conv2D(16, 32, 5, rng=rng, dtype="float64").params["W"]
    assert abs(W.var() / (2 / (16 * 25 + 32 * 25)) - 1) < 0.05
    assert np.abs(W).max() <= np.sqrt(6 / (16 * 25 + 32 * 25))
    W = ConvTranspose2D(32, 16, 5, init="he_normal", rng=rng, dtype="float64").params["W"]
    assert abs(W.var() / (2 / (32 * 25)) - 1) < 0.05
    a = Conv2D(2, 3, 3, rng=np.random.default_rng(4)).params["W"]
    assert np.array_equal(a, Conv2D(2, 3, 3, rng=np.random.default_rng(4)).params["W"])   # seeded


# =============================================================================
# Flatten and Reshape
# =============================================================================

def test_flatten_and_reshape_round_trip_and_gradients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    flat, tape = Flatten().forward(x)
    assert flat.shape == (2, 60) and np.array_equal(flat[1], x[1].ravel())     # (c, h, w) order
    dy = rng.standard_normal(flat.shape)
    assert np.array_equal(Flatten().backward(dy, tape), dy.reshape(x.shape))
    back, tape = Reshape((3, 4, 5)).forward(flat)
    assert np.array_equal(back, x)
    loss = lambda _: float(np.sum(dy * Flatten().forward(x)[0]))                # noqa: E731
    assert relative_error(Flatten().backward(dy, Flatten().forward(x)[1]), numerical_gradient(loss, x)) <= 1e-7
    z = rng.standard_normal((2, 3, 60))                                          # leading sample axis
    r, tape = Reshape((3, 4, 5)).forward(z)
    assert r.shape == (2, 3, 3, 4, 5) and Reshape((3, 4, 5)).backward(r, tape).shape == z.shape
    assert Flatten().backward(dy, Flatten().forward(x)[1], need_dx=False) is None
    assert not Flatten().params and not Reshape(4).grads


def test_flatten_and_reshape_bad_input():
    with pytest.raises(ValueError, match=r"Reshape\(\(64, 7, 7\)\).forward: x must be \(..., 3136\) "
                                         r"to become \(..., 64, 7, 7\), got shape \(2, 3000\)"):
        Reshape((64, 7, 7)).forward(np.zeros((2, 3000)))
    with pytest.raises(ValueError, match=r"Flatten\(n_axes=3\).forward: x needs a batch axis.*\(3, 4, 5\)"):
        Flatten().forward(np.zeros((3, 4, 5)))
    _, tape = Flatten().forward(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(2, 60\), got \(2, 59\)"):
        Flatten().backward(np.zeros((2, 59)), tape)
    with pytest.raises(ValueError, match="Reshape: every size in shape must be an integer >= 1"):
        Reshape((0, 3))


# =============================================================================
# bad input
# =============================================================================

def test_bad_input_errors_name_the_layer_and_the_shapes():
    conv = Conv2D(3, 8, 5, dtype="float64")
    with pytest.raises(ValueError, match=r"Conv2D\(3->8, kernel 5x5.*\)\.forward: kernel 5x5 is larger than the "
                                         r"padded input 4x4 \(input shape \(2, 3, 4, 4\), padding 0x0\)"):
        conv.forward(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"Conv2D\(3->8.*x has 4 channels \(axis -3\) but the layer expects "
                                         r"C_in=3; input shape \(2, 4, 8, 8\)"):
        conv.forward(np.zeros((2, 4, 8, 8)))
    with pytest.raises(ValueError, match=r"x must be \(N, C, H, W\) images.*got shape \(3, 8, 8\)"):
        conv.forward(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="x has dtype float32 but this model uses float64"):
        conv.forward(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        conv.forward(np.full((1, 3, 8, 8), np.nan))
    y, tape = conv.forward(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(2, 8, 4, 4\), got \(2, 8, 4, 5\)"):
        conv.backward(np.zeros((2, 8, 4, 5)), tape)
    with pytest.raises(TypeError, match="tape must be the ConvTape returned by forward"):
        conv.backward(y, None)
    convT = ConvTranspose2D(4, 2, 3, stride=2, padding=2, dtype="float64")
    with pytest.raises(ValueError, match=r"ConvTranspose2D\(4->2.*x has 2 channels.*expects C_in=4"):
        convT.forward(np.zeros((1, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"ConvTranspose2D\(4->2.*output size .* = -1x-1 is empty for input "
                                         r"shape \(1, 4, 1, 1\)"):
        convT.forward(np.zeros((1, 4, 1, 1)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(c_in=0, c_out=2, kernel=3), "Conv2D: c_in must be an integer >= 1, got 0"),
    (dict(c_in=1, c_out=2, kernel=0), r"Conv2D: kernel must be an integer >= 1 or a pair of them, got 0"),
    (dict(c_in=1, c_out=2, kernel=3, stride=(1, 0)), r"Conv2D: stride must be .* got \(1, 0\)"),
    (dict(c_in=1, c_out=2, kernel=3, padding=-1), r"Conv2D: padding must be an integer >= 0"),
    (dict(c_in=1, c_out=2, kernel=3, padding=1.5), r"Conv2D: padding must be an integer >= 0"),
    (dict(c_in=1, c_out=2, kernel=3, init="nope"), "unknown initializer 'nope'"),
    (dict(c_in=1, c_out=2, kernel=3, dtype="int32"), "unsupported dtype"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Conv2D(**kwargs)


def test_output_padding_must_be_below_the_stride():
    with pytest.raises(ValueError, match=r"ConvTranspose2D: output_padding 2x0 must be smaller than the stride 2x2"):
        ConvTranspose2D(1, 1, 3, stride=2, output_padding=(2, 0))
    with pytest.raises(ValueError, match="output_padding 1x1 must be smaller than the stride 1x1"):
        ConvTranspose2D(1, 1, 3, output_padding=1)


def test_exercise_solution_agrees_with_the_layer():
    """Tutorial 15's conv2d_backward_dW reference (teacher material, tap by tap) gives Conv2D.backward's dW."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "tutorials" / "solutions" / "solutions.py"
    spec = importlib.util.spec_from_file_location("solutions", path)
    solutions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solutions)
    pr = dict(N=2, C_in=3, C_out=2, kernel=(3, 3), stride=(2, 2), padding=(1, 1), H=7, W=6, seed=9)
    layer, x, rng = make_conv(pr)
    y, tape = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    layer.backward(dy, tape)
    np.testing.assert_allclose(solutions.conv2d_backward_dW(x, layer.params["W"], dy, 2, 1), layer.grads["W"],
                               rtol=1e-12, atol=1e-12)


def test_a_small_conv_stack_end_to_end_finite_differences():
    """Reshape -> Conv2D -> tanh -> ConvTranspose2D -> Flatten on flat (S, N, 36) input, as a decoder sees z:
    the layers hand each other channel-major views and leading axes, and the chained backward is exact."""
    rng = np.random.default_rng(21)
    reshape, flatten = Reshape((1, 6, 6)), Flatten()
    conv = Conv2D(1, 3, 3, stride=2, padding=1, rng=rng, dtype="float64")
    convT = ConvTranspose2D(3, 2, 3, stride=2, padding=1, output_padding=1, rng=rng, dtype="float64")
    for layer in (conv, convT):
        layer.params["b"][:] = rng.standard_normal(layer.params["b"].shape)
    x = rng.standard_normal((2, 3, 36))

    def forward(x):
        h0, t0 = reshape.forward(x)
        h1, t1 = conv.forward(h0)
        h2 = np.tanh(h1)
        h3, t3 = convT.forward(h2)
        out, t4 = flatten.forward(h3)
        return out, (t0, t1, h2, t3, t4)

    out, (t0, t1, h2, t3, t4) = forward(x)
    assert out.shape == (2, 3, 2 * 6 * 6)
    dy = rng.standard_normal(out.shape)
    d = flatten.backward(dy, t4)
    d = convT.backward(d, t3) * (1.0 - h2 ** 2)
    dx = reshape.backward(conv.backward(d, t1), t0)
    loss = lambda _: float(np.sum(dy * forward(x)[0]))                   # noqa: E731
    assert relative_error(dx, numerical_gradient(loss, x)) <= 1e-7
    for name, layer in (("conv", conv), ("convT", convT)):
        for p in layer.params:
            assert relative_error(layer.grads[p], numerical_gradient(loss, layer.params[p])) <= 1e-7, (name, p)
