"""Shared pieces of the sparsecl Python tests: a float64 NumPy reference (forward and backward)
and the patterns' definitions written out in NumPy, independent of the library."""
import numpy as np
import pytest

import sparsecl


def pytest_report_header(config):
    try:
        devs = sparsecl.devices()
    except sparsecl.Error as e:  # pragma: no cover - depends on the machine
        devs = "none (%s)" % e
    return "sparsecl %s (library %s), bf16: %s, devices: %s" % (sparsecl.__version__, sparsecl.library_version(),
                                                                sparsecl.HAVE_BF16, devs)


@pytest.fixture(scope="session", autouse=True)
def device():
    """Every test needs an OpenCL device; without one the suite is skipped, not failed."""
    try:
        rt = sparsecl.default_runtime()
    except sparsecl.NoDeviceError as e:  # pragma: no cover - depends on the machine
        pytest.skip("no OpenCL device: %s" % e)
    return rt


def causal_strided(nq, nk, l):
    """causal & strided(l) as patterns/README.md defines it (Child et al. 2019)."""
    i = np.arange(nq)[:, None]
    j = np.arange(nk)[None, :]
    return (j <= i) & ((np.abs(i - j) <= l) | ((i - j) % l == 0))


def local(nq, nk, w):
    i = np.arange(nq)[:, None]
    j = np.arange(nk)[None, :]
    return np.abs(i - j) <= w


def to_bhnd(x, layout):
    return x if layout == "bhnd" else np.swapaxes(x, 1, 2)


def _softmax(q, k, mask, scale):
    """The masked softmax P of q k^T * scale (k repeated per query head) and its lse [B, H, N_q];
    rows with no allowed key give P = 0 and lse = -inf (the library's convention)."""
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    s = np.where(np.broadcast_to(mask, s.shape), s, -np.inf)
    m = s.max(-1, keepdims=True)
    finite = np.isfinite(m)
    p = np.where(finite, np.exp(s - np.where(finite, m, 0)), 0.0)
    l = p.sum(-1, keepdims=True)
    pn = np.divide(p, l, out=np.zeros_like(p), where=l > 0)
    with np.errstate(divide="ignore"):
        lse = np.where(finite, m + np.log(np.where(l > 0, l, 1)), -np.inf)[..., 0]
    return pn, lse


def _bhnd64(layout, *xs):
    """The arrays as float64 [B, H, N, d], and the query heads per key/value head."""
    xs = tuple(to_bhnd(np.asarray(x, np.float64), layout) for x in xs)
    return xs, xs[0].shape[1] // xs[1].shape[1]


def reference(q, k, v, mask, scale=None, layout="bhnd"):
    """float64 attention: o [like q], lse [B, H, N_q]; mask [N_q, N_k] or [H, N_q, N_k];
    rows with no allowed key give o = 0 and lse = -inf (the library's convention)."""
    (q, k, v), g = _bhnd64(layout, q, k, v)
    k, v = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)
    scale = 1.0 / np.sqrt(q.shape[3]) if scale is None else scale
    p, lse = _softmax(q, k, mask, scale)
    return to_bhnd(np.einsum("bhij,bhjd->bhid", p, v), layout), lse


def reference_backward(q, k, v, mask, dout, scale=None, layout="bhnd"):
    """float64 gradients (dq, dk, dv) of reference() for dO = dout; dk/dv summed over groups."""
    (q, k, v, dout), g = _bhnd64(layout, q, k, v, dout)
    b, hk = k.shape[:2]
    ke, ve = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)
    scale = 1.0 / np.sqrt(q.shape[3]) if scale is None else scale
    p, _ = _softmax(q, ke, mask, scale)
    o = np.einsum("bhij,bhjd->bhid", p, ve)
    dp = np.einsum("bhid,bhjd->bhij", dout, ve)
    dsum = (dout * o).sum(-1, keepdims=True)
    ds = p * (dp - dsum)
    dq = np.einsum("bhij,bhjd->bhid", ds, ke) * scale
    dk = np.einsum("bhij,bhid->bhjd", ds, q) * scale
    dv = np.einsum("bhij,bhid->bhjd", p, dout)
    dk = dk.reshape(b, hk, g, *dk.shape[2:]).sum(2)
    dv = dv.reshape(b, hk, g, *dv.shape[2:]).sum(2)
    return tuple(to_bhnd(x, layout) for x in (dq, dk, dv))


def rel_err(got, want):
    """max |got - want| relative to the output scale (max |want|), as the C tests measure it."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def randn(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)
