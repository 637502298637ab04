"""sparsecl on NumPy arrays against the float64 reference of conftest.py."""
import gc
import threading

import numpy as np
import pytest

import sparsecl
from conftest import causal_strided, local, randn, reference, reference_backward, rel_err

SPEC = "causal & strided(32)"


def test_devices():
    devs = sparsecl.devices()
    assert devs, "no device listed"
    assert sum(d.default for d in devs) == 1
    d = devs[0]
    assert d.name and d.type in ("cpu", "gpu", "accelerator", "custom", "other") and d.compute_units >= 1
    rt = sparsecl.default_runtime()
    assert rt.device.index in [x.index for x in devs]


@pytest.mark.parametrize("n", [150, 64, 1])
def test_forward_f32_odd_n(n):
    rng = np.random.default_rng(n)
    q, k, v = (randn(rng, (2, 3, n, 32)) for _ in range(3))
    o, lse = sparsecl.attention(q, k, v, pattern=SPEC, block=16, return_lse=True)
    ro, rl = reference(q, k, v, causal_strided(n, n, 32))
    assert o.dtype == np.float32 and o.shape == q.shape and lse.shape == (2, 3, n)
    assert rel_err(o, ro) <= 1e-4
    assert np.abs(lse - rl).max() <= 1e-4


def test_scale_and_return_o_only():
    rng = np.random.default_rng(1)
    q, k, v = (randn(rng, (1, 2, 100, 64)) for _ in range(3))
    o = sparsecl.attention(q, k, v, pattern="local(20)", block=32, scale=0.3)
    assert isinstance(o, np.ndarray)
    assert rel_err(o, reference(q, k, v, local(100, 100, 20), scale=0.3)[0]) <= 1e-4


def test_non_contiguous_inputs_are_copied_not_misread():
    rng = np.random.default_rng(2)
    base = randn(rng, (2, 150, 3, 64))
    q = base[:, :, :, ::2].transpose(0, 2, 1, 3)  # [2, 3, 150, 32], strided in every axis
    k = np.asfortranarray(randn(rng, (2, 3, 150, 32)))
    v = randn(rng, (2, 3, 300, 32))[:, :, ::2]
    big_endian = v.astype(">f4")
    assert not q.flags.c_contiguous and not k.flags.c_contiguous and not v.flags.c_contiguous
    o = sparsecl.attention(q, k, big_endian, pattern=SPEC, block=16)
    want = sparsecl.attention(*(np.ascontiguousarray(x) for x in (q, k, v)), pattern=SPEC, block=16)
    np.testing.assert_array_equal(o, want)
    assert rel_err(o, reference(q, k, v, causal_strided(150, 150, 32))[0]) <= 1e-4


def test_bnhd_layout():
    rng = np.random.default_rng(3)
    q, k, v = (randn(rng, (2, 150, 4, 32)) for _ in range(3))  # [B, N, H, d]
    o, lse = sparsecl.attention(q, k, v, pattern=SPEC, block=16, layout="bnhd", return_lse=True)
    assert o.shape == q.shape and lse.shape == (2, 4, 150)
    ro, rl = reference(q, k, v, causal_strided(150, 150, 32), layout="bnhd")
    assert rel_err(o, ro) <= 1e-4 and np.abs(lse - rl).max() <= 1e-4
    # The same numbers as BHND on transposed copies.
    t = lambda x: np.ascontiguousarray(x.transpose(0, 2, 1, 3))  # noqa: E731
    np.testing.assert_allclose(t(o), sparsecl.attention(t(q), t(k), t(v), pattern=SPEC, block=16), atol=1e-6)


def test_gqa_and_nq_ne_nk():
    rng = np.random.default_rng(4)
    q = randn(rng, (1, 4, 70, 32))
    k, v = (randn(rng, (1, 2, 150, 32)) for _ in range(2))
    o = sparsecl.attention(q, k, v, pattern="dense", block=16)
    assert rel_err(o, reference(q, k, v, np.ones((70, 150), bool))[0]) <= 1e-4
    o = sparsecl.attention(q, k, v, pattern="local(40)", block=16)
    assert rel_err(o, reference(q, k, v, local(70, 150, 40))[0]) <= 1e-4


def test_empty_rows_give_zero():
    rng = np.random.default_rng(5)
    q, k, v = (randn(rng, (1, 1, 40, 16)) for _ in range(3))
    # Query rows 0..7 attend nothing: global(8-39) as a key set only reaches via rows in it.
    o, lse = sparsecl.attention(q, k, v, pattern="causal & global(20-39)", block=8, return_lse=True)
    i, j = np.arange(40)[:, None], np.arange(40)[None, :]
    mask = (j <= i) & ((i >= 20) | (j >= 20))
    ro, rl = reference(q, k, v, mask)
    assert np.isneginf(lse[0, 0, :20]).all() and (o[0, 0, :20] == 0).all()
    assert rel_err(o, ro) <= 1e-4


def test_f16():
    rng = np.random.default_rng(6)
    q, k, v = (randn(rng, (1, 2, 150, 64), np.float16) for _ in range(3))
    o = sparsecl.attention(q, k, v, pattern=SPEC, block=32)
    assert o.dtype == np.float16
    assert rel_err(o, reference(q, k, v, causal_strided(150, 150, 32))[0]) <= 2e-3


def _bf16_or_skip():
    if not sparsecl.HAVE_BF16:
        pytest.skip("this build of the library has no SCL_BF16")


def test_bf16_uint16_bits():
    _bf16_or_skip()
    rng = np.random.default_rng(7)
    f = [randn(rng, (1, 2, 96, 32)) for _ in range(3)]
    bits = [(x.view(np.uint32) >> 16).astype(np.uint16) for x in f]  # truncation to bf16
    back = [(b.astype(np.uint32) << 16).view(np.float32) for b in bits]
    try:
        o = sparsecl.attention(*bits, pattern=SPEC, block=16)
    except sparsecl.UnsupportedError as e:  # pragma: no cover - depends on the library
        pytest.skip("bf16 not runnable here: %s" % e)
    assert o.dtype == np.uint16
    of = (o.astype(np.uint32) << 16).view(np.float32)
    assert rel_err(of, reference(*back, causal_strided(96, 96, 32))[0]) <= 1e-2


def test_bf16_ml_dtypes():
    _bf16_or_skip()
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(8)
    q, k, v = (randn(rng, (1, 2, 96, 32)).astype(ml_dtypes.bfloat16) for _ in range(3))
    try:
        o = sparsecl.attention(q, k, v, pattern=SPEC, block=16)
    except sparsecl.UnsupportedError as e:  # pragma: no cover
        pytest.skip("bf16 not runnable here: %s" % e)
    assert o.dtype == ml_dtypes.bfloat16
    assert rel_err(o.astype(np.float32), reference(q, k, v, causal_strided(96, 96, 32))[0]) <= 1e-2


@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
def test_backward_gqa(layout):
    rng = np.random.default_rng(9)
    shp = lambda h, n: (2, h, n, 32) if layout == "bhnd" else (2, n, h, 32)  # noqa: E731
    q, dout = randn(rng, shp(4, 100)), randn(rng, shp(4, 100))
    k, v = randn(rng, shp(2, 100)), randn(rng, shp(2, 100))
    o, lse = sparsecl.attention(q, k, v, pattern=SPEC, block=16, layout=layout, return_lse=True)
    dq, dk, dv = sparsecl.attention_backward(q, k, v, o, lse, dout, pattern=SPEC, block=16, layout=layout)
    want = reference_backward(q, k, v, causal_strided(100, 100, 32), dout, layout=layout)
    for got, w in zip((dq, dk, dv), want):
        assert got.shape == w.shape and rel_err(got, w) <= 1e-4


def test_plans_are_cached():
    sparsecl.clear_plan_cache()
    rng = np.random.default_rng(10)
    q, k, v = (randn(rng, (1, 2, 64, 32)) for _ in range(3))
    sparsecl.attention(q, k, v, pattern=SPEC, block=16)
    p1 = sparsecl.get_plan(SPEC, 1, 2, 64, 32, block=16)
    sparsecl.attention(q * 2, k, v, pattern=SPEC, block=16)
    info = sparsecl.plan_cache_info()
    assert info["misses"] == 1 and info["hits"] == 2 and info["size"] == 1, info
    assert sparsecl.get_plan(SPEC, 1, 2, 64, 32, block=16) is p1
    sparsecl.attention(q.astype(np.float16), k.astype(np.float16), v.astype(np.float16), pattern=SPEC, block=16)
    sparsecl.attention(q, k, v, pattern=SPEC, block=32)
    assert sparsecl.plan_cache_info()["misses"] == 3  # another dtype, another block: new plans


def test_errors_carry_the_library_message():
    rng = np.random.default_rng(11)
    q, k, v = (randn(rng, (1, 2, 64, 32)) for _ in range(3))
    with pytest.raises(sparsecl.PatternError) as e:
        sparsecl.attention(q, k, v, pattern="causal & strided(32, 4)", block=16)
    assert "column 10" in str(e.value) and "strided() takes 1 argument" in str(e.value)
    assert e.value.status_name == "SCL_ERR_PATTERN" and isinstance(e.value, ValueError)
    with pytest.raises(sparsecl.PatternError, match="column 1"):
        sparsecl.Pattern("bogus(3)")
    with pytest.raises(sparsecl.InvalidArgumentError, match="dtype float64 is not supported"):
        sparsecl.attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64))
    with pytest.raises(sparsecl.InvalidArgumentError, match="share one dtype"):
        sparsecl.attention(q, k.astype(np.float16), v)
    with pytest.raises(sparsecl.InvalidArgumentError, match="k has shape .* but v has shape"):
        sparsecl.attention(q, k, v[:, :, :32])
    with pytest.raises(sparsecl.InvalidArgumentError, match="batch and head_dim must match"):
        sparsecl.attention(q, k[..., :16], v[..., :16])
    with pytest.raises(sparsecl.InvalidArgumentError, match="3 dimensions; expected 4"):
        sparsecl.attention(q[0], k[0], v[0])
    # Checked by the library itself: its message comes through.
    q3 = randn(rng, (1, 3, 64, 32))
    with pytest.raises(sparsecl.InvalidArgumentError, match=r"heads \(3\) must be a multiple of kv_heads \(2\)") as e:
        sparsecl.attention(q3, k, v, block=16)
    assert e.value.status_name == "SCL_ERR_INVALID_ARGUMENT"
    with pytest.raises(sparsecl.InvalidArgumentError, match="head dim 48 is not supported"):
        sparsecl.attention(*(randn(rng, (1, 2, 64, 48)) for _ in range(3)), block=16)
    with pytest.raises(sparsecl.InvalidArgumentError, match="block size 12 must be a power of two"):
        sparsecl.attention(q, k, v, block=12)
    plan = sparsecl.get_plan(SPEC, 1, 2, 64, 32, block=16)
    with pytest.raises(sparsecl.InvalidArgumentError, match="lse has shape"):
        plan.backward(q, k, v, q, np.zeros((1, 2, 63), np.float32), q)


def test_layout_from_memory():
    rng = np.random.default_rng(12)
    h, n, block = 2, 150, 16
    nb = -(-n // block)
    lay = rng.integers(0, 2, size=(h, nb, nb)).astype(np.int64)
    lay[:, np.arange(nb), np.arange(nb)] = 1
    p = sparsecl.from_layout(lay, block)
    mask = np.kron(lay, np.ones((block, block), np.int64))[:, :n, :n] != 0
    np.testing.assert_array_equal(sparsecl.to_mask(p, n, heads=h), mask)
    q, k, v = (randn(rng, (1, h, n, 32)) for _ in range(3))
    o = sparsecl.attention(q, k, v, pattern=lay, block=block)  # an array is a layout too
    assert rel_err(o, reference(q, k, v, mask[None])[0]) <= 1e-4
    np.testing.assert_array_equal(o, sparsecl.attention(q, k, v, pattern=p, block=block))
    # The library checks the geometry with layout(path.npy)'s message.
    with pytest.raises(sparsecl.PatternError, match="does not match N_q=200"):
        sparsecl.attention(*(randn(rng, (1, h, 200, 32)) for _ in range(3)), pattern=p, block=block)
    with pytest.raises(sparsecl.PatternError, match="made for block 16, the plan uses block 32"):
        sparsecl.attention(q, k, v, pattern=p, block=32)
    with pytest.raises(sparsecl.InvalidArgumentError, match="block 12 is not a power of two"):
        sparsecl.from_layout(lay, 12)


def test_layout_with_element_masks_is_causal():
    n, block = 100, 16
    nb = -(-n // block)
    lay = np.tril(np.ones((nb, nb), np.uint8))
    ids = np.where(np.eye(nb, dtype=bool), 0, -1)
    tri = np.tril(np.ones((block, block), bool))[None]
    p = sparsecl.Pattern.from_layout(lay, block, masks=tri, mask_ids=ids)
    assert p.spec.startswith("layout(<memory [1, 7, 7] at block 16, 1 element mask>")
    np.testing.assert_array_equal(p.mask(n), sparsecl.to_mask("causal", n, block=16))


def test_to_mask_matches_the_definitions():
    m = sparsecl.to_mask(SPEC, 150, 130, heads=2, block=16)
    assert m.dtype == np.bool_ and m.shape == (2, 150, 130)
    np.testing.assert_array_equal(m[1], causal_strided(150, 130, 32))


def test_lifetimes():
    rt = sparsecl.Runtime()
    with rt:
        plan = sparsecl.Plan(rt, SPEC, 1, 2, 64, 32, block=16)
        with sparsecl.Pattern("local(3)", rt) as pat:
            plan2 = sparsecl.Plan(rt, pat, 1, 1, 32, 16, block=8)
        q = np.ones((1, 2, 64, 32), np.float32)
        plan.forward(q, q, q)
        plan2.forward(*(np.ones((1, 1, 32, 16), np.float32),) * 3)  # the pattern is closed; the plan lives
    assert rt.closed and plan.closed and plan2.closed  # closing the runtime closed its plans
    with pytest.raises(sparsecl.InvalidArgumentError, match="closed"):
        plan.forward(q, q, q)
    rt.close()  # idempotent
    # Plans dropped in any order, runtimes dropped while plans still hold them.
    for _ in range(20):
        r = sparsecl.Runtime()
        p = sparsecl.Plan(r, "causal", 1, 1, 16, 16, block=8)
        del r
        p.forward(*(np.ones((1, 1, 16, 16), np.float32),) * 3)
        del p
    gc.collect()


def test_threads_share_a_cached_plan():
    rng = np.random.default_rng(13)
    q, k, v = (randn(rng, (1, 2, 64, 32)) for _ in range(3))
    want = sparsecl.attention(q, k, v, pattern=SPEC, block=16)
    out, errors = [], []

    def work():
        try:
            for _ in range(3):
                out.append(sparsecl.attention(q, k, v, pattern=SPEC, block=16))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and len(out) == 12
    for o in out:
        np.testing.assert_array_equal(o, want)


def test_patterns_need_no_device():
    """Without a usable device patterns and masks still work; attention says why it cannot run."""
    import os
    import subprocess
    import sys

    code = """
import numpy as np, sparsecl
assert sparsecl.to_mask("causal", 4).sum() == 10
lay = sparsecl.Pattern.from_layout(np.ones((2, 2), np.uint8), 8)
assert lay.mask(16).all()
try:
    sparsecl.Pattern("causal &")
except sparsecl.PatternError as e:
    print("pattern error:", e.status_name)
try:
    sparsecl.attention(*(np.ones((1, 1, 8, 16), np.float32),) * 3, block=8)
except sparsecl.NoDeviceError as e:
    print("no device:", e)
"""
    env = dict(os.environ, SPARSECL_DEVICE="no-such-device-anywhere")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "pattern error: SCL_ERR_PATTERN" in r.stdout
    assert "no device:" in r.stdout and "no-such-device-anywhere" in r.stdout, r.stdout


def test_block_auto():
    """block="auto": the plan chooses (no tuning entry here: the rule) and says which and why."""
    rng = np.random.default_rng(5)
    q, k, v = (randn(rng, (1, 2, 512, 32)) for _ in range(3))
    dense = sparsecl.get_plan("dense", 1, 2, 512, 32, block="auto")
    assert dense.block == 128 and dense.block_reason.startswith("the rule: ")
    strided = sparsecl.get_plan(SPEC, 1, 2, 512, 32, block="auto")
    assert strided.block in (32, 64, 128) and "the rule" in strided.block_reason
    assert sparsecl.get_plan(SPEC, 1, 2, 512, 32, block=32).block_reason == "given by the caller"
    o = sparsecl.attention(q, k, v, pattern=SPEC, block="auto")
    assert rel_err(o, reference(q, k, v, causal_strided(512, 512, 32))[0]) <= 1e-4
    with pytest.raises(sparsecl.InvalidArgumentError, match="'auto' or a power of two"):
        sparsecl.attention(q, k, v, pattern=SPEC, block="automatic")
    with pytest.raises(sparsecl.InvalidArgumentError, match="not 'auto'"):
        sparsecl.attention(q, k, v, pattern=np.ones((1, 4, 4), np.uint8), block="auto")
