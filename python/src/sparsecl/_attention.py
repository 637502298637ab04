"""sparsecl.attention on NumPy arrays, and the plan cache every front end shares."""
import threading
from collections import OrderedDict

import numpy as np

from ._core import (InvalidArgumentError, Pattern, Plan, _dtype_code, _layout_code, as_pattern, block_code,
                    default_runtime)

DEFAULT_PATTERN = "causal & strided(128)"

_cache_lock = threading.Lock()
_plans = OrderedDict()
_patterns = OrderedDict()
_stats = {"hits": 0, "misses": 0}
PLAN_CACHE_SIZE = 64


def _pattern(pattern, block, runtime):
    """Patterns from spec strings are cached too (parsing is cheap; the cache keeps keys stable)."""
    if isinstance(pattern, str):
        key = (id(runtime), pattern)
        with _cache_lock:
            p = _patterns.get(key)
            if p is not None:
                _patterns.move_to_end(key)
                return p
        p = Pattern(pattern, runtime)
        with _cache_lock:
            _patterns[key] = p
            while len(_patterns) > 4 * PLAN_CACHE_SIZE:
                _patterns.popitem(last=False)
        return p
    return as_pattern(pattern, block, runtime)


def get_plan(pattern, batch, heads, seq_q, head_dim, block=64, kv_heads=None, seq_k=None, scale=None,
             dtype=np.float32, layout="bhnd", device=None):
    """The cached :class:`Plan` for (pattern, shape, dtype, layout, scale, device), made on first
    use: repeated calls with the same arguments neither recompile the pattern nor rebuild
    kernels.  The cache keeps the :data:`PLAN_CACHE_SIZE` most recently used plans."""
    rt = default_runtime(device)
    pat = _pattern(pattern, block, rt)
    code, dt = _dtype_code(dtype)
    key = (id(rt), pat.key, int(batch), int(heads), int(kv_heads or heads), int(seq_q), int(seq_k or seq_q),
           int(head_dim), block_code(block), float(scale or 0.0), code, str(dt), _layout_code(layout))
    with _cache_lock:
        plan = _plans.get(key)
        if plan is not None and not plan.closed and plan.runtime is rt:
            _plans.move_to_end(key)
            _stats["hits"] += 1
            return plan
    plan = Plan(rt, pat, batch, heads, seq_q, head_dim, block=block, kv_heads=kv_heads, seq_k=seq_k, scale=scale,
                dtype=dt, layout=layout)
    with _cache_lock:
        _stats["misses"] += 1
        _plans[key] = plan
        while len(_plans) > PLAN_CACHE_SIZE:
            _plans.popitem(last=False)
    return plan


def plan_cache_info():
    """{"hits", "misses", "size"} of the plan cache."""
    with _cache_lock:
        return dict(_stats, size=len(_plans))


def clear_plan_cache():
    """Forget every cached plan and pattern (they are destroyed once nothing else holds them)."""
    with _cache_lock:
        _plans.clear()
        _patterns.clear()
        _stats["hits"] = _stats["misses"] = 0


def shapes(q_shape, k_shape, v_shape, layout):
    """(B, H, H_kv, N_q, N_k, d) from the three shapes, or InvalidArgumentError."""
    lay = _layout_code(layout)
    for name, s in (("q", q_shape), ("k", k_shape), ("v", v_shape)):
        if len(s) != 4:
            raise InvalidArgumentError("%s has %d dimensions; expected 4 (%s)" % (
                name, len(s), "[B, H, N, d]" if lay == 0 else "[B, N, H, d]"))
    if tuple(k_shape) != tuple(v_shape):
        raise InvalidArgumentError("k has shape %s but v has shape %s" % (tuple(k_shape), tuple(v_shape)))
    if lay == 0:
        (b, h, nq, d), (bk, hk, nk, dk) = q_shape, k_shape
    else:
        (b, nq, h, d), (bk, nk, hk, dk) = q_shape, k_shape
    if bk != b or dk != d:
        raise InvalidArgumentError("q has shape %s but k has shape %s: batch and head_dim must match (layout %s)"
                                   % (tuple(q_shape), tuple(k_shape), "bhnd" if lay == 0 else "bnhd"))
    return b, h, hk, nq, nk, d


def input_dtype(*dtypes):
    """The one dtype shared by q, k and v, or InvalidArgumentError."""
    native = lambda d: np.dtype(d).newbyteorder("=")  # noqa: E731  (byte order is not a dtype difference)
    d0 = native(dtypes[0])
    for name, d in zip("kv", dtypes[1:]):
        if native(d) != d0:
            raise InvalidArgumentError("q has dtype %s but %s has dtype %s: q, k, v share one dtype" % (d0, name, d))
    return d0


def attention(q, k, v, pattern=DEFAULT_PATTERN, block=64, scale=None, return_lse=False, layout="bhnd",
              device=None):
    """Block-sparse attention on NumPy arrays: ``softmax(scale * q @ k^T masked by pattern) @ v``.

    q: ``[B, H, N_q, d]`` (``layout="bhnd"``) or ``[B, N_q, H, d]`` (``"bnhd"``); k, v:
    ``[B, H_kv, N_k, d]`` / ``[B, N_k, H_kv, d]`` with ``H % H_kv == 0`` (grouped-query
    attention) and any N_k.  dtype float32, float16 or bfloat16 (``ml_dtypes.bfloat16``, or uint16
    arrays holding bfloat16 bits), the same for all three; fp32 accumulation.  Any strides: an
    input that is not C-contiguous is copied once.  d is 16, 32, 64, 80, 96, 128 or 256.

    pattern: a spec string (patterns/README.md), a :class:`Pattern`, or a block layout array
    ``[H, nb_q, nb_k]`` at ``block``.  block: a power of two 8..256, or ``"auto"``: the plan
    chooses (a tuned block-choice entry of the device, else the rule of the README).  scale: default
    ``1/sqrt(d)``.  device: a :class:`Runtime`, an index or a selector string (default: the
    default device).  Plans are cached by (pattern, shape, dtype, device): repeated calls do not
    recompile.  Rows with no allowed key give 0.

    Returns o (like q), or ``(o, lse)`` with ``return_lse``: lse float32 ``[B, H, N_q]``, the
    natural-log log-sum-exp of each row's scaled scores (-inf for empty rows)."""
    q, k, v = (x if isinstance(x, np.ndarray) else np.asarray(x) for x in (q, k, v))
    dt = input_dtype(q.dtype, k.dtype, v.dtype)
    b, h, hk, nq, nk, d = shapes(q.shape, k.shape, v.shape, layout)
    plan = get_plan(pattern, b, h, nq, d, block=block, kv_heads=hk, seq_k=nk, scale=scale, dtype=dt,
                    layout=layout, device=device)
    o, lse = plan.forward(q, k, v)
    return (o, lse) if return_lse else o


def attention_backward(q, k, v, o, lse, dout, pattern=DEFAULT_PATTERN, block=64, scale=None, layout="bhnd",
                       device=None):
    """The gradients ``(dq, dk, dv)`` of :func:`attention` for the output gradient ``dout``, given
    the forward's inputs, its output o and lse (``attention(..., return_lse=True)``); same
    arguments and shapes.  dk, dv are summed over the query heads sharing a key/value head."""
    q, k, v = (x if isinstance(x, np.ndarray) else np.asarray(x) for x in (q, k, v))
    dt = input_dtype(q.dtype, k.dtype, v.dtype)
    b, h, hk, nq, nk, d = shapes(q.shape, k.shape, v.shape, layout)
    plan = get_plan(pattern, b, h, nq, d, block=block, kv_heads=hk, seq_k=nk, scale=scale, dtype=dt,
                    layout=layout, device=device)
    return plan.backward(q, k, v, o, lse, dout)
