#!/usr/bin/env python3
"""For Python, use the sparsecl package: `pip install ./python` (python/README.md), with NumPy,
PyTorch (autograd) and PyOpenCL front ends and a binding generated from sparsecl.h.

This file stays only as the install test's check (tests/install) that an installed libsparsecl.so
can be called from Python with nothing built: ctypes with hand-written declarations, which a real
program should not copy.  usage: attention_ctypes.py [path/to/libsparsecl.so]
Exit status 77 when NumPy is missing (the test suite reports a skip)."""
import ctypes
import sys

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipped")
    sys.exit(77)

lib = ctypes.CDLL(sys.argv[1] if len(sys.argv) > 1 else "libsparsecl.so")


class Shape(ctypes.Structure):  # scl_shape in sparsecl.h
    _fields_ = [("batch", ctypes.c_int), ("heads", ctypes.c_int), ("kv_heads", ctypes.c_int),
                ("seq_q", ctypes.c_int64), ("seq_k", ctypes.c_int64), ("head_dim", ctypes.c_int),
                ("block", ctypes.c_int), ("scale", ctypes.c_float), ("layout", ctypes.c_int)]


vp = ctypes.c_void_p
lib.scl_version.restype = ctypes.c_char_p
lib.scl_status_string.restype = ctypes.c_char_p
lib.scl_last_error_message.restype = ctypes.c_char_p
lib.scl_last_error_message.argtypes = [vp]
lib.scl_runtime_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)]
lib.scl_runtime_destroy.argtypes = [vp]
lib.scl_pattern_create.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(vp)]
lib.scl_pattern_destroy.argtypes = [vp]
lib.scl_plan_create.argtypes = [vp, vp, ctypes.POINTER(Shape), ctypes.c_int, ctypes.POINTER(vp)]
lib.scl_plan_destroy.argtypes = [vp]
lib.scl_plan_forward_host.argtypes = [vp, vp, vp, vp, vp, vp]


def ok(status, rt):
    if status != 0:
        raise RuntimeError("%s: %s" % (lib.scl_status_string(status).decode(),
                                       lib.scl_last_error_message(rt).decode()))


B, H, N, d, block = 1, 2, 150, 32, 16
spec = "causal & strided(32)"
rng = np.random.default_rng(0)
q, k, v = (rng.standard_normal((B, H, N, d)).astype(np.float32) for _ in range(3))

rt, pat, plan = vp(), vp(), vp()
try:
    ok(lib.scl_runtime_create(None, ctypes.byref(rt)), rt)
    ok(lib.scl_pattern_create(rt, spec.encode(), ctypes.byref(pat)), rt)
    shape = Shape(B, H, 0, N, 0, d, block, 0.0, 0)  # BHND, scale 1/sqrt(d)
    ok(lib.scl_plan_create(rt, pat, ctypes.byref(shape), 0, ctypes.byref(plan)), rt)
    o = np.empty_like(q)
    lse = np.empty((B, H, N), np.float32)
    ok(lib.scl_plan_forward_host(plan, q.ctypes.data, k.ctypes.data, v.ctypes.data, o.ctypes.data,
                                 lse.ctypes.data), rt)
finally:
    lib.scl_plan_destroy(plan)
    lib.scl_pattern_destroy(pat)
    lib.scl_runtime_destroy(rt)

# NumPy reference: causal (j <= i) and strided(32) as patterns/README.md defines it (Child et al.
# 2019): |i - j| <= 32 or (i - j) mod 32 == 0.
i = np.arange(N)[:, None]
j = np.arange(N)[None, :]
allowed = (j <= i) & ((np.abs(i - j) <= 32) | ((i - j) % 32 == 0))
s = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k.astype(np.float64)) / np.sqrt(d)
s = np.where(allowed, s, -np.inf)
m = s.max(-1, keepdims=True)
p = np.exp(s - m)
ref = np.einsum("bhij,bhjd->bhid", p / p.sum(-1, keepdims=True), v.astype(np.float64))
err = np.abs(o - ref).max() / np.abs(ref).max()
print("sparsecl %s via ctypes: '%s' B=%d H=%d N=%d d=%d, max error %.3g relative to output scale"
      % (lib.scl_version().decode(), spec, B, H, N, d, err))
sys.exit(0 if err <= 1e-4 else 1)
