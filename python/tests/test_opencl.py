"""sparsecl.opencl: PyOpenCL arrays in the caller's context and queue, no host copies.
Skipped where PyOpenCL is not installed or sees no device."""
import numpy as np
import pytest

cl = pytest.importorskip("pyopencl")
cla = pytest.importorskip("pyopencl.array")

import sparsecl  # noqa: E402
import sparsecl.opencl as so  # noqa: E402
from conftest import causal_strided, randn, reference, reference_backward, rel_err  # noqa: E402

SPEC = "causal & strided(32)"


@pytest.fixture(scope="module")
def queue():
    """A context and queue of PyOpenCL's own, on the device sparsecl would pick by default."""
    want = sparsecl.default_runtime().device
    for p in cl.get_platforms():
        for d in p.get_devices():
            if d.name.strip() == want.name:
                ctx = cl.Context([d])
                return cl.CommandQueue(ctx)
    pytest.skip("PyOpenCL does not see the device %s" % want.name)


def test_runtime_wraps_the_callers_context_and_queue(queue):
    rt = so.runtime(queue)
    assert rt.context_ptr == queue.context.int_ptr and rt.queue_ptr == queue.int_ptr
    assert so.runtime(queue) is rt


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float16, 2e-3)])
def test_forward_on_device_arrays(queue, dtype, tol):
    rng = np.random.default_rng(0)
    qh, kh, vh = (randn(rng, (2, 4, 150, 32), dtype) for _ in range(3))
    kh, vh = kh[:, :2].copy(), vh[:, :2].copy()  # grouped-query attention: H_kv = 2
    q, k, v = (cla.to_device(queue, x) for x in (qh, kh, vh))
    o, lse = so.attention(q, k, v, pattern=SPEC, block=16, return_lse=True)
    assert isinstance(o, cla.Array) and o.queue is queue and o.dtype == dtype and o.events
    ro, rl = reference(qh, kh, vh, causal_strided(150, 150, 32))
    assert rel_err(o.get(), ro) <= tol
    assert np.abs(lse.get() - rl).max() <= 10 * tol
    # The same numbers as the host path.
    np.testing.assert_array_equal(o.get(), sparsecl.attention(qh, kh, vh, pattern=SPEC, block=16))


def test_backward_on_device_arrays(queue):
    rng = np.random.default_rng(1)
    qh, dh = randn(rng, (1, 2, 100, 32)), randn(rng, (1, 2, 100, 32))
    kh, vh = randn(rng, (1, 1, 100, 32)), randn(rng, (1, 1, 100, 32))
    q, k, v, dout = (cla.to_device(queue, x) for x in (qh, kh, vh, dh))
    o, lse = so.attention(q, k, v, pattern=SPEC, block=16, return_lse=True)
    dq, dk, dv = so.attention_backward(q, k, v, o, lse, dout, pattern=SPEC, block=16)
    want = reference_backward(qh, kh, vh, causal_strided(100, 100, 32), dh)
    for got, w in zip((dq, dk, dv), want):
        assert isinstance(got, cla.Array) and rel_err(got.get(), w) <= 1e-4


def test_offsets_and_strides(queue):
    rng = np.random.default_rng(2)
    big = randn(rng, (2, 2, 64, 32))
    whole = cla.to_device(queue, big)
    q = whole[1:]  # a view at an offset inside the allocation: copied on the device
    assert q.offset != 0
    o = so.attention(q, q, q, pattern="causal", block=16)
    np.testing.assert_allclose(o.get(), sparsecl.attention(big[1:], big[1:], big[1:], pattern="causal", block=16),
                               atol=1e-6)
    with pytest.raises(sparsecl.InvalidArgumentError, match="not C-contiguous"):
        t = whole.transpose((0, 1, 3, 2))
        so.attention(t, t, t, pattern="causal", block=16)
    with pytest.raises(sparsecl.InvalidArgumentError, match="not a pyopencl.array.Array"):
        so.attention(q, big[1:], q, pattern="causal", block=16)


def test_events_are_honoured(queue):
    """An input still being written (its event pending) is waited for, not read early."""
    rng = np.random.default_rng(3)
    qh = randn(rng, (1, 1, 64, 16))
    q = cla.empty(queue, qh.shape, np.float32)
    q.set(qh, async_=True)  # leaves q.events pending
    o = so.attention(q, q, q, pattern="local(8)", block=8)
    o.finish()
    np.testing.assert_allclose(o.get(), sparsecl.attention(qh, qh, qh, pattern="local(8)", block=8), atol=1e-6)
