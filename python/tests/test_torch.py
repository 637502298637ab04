"""sparsecl.torch: autograd against torch.nn.functional.scaled_dot_product_attention with the
equivalent boolean mask, inside a small model, FlexAttention BlockMask and layout converters.
Skipped where PyTorch is not installed."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import sparsecl  # noqa: E402
import sparsecl.torch as st  # noqa: E402
from conftest import causal_strided  # noqa: E402

SPEC = "causal & strided(32)"


def sdpa(q, k, v, mask, scale=None):
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def rel(a, b):
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("hk", [4, 2])
def test_forward_backward_match_sdpa(hk):
    g = torch.Generator().manual_seed(hk)
    n, d = 150, 32
    q = torch.randn(2, 4, n, d, generator=g, requires_grad=True)
    k = torch.randn(2, hk, n, d, generator=g, requires_grad=True)
    v = torch.randn(2, hk, n, d, generator=g, requires_grad=True)
    dout = torch.randn(2, 4, n, d, generator=g)
    o = st.attention(q, k, v, pattern=SPEC, block=16)
    o.backward(dout)
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    mask = torch.from_numpy(sparsecl.to_mask(SPEC, n, heads=4, block=16))
    assert torch.equal(mask[0], torch.from_numpy(causal_strided(n, n, 32)))
    want = sdpa(q.double(), k.double(), v.double(), mask)
    want.backward(dout.double())
    assert rel(o, want) <= 1e-4
    for got, t in zip(grads, (q, k, v)):
        assert got.shape == t.shape and rel(got, t.grad) <= 1e-4


def test_bnhd_scale_lse_and_noncontiguous():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 100, 2, 128, generator=g)[..., ::2]  # [B, N, H, d], strided
    k, v = (torch.randn(1, 100, 2, 64, generator=g) for _ in range(2))
    assert not q.is_contiguous()
    kt = k.transpose(1, 2).contiguous().transpose(1, 2)  # same values, other strides
    o, lse = st.attention(q, kt, v, pattern="local(16)", block=32, scale=0.2, layout="bnhd", return_lse=True)
    assert o.shape == q.shape and lse.shape == (1, 2, 100) and not lse.requires_grad
    mask = torch.from_numpy(sparsecl.to_mask("local(16)", 100, block=32))
    t = lambda x: x.transpose(1, 2).double()  # noqa: E731
    want = sdpa(t(q), t(k), t(v), mask, scale=0.2).transpose(1, 2)
    assert rel(o, want) <= 1e-4


def test_inside_a_model():
    torch.manual_seed(0)
    n, dm, h = 128, 64, 2

    class Block(torch.nn.Module):
        def __init__(self, sparse):
            super().__init__()
            self.qkv = torch.nn.Linear(dm, 3 * dm)
            self.out = torch.nn.Linear(dm, dm)
            self.sparse = sparse
            self.attn = st.SparseAttention(SPEC, block=16)

        def forward(self, x):
            b = x.shape[0]
            q, k, v = self.qkv(x).view(b, n, 3, h, dm // h).unbind(2)  # [B, N, H, d] views, strided
            if self.sparse:
                y = st.attention(q, k, v, pattern=SPEC, block=16, layout="bnhd")
            else:
                mask = torch.from_numpy(sparsecl.to_mask(SPEC, n, block=16))
                y = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)), attn_mask=mask)
                y = y.transpose(1, 2)
            return self.out(y.reshape(b, n, dm))

    sparse, dense = Block(True), Block(False)
    dense.load_state_dict(sparse.state_dict())
    x = torch.randn(2, n, dm)
    losses = []
    for model in (sparse, dense):
        loss = model(x).square().mean()
        loss.backward()
        losses.append(loss)
    l0, l1 = float(losses[0].detach()), float(losses[1].detach())
    assert abs(l0 - l1) <= 1e-5 * abs(l1)
    for (name, p), p2 in zip(sparse.named_parameters(), dense.parameters()):
        assert rel(p.grad, p2.grad) <= 1e-4, name
    # A step of an optimiser through the sparse model works as usual.
    opt = torch.optim.SGD(sparse.parameters(), lr=0.1)
    opt.step()
    assert "pattern='causal & strided(32)'" in repr(sparse.attn)


def test_f16_forward_backward():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, 2, 96, 32, generator=g).half().requires_grad_() for _ in range(3))
    o = st.attention(q, k, v, pattern=SPEC, block=16)
    assert o.dtype == torch.float16
    o.float().sum().backward()
    assert q.grad.dtype == torch.float16
    mask = torch.from_numpy(sparsecl.to_mask(SPEC, 96, block=16))
    qd, kd, vd = (t.detach().double().requires_grad_() for t in (q, k, v))
    want = sdpa(qd, kd, vd, mask)
    want.sum().backward()
    assert rel(o, want) <= 2e-3
    assert rel(q.grad, qd.grad) <= 1e-2 and rel(v.grad, vd.grad) <= 1e-2


def test_bf16_tensors():
    if not sparsecl.HAVE_BF16:
        pytest.skip("this build of the library has no SCL_BF16")
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 2, 64, 32, generator=g).bfloat16() for _ in range(3))
    try:
        o = st.attention(q, k, v, pattern=SPEC, block=16)
    except sparsecl.UnsupportedError as e:  # pragma: no cover
        pytest.skip("bf16 not runnable here: %s" % e)
    assert o.dtype == torch.bfloat16
    want = sdpa(q.double(), k.double(), v.double(), torch.from_numpy(sparsecl.to_mask(SPEC, 64, block=16)))
    assert rel(o, want) <= 2e-2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_through_host_copies():  # pragma: no cover - needs a GPU
    q, k, v = (torch.randn(1, 2, 64, 32, device="cuda", requires_grad=True) for _ in range(3))
    o = st.attention(q, k, v, pattern=SPEC, block=16)
    assert o.device.type == "cuda"
    o.sum().backward()
    assert q.grad.device.type == "cuda"


def test_errors():
    q = torch.randn(1, 2, 64, 32)
    with pytest.raises(sparsecl.InvalidArgumentError, match="not supported"):
        st.attention(q.double(), q.double(), q.double())
    with pytest.raises(sparsecl.InvalidArgumentError, match="share one dtype"):
        st.attention(q, q.half(), q)
    with pytest.raises(sparsecl.PatternError, match="column"):
        st.attention(q, q, q, pattern="causal &", block=16)
    with pytest.raises(sparsecl.InvalidArgumentError, match="not a torch.Tensor"):
        st.attention(q.numpy(), q, q)


def test_from_flex_attention_block_mask():
    fa = pytest.importorskip("torch.nn.attention.flex_attention")
    n, h = 200, 2  # tails: 200 is not a multiple of 32

    def mask_mod(b, hh, qi, ki):  # causal, plus a sliding window of 40 for head 1
        return (ki <= qi) & ((hh == 0) | (qi - ki <= 40))

    bm = fa.create_block_mask(mask_mod, B=None, H=h, Q_LEN=n, KV_LEN=n, device="cpu", BLOCK_SIZE=32)
    p = sparsecl.from_block_mask(bm)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    want = np.stack([j <= i, (j <= i) & (i - j <= 40)])
    np.testing.assert_array_equal(sparsecl.to_mask(p, n, heads=h), want)
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(1, h, n, 32, generator=g) for _ in range(3))
    o = st.attention(q, k, v, pattern=p, block=32)
    assert rel(o, sdpa(q.double(), k.double(), v.double(), torch.from_numpy(want))) <= 1e-4
    # One-head masks (H=None) serve every head.
    bm1 = fa.create_block_mask(lambda b, hh, qi, ki: ki <= qi, B=None, H=None, Q_LEN=n, KV_LEN=n, device="cpu",
                               BLOCK_SIZE=32)
    np.testing.assert_array_equal(sparsecl.to_mask(sparsecl.from_block_mask(bm1), n, heads=3)[2], j <= i)


def test_from_deepspeed_layout_tensor():
    torch.manual_seed(5)
    h, nb, block = 2, 5, 16
    layout = (torch.rand(h, nb, nb) > 0.5).long()  # DeepSpeed SparsityConfig.make_layout style
    layout[:, torch.arange(nb), torch.arange(nb)] = 1
    p = sparsecl.from_layout(layout, block)
    n = nb * block
    mask = torch.from_numpy(sparsecl.to_mask(p, n, heads=h))
    assert torch.equal(mask, torch.kron(layout, torch.ones(block, block, dtype=torch.long)).bool())
    q, k, v = (torch.randn(1, h, n, 32) for _ in range(3))
    assert rel(st.attention(q, k, v, pattern=p, block=block), sdpa(q.double(), k.double(), v.double(), mask)) <= 1e-4
