"""PyOpenCL front end: attention on ``pyopencl.array.Array`` data with no host copy.

    import pyopencl as cl, pyopencl.array as cla, sparsecl.opencl
    ctx = cl.create_some_context(); queue = cl.CommandQueue(ctx)
    q = cla.to_device(queue, q_host)     # likewise k, v
    o = sparsecl.opencl.attention(q, k, v, pattern="causal", block=64)   # a cla.Array on queue

The library runs in the caller's context and enqueues on the caller's queue (the first input's
``queue``, or ``queue=``): a runtime made by ``scl_runtime_create_from_cl`` from that context and
queue (one per queue, cached), the arrays' buffers passed as ``cl_mem``.  Calls only enqueue;
the returned arrays carry the completion event (``o.events``) as PyOpenCL arrays do, and the
inputs' pending events are waited for.
"""
import threading

import numpy as np
import pyopencl as cl
import pyopencl.array as cla

from . import _attention
from ._core import InvalidArgumentError, Runtime

_lock = threading.Lock()
_runtimes = {}


def runtime(queue):
    """The :class:`sparsecl.Runtime` wrapping ``queue`` and its context (cached per queue)."""
    key = (queue.context.int_ptr, queue.int_ptr)
    with _lock:
        rt = _runtimes.get(key)
        if rt is None or rt.closed:
            rt = Runtime.from_cl(queue.context, queue)
            _runtimes[key] = rt
        return rt


def _buffer(a, name, queue):
    """The cl_mem of a PyOpenCL array: its own buffer, or a device-side copy when it starts at an
    offset inside a larger allocation.  Never a host copy; non-contiguous arrays are refused."""
    if not isinstance(a, cla.Array):
        raise InvalidArgumentError("%s is a %s, not a pyopencl.array.Array" % (name, type(a).__name__))
    if a.context.int_ptr != queue.context.int_ptr:
        raise InvalidArgumentError("%s lives in another OpenCL context than the queue" % name)
    if not a.flags.c_contiguous:
        raise InvalidArgumentError("%s is not C-contiguous (strides %s); make it contiguous first" % (name, a.strides))
    if a.offset != 0:
        a = a.copy(queue=queue)
    return a, a.base_data


def _dtype(a):
    if a.dtype == np.uint16:
        return "bfloat16"
    return a.dtype


def _wait_list(arrays, wait_for):
    evs = list(wait_for or ())
    for a in arrays:
        evs.extend(a.events)
    return evs


def attention(q, k, v, pattern=_attention.DEFAULT_PATTERN, block=64, scale=None, return_lse=False, layout="bhnd",
              queue=None, wait_for=None):
    """Block-sparse attention on ``pyopencl.array.Array`` inputs, without host copies.

    Shapes, dtypes and arguments as :func:`sparsecl.attention` (float32, float16; uint16 arrays
    as bfloat16 bits where the library has SCL_BF16); arrays must be C-contiguous and in the
    queue's context.  ``queue`` defaults to q's.  Returns o (a new Array on the queue), or
    ``(o, lse)`` with lse float32 ``[B, H, N_q]``; their ``events`` hold the kernels' event."""
    queue = queue or q.queue
    if queue is None:
        raise InvalidArgumentError("q has no queue; pass queue=")
    dt = _attention.input_dtype(q.dtype, k.dtype, v.dtype)
    b, h, hk, nq, nk, d = _attention.shapes(q.shape, k.shape, v.shape, layout)
    rt = runtime(queue)
    plan = _attention.get_plan(pattern, b, h, nq, d, block=block, kv_heads=hk, seq_k=nk, scale=scale,
                               dtype=_dtype(q) if dt == np.uint16 else dt, layout=layout, device=rt)
    (q, qb), (k, kb), (v, vb) = _buffer(q, "q", queue), _buffer(k, "k", queue), _buffer(v, "v", queue)
    o = cla.empty(queue, plan.q_shape, q.dtype)
    lse = cla.empty(queue, plan.lse_shape, np.float32)
    ev = plan.forward_cl(qb, kb, vb, o.base_data, lse.base_data, wait_for=_wait_list((q, k, v), wait_for))
    event = cl.Event.from_int_ptr(ev, retain=False)
    o.add_event(event)
    lse.add_event(event)
    return (o, lse) if return_lse else o


def attention_backward(q, k, v, o, lse, dout, pattern=_attention.DEFAULT_PATTERN, block=64, scale=None,
                       layout="bhnd", queue=None, wait_for=None):
    """The gradients ``(dq, dk, dv)`` as new Arrays on the queue, from the forward's inputs, its
    o and lse (``attention(..., return_lse=True)``) and dout; same arguments as :func:`attention`."""
    queue = queue or q.queue
    dt = _attention.input_dtype(q.dtype, k.dtype, v.dtype)
    b, h, hk, nq, nk, d = _attention.shapes(q.shape, k.shape, v.shape, layout)
    rt = runtime(queue)
    plan = _attention.get_plan(pattern, b, h, nq, d, block=block, kv_heads=hk, seq_k=nk, scale=scale,
                               dtype=_dtype(q) if dt == np.uint16 else dt, layout=layout, device=rt)
    for name, a, shape, want in (("o", o, plan.q_shape, q.dtype), ("dout", dout, plan.q_shape, q.dtype),
                                 ("lse", lse, plan.lse_shape, np.dtype(np.float32))):
        if tuple(a.shape) != tuple(shape) or a.dtype != want:
            raise InvalidArgumentError("%s is %s %s, the plan expects %s %s" % (name, a.dtype, tuple(a.shape), want,
                                                                                  tuple(shape)))
    bufs = [_buffer(a, n, queue) for a, n in ((q, "q"), (k, "k"), (v, "v"), (o, "o"), (lse, "lse"),
                                              (dout, "dout"))]
    dq = cla.empty(queue, plan.q_shape, q.dtype)
    dk = cla.empty(queue, plan.kv_shape, q.dtype)
    dv = cla.empty(queue, plan.kv_shape, q.dtype)
    ev = plan.backward_cl(*(bb for _, bb in bufs), dq.base_data, dk.base_data, dv.base_data,
                          wait_for=_wait_list([a for a, _ in bufs], wait_for))
    event = cl.Event.from_int_ptr(ev, retain=False)
    for a in (dq, dk, dv):
        a.add_event(event)
    return dq, dk, dv
