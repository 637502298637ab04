"""PyTorch front end: block-sparse attention as a differentiable operation.

    import torch, sparsecl.torch
    q, k, v = (torch.randn(2, 8, 1024, 64, requires_grad=True) for _ in range(3))
    o = sparsecl.torch.attention(q, k, v, pattern="causal & strided(128)", block=64)
    o.sum().backward()                      # q.grad, k.grad, v.grad

The forward pass runs ``scl_plan_forward_host``, the backward ``scl_plan_backward_host``, on the
OpenCL device sparsecl picks (``device=``: an OpenCL selector, not a torch device).  Tensors on
any torch device work: CPU tensors are shared with NumPy where they are contiguous; CUDA (or
other) tensors go through one host copy each way, and the results come back on the tensor's
device.  The importing module is ``sparsecl.torch``; ``import torch`` inside it is PyTorch.
"""
import numpy as np
import torch

from . import _attention
from ._core import InvalidArgumentError

_DTYPES = {torch.float32: np.float32, torch.float16: np.float16}


def _np_dtype(t):
    if t.dtype in _DTYPES:
        return np.dtype(_DTYPES[t.dtype])
    if t.dtype == torch.bfloat16:
        return "bfloat16"
    raise InvalidArgumentError("dtype %s is not supported: torch.float32, torch.float16, torch.bfloat16" % t.dtype)


def _to_numpy(t, np_dtype):
    """A host NumPy view (or the one host copy) of a tensor; bfloat16 as its uint16 bit patterns."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.to("cpu")
    if t.dtype == torch.bfloat16:
        a = t.contiguous().view(torch.int16).numpy().view(np.uint16)
        if not isinstance(np_dtype, str) and np.dtype(np_dtype) != np.uint16:
            a = a.view(np_dtype)  # ml_dtypes.bfloat16 when the plan runs that dtype
        return a
    return t.numpy()


def _to_torch(a, like):
    if a.dtype.itemsize == 2 and like.dtype == torch.bfloat16:
        t = torch.from_numpy(np.ascontiguousarray(a).view(np.int16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(a)
    return t.to(like.device) if like.device.type != "cpu" else t


class SparseAttentionFunction(torch.autograd.Function):
    """``torch.autograd.Function`` over a cached :class:`sparsecl.Plan`: forward gives (o, lse),
    backward the gradients of q, k, v (lse is not differentiable)."""

    @staticmethod
    def forward(ctx, q, k, v, plan):
        """Run ``plan.forward`` on host views of q, k, v; returns (o, lse) on q's device."""
        dt = plan.dtype
        qn, kn, vn = (_to_numpy(t, dt) for t in (q, k, v))
        o, lse = plan.forward(qn, kn, vn)
        o_t, lse_t = _to_torch(o, q), _to_torch(lse, q)
        ctx.plan = plan
        ctx.save_for_backward(q, k, v, o_t, lse_t)
        ctx.mark_non_differentiable(lse_t)
        return o_t, lse_t

    @staticmethod
    def backward(ctx, do, dlse):
        """Run ``plan.backward`` with the saved tensors and dO; lse's gradient is ignored."""
        q, k, v, o, lse = ctx.saved_tensors
        plan = ctx.plan
        dt = plan.dtype
        dq, dk, dv = plan.backward(*(_to_numpy(t, dt) for t in (q, k, v, o)), _to_numpy(lse, np.float32),
                                   _to_numpy(do, dt))
        return _to_torch(dq, q), _to_torch(dk, k), _to_torch(dv, v), None


def attention(q, k, v, pattern=_attention.DEFAULT_PATTERN, block=64, scale=None, return_lse=False, layout="bhnd",
              device=None):
    """Differentiable block-sparse attention on torch tensors (autograd: forward and backward).

    Arguments as :func:`sparsecl.attention`: q ``[B, H, N_q, d]`` (``layout="bhnd"``) or
    ``[B, N_q, H, d]`` (``"bnhd"``), k/v with ``H_kv`` heads dividing H and any N_k; dtype
    torch.float32, torch.float16 or torch.bfloat16 (if the library has SCL_BF16), the same for
    q, k, v; ``device`` is the OpenCL device (a :class:`sparsecl.Runtime`, index or selector).

    Equals ``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask,
    scale=scale)`` with ``mask = torch.from_numpy(sparsecl.to_mask(pattern, N_q, N_k, heads=H))``
    (GQA: ``enable_gqa=True``), except that rows with no allowed key give 0 rather than NaN.

    CUDA (and other non-CPU) tensors are copied to the host and back: sparsecl runs on an OpenCL
    device, not through CUDA.  Returns o (like q, on q's device), or ``(o, lse)`` with lse float32
    ``[B, H, N_q]`` (not differentiable)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise InvalidArgumentError("%s is a %s, not a torch.Tensor" % (name, type(t).__name__))
    if not (q.device == k.device == v.device):
        raise InvalidArgumentError("q, k, v are on different devices (%s, %s, %s)" % (q.device, k.device, v.device))
    dt = _np_dtype(q)
    if not (q.dtype == k.dtype == v.dtype):
        raise InvalidArgumentError("q has dtype %s, k %s, v %s: q, k, v share one dtype" % (q.dtype, k.dtype, v.dtype))
    b, h, hk, nq, nk, d = _attention.shapes(tuple(q.shape), tuple(k.shape), tuple(v.shape), layout)
    plan = _attention.get_plan(pattern, b, h, nq, d, block=block, kv_heads=hk, seq_k=nk, scale=scale, dtype=dt,
                               layout=layout, device=device)
    o, lse = SparseAttentionFunction.apply(q, k, v, plan)
    return (o, lse) if return_lse else o


class SparseAttention(torch.nn.Module):
    """``torch.nn.Module`` form of :func:`attention` with a fixed pattern and block:
    ``SparseAttention("causal & strided(128)", block=64)(q, k, v)``."""

    def __init__(self, pattern=_attention.DEFAULT_PATTERN, block=64, scale=None, layout="bhnd", device=None):
        super().__init__()
        self.pattern, self.block, self.scale, self.layout, self.device = pattern, block, scale, layout, device

    def forward(self, q, k, v):
        """:func:`attention` of q, k, v with this module's pattern, block, scale and layout."""
        return attention(q, k, v, pattern=self.pattern, block=self.block, scale=self.scale, layout=self.layout,
                         device=self.device)

    def extra_repr(self):
        """The pattern and block, for ``repr(model)``."""
        return "pattern=%r, block=%s" % (self.pattern if isinstance(self.pattern, str) else "<layout>", self.block)
