"""Runtimes, patterns and plans: Python objects over the C handles of sparsecl.h.

Every C handle is owned by exactly one Python object, destroyed by its ``close()`` (also on
leaving a ``with`` block) or, failing that, when the object is garbage collected.  A plan keeps
its runtime alive; closing a runtime first closes the plans made on it.  Failing calls raise a
subclass of :class:`Error` carrying the library's own message (``scl_last_error_message``).
"""
import hashlib
import threading
import weakref

import numpy as np

from ._sparsecl import ffi, lib

# ---- errors ------------------------------------------------------------------------------------


class Error(Exception):
    """A failing sparsecl call.  ``str(e)`` is the library's message; ``e.status`` the
    ``scl_status`` code and ``e.status_name`` its name (``"SCL_ERR_PATTERN"``...)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.status_name = _status_name(status) if status is not None else None


class InvalidArgumentError(Error, ValueError):
    """SCL_ERR_INVALID_ARGUMENT, and arguments the Python layer refuses (dtype, shapes)."""


class OutOfMemoryError(Error, MemoryError):
    """SCL_ERR_OUT_OF_MEMORY: a host or device allocation failed."""


class NoDeviceError(Error):
    """SCL_ERR_NO_DEVICE: no OpenCL device, or none matching the selector."""


class OpenCLError(Error):
    """SCL_ERR_OPENCL: an OpenCL call failed (the message names it and its CL_* code)."""


class BuildError(Error):
    """SCL_ERR_BUILD: a kernel failed to compile (the message holds the build log)."""


class FileError(Error, OSError):
    """SCL_ERR_IO: a file could not be read or written."""


class PatternError(Error, ValueError):
    """SCL_ERR_PATTERN: a malformed spec, or one that does not fit the shape."""


class UnsupportedError(Error):
    """SCL_ERR_UNSUPPORTED: a valid request this device or build cannot run."""


_ERRORS = {
    lib.SCL_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    lib.SCL_ERR_OUT_OF_MEMORY: OutOfMemoryError,
    lib.SCL_ERR_NO_DEVICE: NoDeviceError,
    lib.SCL_ERR_OPENCL: OpenCLError,
    lib.SCL_ERR_BUILD: BuildError,
    lib.SCL_ERR_IO: FileError,
    lib.SCL_ERR_PATTERN: PatternError,
    lib.SCL_ERR_UNSUPPORTED: UnsupportedError,
}


def _status_name(status):
    return ffi.string(lib.scl_status_string(status)).decode()


def _raise(status, rt_ptr):
    msg = ""
    if rt_ptr is not None and rt_ptr != ffi.NULL:
        msg = ffi.string(lib.scl_last_error_message(rt_ptr)).decode(errors="replace")
    raise _ERRORS.get(status, Error)(msg or _status_name(status), status)


def _check(status, rt_ptr):
    if status != lib.SCL_OK:
        _raise(status, rt_ptr)


def library_version():
    """The C library's version, ``scl_version()`` ("MAJOR.MINOR.PATCH")."""
    return ffi.string(lib.scl_version()).decode()


# ---- dtypes ------------------------------------------------------------------------------------

try:  # bfloat16 as a NumPy dtype, where the ml_dtypes package is installed
    import ml_dtypes as _ml_dtypes

    _BF16_DTYPE = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    _BF16_DTYPE = None

HAVE_BF16 = hasattr(lib, "SCL_BF16")


def _dtype_code(dtype):
    """(scl_dtype, numpy storage dtype) for a NumPy dtype, a name, or a torch-style name.

    float32 and float16 map to SCL_F32 / SCL_F16.  bfloat16 (SCL_BF16, where this build of the
    library has it) is ml_dtypes.bfloat16 when that package is installed; uint16 arrays are always
    taken as bfloat16 bit patterns (the library's storage: the upper half of a float32)."""
    if isinstance(dtype, str) and dtype in ("bfloat16", "bf16"):
        if not HAVE_BF16:
            raise InvalidArgumentError("bfloat16: this build of the sparsecl library has no SCL_BF16")
        return lib.SCL_BF16, (_BF16_DTYPE if _BF16_DTYPE is not None else np.dtype(np.uint16))
    dt = np.dtype(dtype)
    if dt == np.float32:
        return lib.SCL_F32, np.dtype(np.float32)
    if dt == np.float16:
        return lib.SCL_F16, np.dtype(np.float16)
    if (dt == np.uint16 or (_BF16_DTYPE is not None and dt == _BF16_DTYPE)) and HAVE_BF16:
        return lib.SCL_BF16, dt
    raise InvalidArgumentError(
        "dtype %s is not supported: float32, float16%s" % (dt, ", bfloat16 (ml_dtypes.bfloat16, or uint16 bit "
                                                              "patterns)" if HAVE_BF16 else ""))


# ---- devices -----------------------------------------------------------------------------------

_TYPES = [(1 << 1, "cpu"), (1 << 2, "gpu"), (1 << 3, "accelerator"), (1 << 4, "custom")]


class DeviceInfo:
    """One OpenCL device as ``scl_devices_list`` describes it.  ``index`` is the global index used
    by selectors (``Runtime(device=index)``); ``default`` marks the device chosen without one."""

    __slots__ = ("index", "name", "platform", "vendor", "driver_version", "device_version", "type",
                 "compute_units", "clock_mhz", "global_mem_bytes", "local_mem_bytes", "max_alloc_bytes",
                 "max_work_group_size", "fp16", "fp64", "default")

    def __init__(self, info, default=False):
        s = lambda a: ffi.string(a).decode(errors="replace").strip()  # noqa: E731
        self.index = info.index
        self.name = s(info.name)
        self.platform = s(info.platform_name)
        self.vendor = s(info.vendor)
        self.driver_version = s(info.driver_version)
        self.device_version = s(info.device_version)
        t = int(info.type)
        self.type = next((n for bit, n in _TYPES if t & bit), "other")
        self.compute_units = int(info.compute_units)
        self.clock_mhz = int(info.clock_mhz)
        self.global_mem_bytes = int(info.global_mem_bytes)
        self.local_mem_bytes = int(info.local_mem_bytes)
        self.max_alloc_bytes = int(info.max_alloc_bytes)
        self.max_work_group_size = int(info.max_work_group_size)
        self.fp16 = bool(info.fp16)
        self.fp64 = bool(info.fp64)
        self.default = default

    def __repr__(self):
        return "<sparsecl device %d: %s (%s, %s)%s>" % (self.index, self.name, self.platform, self.type,
                                                        " default" if self.default else "")


def devices():
    """Every OpenCL device of every platform, as a list of :class:`DeviceInfo` (empty when there
    is none); the one a runtime takes without a selector has ``default = True``."""
    count = ffi.new("int *")
    _check(lib.scl_devices_list(ffi.NULL, 0, count), None)
    n = count[0]
    if n == 0:
        return []
    arr = ffi.new("scl_device_info[]", n)
    _check(lib.scl_devices_list(arr, n, count), None)
    chosen = ffi.new("scl_device_info *")
    msg = ffi.new("char[]", 512)
    default = chosen.index if lib.scl_device_select(ffi.NULL, chosen, msg, 512) == lib.SCL_OK else -1
    return [DeviceInfo(arr[i], arr[i].index == default) for i in range(min(n, count[0]))]


# ---- runtime -----------------------------------------------------------------------------------


def _int_ptr(obj):
    """The address of an OpenCL handle: a PyOpenCL object (``int_ptr``) or an integer."""
    return int(getattr(obj, "int_ptr", obj))


class _Closing:
    """``with`` closes the object at the end of the block (its ``close()``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Runtime(_Closing):
    """A device with its OpenCL context and queue (``scl_runtime``).

    ``Runtime(device=None)`` picks the device like the CLI: None or "" = ``$SPARSECL_DEVICE``,
    else the first GPU, else the first CPU; otherwise an index (int or str), "cpu", "gpu", a
    vendor word ("nvidia", "pocl", ... optionally ":N") or part of the device or platform name.
    :meth:`from_cl` wraps a caller's context and queue instead (e.g. PyOpenCL's).  Use as a
    context manager, or call :meth:`close`; it is also freed when collected."""

    def __init__(self, device=None, _ptr=None, _keep=None):
        self._plans = weakref.WeakSet()
        self._keep = _keep  # objects whose OpenCL handles the runtime wraps (PyOpenCL context/queue)
        if _ptr is None:
            out = ffi.new("scl_runtime **")
            sel = ffi.NULL if device is None else str(device).encode()
            st = lib.scl_runtime_create(sel, out)
            if st != lib.SCL_OK:
                try:
                    _raise(st, out[0])
                finally:
                    lib.scl_runtime_destroy(out[0])
            _ptr = out[0]
        self._ptr = ffi.gc(_ptr, lib.scl_runtime_destroy)

    @classmethod
    def from_cl(cls, context, queue):
        """Wrap an existing OpenCL context and queue (``scl_runtime_create_from_cl``): PyOpenCL
        ``Context``/``CommandQueue`` objects or their integer ``int_ptr`` addresses.  The handles
        are retained by the library and released when the runtime is closed."""
        out = ffi.new("scl_runtime **")
        st = lib.scl_runtime_create_from_cl(ffi.cast("cl_context", _int_ptr(context)),
                                            ffi.cast("cl_command_queue", _int_ptr(queue)), out)
        if st != lib.SCL_OK:
            try:
                _raise(st, out[0])
            finally:
                lib.scl_runtime_destroy(out[0])
        return cls(_ptr=out[0], _keep=(context, queue))

    @property
    def ptr(self):
        """The ``scl_runtime *`` (cffi pointer); raises when the runtime is closed."""
        if self._ptr is None:
            raise InvalidArgumentError("this sparsecl Runtime is closed")
        return self._ptr

    @property
    def device(self):
        """The runtime's device, a :class:`DeviceInfo`."""
        return DeviceInfo(lib.scl_runtime_device(self.ptr)[0])

    @property
    def context_ptr(self):
        """The ``cl_context`` address (e.g. for ``pyopencl.Context.from_int_ptr``)."""
        return int(ffi.cast("intptr_t", lib.scl_runtime_context(self.ptr)))

    @property
    def queue_ptr(self):
        """The ``cl_command_queue`` address."""
        return int(ffi.cast("intptr_t", lib.scl_runtime_queue(self.ptr)))

    @property
    def cache_dir(self):
        """The on-disk program cache directory ("" when caching is off)."""
        return ffi.string(lib.scl_runtime_cache_dir(self.ptr)).decode()

    def last_error(self):
        """The library's message for the last failing call on this runtime ("" if none)."""
        return ffi.string(lib.scl_last_error_message(self.ptr)).decode(errors="replace")

    def close(self):
        """Destroy the runtime, after closing every plan made on it.  Idempotent."""
        if self._ptr is None:
            return
        for plan in list(self._plans):
            plan.close()
        ptr, self._ptr = self._ptr, None
        ffi.release(ptr)
        self._keep = None

    @property
    def closed(self):
        """True once :meth:`close` ran."""
        return self._ptr is None

    def __repr__(self):
        if self._ptr is None:
            return "<sparsecl Runtime (closed)>"
        return "<sparsecl Runtime on %s>" % self.device.name


_default_lock = threading.Lock()
_default_runtimes = {}


def default_runtime(device=None):
    """The runtime :func:`attention` uses for ``device`` (a :class:`Runtime` is returned as it
    is; None, an index or a selector string give one shared runtime per selector)."""
    if isinstance(device, Runtime):
        return device
    key = "" if device is None else str(device)
    with _default_lock:
        rt = _default_runtimes.get(key)
        if rt is None or rt.closed:
            rt = Runtime(None if device is None else key)
            _default_runtimes[key] = rt
        return rt


# ---- patterns ----------------------------------------------------------------------------------


def _message_runtime(runtime):
    """The scl_runtime * that receives a pattern call's error message: the given runtime, else the
    default one; NULL where no device exists (patterns need none: only the message's details are
    lost then, the call still works)."""
    if runtime is not None:
        return default_runtime(runtime).ptr
    try:
        return default_runtime().ptr
    except NoDeviceError:
        return ffi.NULL


def _pack_masks(masks, block):
    """Element masks [n, block, block] (bool) -> uint32 words, the LUT bit layout."""
    m = np.ascontiguousarray(np.asarray(masks) != 0).reshape(-1, block * block)
    return np.ascontiguousarray(np.packbits(m, axis=1, bitorder="little")).view("<u4").astype(np.uint32)


class Pattern(_Closing):
    """A sparsity pattern (``scl_pattern``): a spec string (grammar in patterns/README.md, e.g.
    ``"causal & strided(128)"``) or, through :meth:`from_layout`, a block layout in memory.

    Patterns are geometry-free: one pattern serves plans of any shape (layouts: of the shape they
    were made for).  ``runtime`` (default: the default runtime) only receives error messages;
    patterns and their masks need no device."""

    def __init__(self, spec, runtime=None, _ptr=None, _key=None, _block=None):
        if _ptr is None:
            if not isinstance(spec, str):
                raise InvalidArgumentError("a pattern spec is a string, got %s" % type(spec).__name__)
            rt = _message_runtime(runtime)
            out = ffi.new("scl_pattern **")
            _check(lib.scl_pattern_create(rt, spec.encode(), out), rt)
            _ptr = out[0]
        self._ptr = ffi.gc(_ptr, lib.scl_pattern_destroy)
        self.spec = ffi.string(lib.scl_pattern_spec(self._ptr)).decode()
        self.key = _key if _key is not None else ("spec", self.spec)
        self.block = _block  # the block size a layout was made for; None for specs

    @classmethod
    def from_layout(cls, layout, block, masks=None, mask_ids=None, runtime=None):
        """A pattern from a block layout (``scl_pattern_create_layout``): ``layout`` of shape
        ``[nb_q, nb_k]`` (every head) or ``[H, nb_q, nb_k]``, any integer or bool dtype, non-zero
        = the query block attends the key block (the OpenAI blocksparse / DeepSpeed format).
        Plans must use the same ``block`` and have ``nb = ceil(N / block)``.

        Optional element masks: ``masks`` bool ``[n, block, block]`` and ``mask_ids`` int
        ``[H, nb_q, nb_k]`` (or ``[nb_q, nb_k]``) with -1 for a whole block, else the index of the
        block's mask (element ``[y, x]`` = query ``r*block + y``, key ``c*block + x``)."""
        lay = np.asarray(layout)
        if lay.ndim == 2:
            lay = lay[None]
        if lay.ndim != 3:
            raise InvalidArgumentError("a layout is [nb_q, nb_k] or [H, nb_q, nb_k], got shape %s" % (lay.shape,))
        if lay.dtype.kind not in "biu":
            raise InvalidArgumentError("a layout has an integer or bool dtype, got %s" % lay.dtype)
        lay8 = np.ascontiguousarray(lay != 0, dtype=np.uint8)
        h, nbq, nbk = lay8.shape
        digest = hashlib.sha1(lay8.tobytes())
        digest.update(repr((lay8.shape, int(block))).encode())
        ids_c = words = ffi.NULL
        n_masks = 0
        keep = []
        if masks is not None or mask_ids is not None:
            if masks is None or mask_ids is None:
                raise InvalidArgumentError("element masks need both masks [n, block, block] and mask_ids")
            ids = np.asarray(mask_ids)
            if ids.ndim == 2:
                ids = ids[None]
            if ids.shape != lay8.shape:
                raise InvalidArgumentError("mask_ids has shape %s, the layout %s" % (ids.shape, lay8.shape))
            ids = np.ascontiguousarray(ids, dtype=np.int32)
            m = np.asarray(masks)
            if m.ndim != 3 or m.shape[1:] != (block, block):
                raise InvalidArgumentError("masks has shape %s, expected [n, %d, %d]" % (m.shape, block, block))
            w = _pack_masks(m, block) if m.shape[0] else np.zeros((0, max(block * block // 32, 1)), np.uint32)
            n_masks = int(m.shape[0])
            digest.update(ids.tobytes())
            digest.update(w.tobytes())
            keep = [ids, w]
            ids_c = ffi.cast("int32_t *", ids.ctypes.data)
            words = ffi.cast("uint32_t *", w.ctypes.data) if n_masks else ffi.NULL
        rt = _message_runtime(runtime)
        out = ffi.new("scl_pattern **")
        st = lib.scl_pattern_create_layout(rt, ffi.cast("uint8_t *", lay8.ctypes.data), h, nbq, nbk, int(block),
                                           ids_c, words, n_masks, out)
        del keep
        _check(st, rt)
        return cls(None, _ptr=out[0], _key=("layout", digest.hexdigest()), _block=int(block))

    def mask(self, seq_q, seq_k=None, heads=1, block=None, runtime=None):
        """The element mask of this pattern for a geometry, as plans run it: a NumPy bool array
        ``[heads, seq_q, seq_k]``, True where query i may attend key j (``scl_pattern_mask``).
        ``block`` defaults to the layout's block, else 64.  Memory is heads * seq_q * seq_k bytes."""
        seq_k = seq_q if seq_k is None else seq_k
        block = block or self.block or 64
        out = np.empty((heads, seq_q, seq_k), np.uint8)
        rt = _message_runtime(runtime)
        _check(lib.scl_pattern_mask(rt, self.ptr, heads, seq_q, seq_k, block,
                                    ffi.cast("uint8_t *", out.ctypes.data), out.nbytes), rt)
        return out.view(np.bool_)

    @property
    def ptr(self):
        """The ``scl_pattern *`` (cffi pointer); raises when the pattern is closed."""
        if self._ptr is None:
            raise InvalidArgumentError("this sparsecl Pattern is closed")
        return self._ptr

    def close(self):
        """Destroy the pattern (plans made from it keep working).  Idempotent."""
        if self._ptr is not None:
            ptr, self._ptr = self._ptr, None
            ffi.release(ptr)

    def __repr__(self):
        return "<sparsecl Pattern %s>" % self.spec


BLOCK_AUTO = -1  # SCL_BLOCK_AUTO of sparsecl.h (its #defines do not reach the cffi declarations)


def block_code(block):
    """``block`` for ``scl_shape.block``: an int (the library checks it), or ``"auto"``: the plan
    chooses (``SCL_BLOCK_AUTO``: a tuned block-choice entry of the device, else the rule)."""
    if isinstance(block, str):
        if block != "auto":
            raise InvalidArgumentError("block must be 'auto' or a power of two from 8 to 256, got %r" % block)
        return BLOCK_AUTO
    return int(block)


def as_pattern(pattern, block=None, runtime=None):
    """A :class:`Pattern` from a Pattern, a spec string, or a block layout array (see
    :meth:`Pattern.from_layout`; ``block`` is then required)."""
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, str):
        return Pattern(pattern, runtime)
    if block is None or block == "auto":
        raise InvalidArgumentError("a layout array needs its block size (not 'auto')")
    return Pattern.from_layout(np.asarray(pattern), block, runtime=runtime)


# ---- plans -------------------------------------------------------------------------------------

_LAYOUTS = {"bhnd": 0, "bnhd": 1}


def _layout_code(layout):
    try:
        return _LAYOUTS[str(layout).lower()]
    except KeyError:
        raise InvalidArgumentError("layout must be 'bhnd' ([B, H, N, d]) or 'bnhd' ([B, N, H, d]), got %r"
                                   % (layout,)) from None


def _shape4(layout, b, h, n, d):
    return (b, h, n, d) if layout == 0 else (b, n, h, d)


def _host_input(x, name, shape, dtype):
    """x as a C-contiguous native-endian array of `dtype` and `shape`: the array itself when it
    already is one, else exactly one copy.  Never reinterprets strides or dtypes."""
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype.newbyteorder("=") != dtype:
        raise InvalidArgumentError("%s has dtype %s, the plan runs %s" % (name, x.dtype, dtype))
    if tuple(x.shape) != tuple(shape):
        raise InvalidArgumentError("%s has shape %s, the plan expects %s" % (name, tuple(x.shape), tuple(shape)))
    if not (x.flags.c_contiguous and x.flags.aligned and x.dtype.isnative):
        x = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("="))
    return x


def _vp(x):
    return ffi.cast("void *", x.ctypes.data)


class Plan(_Closing):
    """A compiled plan (``scl_plan``): one pattern, one shape, one dtype, on one runtime.  Made
    once (pattern compile, kernel build through the binary cache, LUT upload), run many times.

    Shapes: ``layout="bhnd"``: q/o ``[B, H, N_q, d]``, k/v ``[B, H_kv, N_k, d]``;
    ``"bnhd"``: ``[B, N, H, d]``.  lse is float32 ``[B, H, N_q]``.  ``kv_heads`` (default H)
    must divide H (grouped-query attention); ``seq_k`` defaults to ``seq_q``; ``scale`` to
    ``1/sqrt(d)``.  Calls on one plan are serialised by a lock (the library requires it)."""

    def __init__(self, runtime, pattern, batch, heads, seq_q, head_dim, block=64, kv_heads=None, seq_k=None,
                 scale=None, dtype=np.float32, layout="bhnd"):
        self.runtime = default_runtime(runtime)
        self.pattern = as_pattern(pattern, block, self.runtime)
        code, self.dtype = _dtype_code(dtype)
        self.layout = _layout_code(layout)
        self.batch, self.heads, self.seq_q, self.head_dim = int(batch), int(heads), int(seq_q), int(head_dim)
        self.block = block_code(block)
        self.kv_heads = int(kv_heads) if kv_heads else self.heads
        self.seq_k = int(seq_k) if seq_k else self.seq_q
        self.scale = float(scale) if scale else 0.0
        shape = ffi.new("scl_shape *")
        shape.batch, shape.heads, shape.kv_heads = self.batch, self.heads, self.kv_heads
        shape.seq_q, shape.seq_k, shape.head_dim = self.seq_q, self.seq_k, self.head_dim
        shape.block, shape.scale, shape.layout = self.block, self.scale, self.layout
        out = ffi.new("scl_plan **")
        _check(lib.scl_plan_create(self.runtime.ptr, self.pattern.ptr, shape, code, out), self.runtime.ptr)
        self._ptr = ffi.gc(out[0], lib.scl_plan_destroy)
        self.block = int(lib.scl_plan_block(self._ptr))  # the block chosen for "auto"
        self.block_reason = ffi.string(lib.scl_plan_block_reason(self._ptr)).decode()
        self._lock = threading.Lock()
        self.runtime._plans.add(self)
        self.q_shape = _shape4(self.layout, self.batch, self.heads, self.seq_q, self.head_dim)
        self.kv_shape = _shape4(self.layout, self.batch, self.kv_heads, self.seq_k, self.head_dim)
        self.lse_shape = (self.batch, self.heads, self.seq_q)

    @property
    def ptr(self):
        """The ``scl_plan *`` (cffi pointer); raises when the plan is closed."""
        if self._ptr is None:
            raise InvalidArgumentError("this sparsecl Plan is closed")
        return self._ptr

    def _inputs(self, **arrays):
        out = []
        for name, x in arrays.items():
            if name == "lse":
                out.append(_host_input(x, name, self.lse_shape, np.dtype(np.float32)))
            else:
                out.append(_host_input(x, name, self.kv_shape if name in ("k", "v") else self.q_shape, self.dtype))
        return out

    def forward(self, q, k, v):
        """Forward pass on host arrays (``scl_plan_forward_host``; blocks until done).
        Returns ``(o, lse)``: o like q, lse float32 ``[B, H, N_q]`` (natural log; -inf and O = 0
        for rows with no allowed key)."""
        q, k, v = self._inputs(q=q, k=k, v=v)
        o = np.empty(self.q_shape, self.dtype)
        lse = np.empty(self.lse_shape, np.float32)
        with self._lock:
            st = lib.scl_plan_forward_host(self.ptr, _vp(q), _vp(k), _vp(v), _vp(o),
                                           ffi.cast("float *", lse.ctypes.data))
            _check(st, self.runtime.ptr)
        return o, lse

    def backward(self, q, k, v, o, lse, dout):
        """Backward pass on host arrays (``scl_plan_backward_host``): the forward's inputs, its
        o and lse, and dO.  Returns ``(dq, dk, dv)``; for grouped-query attention dk/dv are summed
        over the query heads sharing a key/value head."""
        q, k, v, o, lse, dout = self._inputs(q=q, k=k, v=v, o=o, lse=lse, dout=dout)
        dq = np.empty(self.q_shape, self.dtype)
        dk = np.empty(self.kv_shape, self.dtype)
        dv = np.empty(self.kv_shape, self.dtype)
        with self._lock:
            st = lib.scl_plan_backward_host(self.ptr, _vp(q), _vp(k), _vp(v), _vp(o),
                                            ffi.cast("float *", lse.ctypes.data), _vp(dout), _vp(dq), _vp(dk),
                                            _vp(dv))
            _check(st, self.runtime.ptr)
        return dq, dk, dv

    def _events(self, wait_for):
        evs = [e for e in (wait_for or ()) if e is not None]
        if not evs:
            return 0, ffi.NULL
        return len(evs), ffi.new("cl_event[]", [ffi.cast("cl_event", _int_ptr(e)) for e in evs])

    def forward_cl(self, q, k, v, o, lse=None, wait_for=None):
        """Enqueue the forward pass on OpenCL buffers of the runtime's context (``scl_plan_forward``,
        zero copy): q, k, v, o, lse are ``cl_mem`` handles (PyOpenCL ``Buffer`` objects or integer
        addresses; lse may be None).  Waits for ``wait_for`` (events or addresses) and returns the
        address of the new ``cl_event``, which the caller owns (``pyopencl.Event.from_int_ptr(ev,
        retain=False)`` takes it over)."""
        mem = lambda b: ffi.NULL if b is None else ffi.cast("cl_mem", _int_ptr(b))  # noqa: E731
        n, wl = self._events(wait_for)
        ev = ffi.new("cl_event *")
        with self._lock:
            st = lib.scl_plan_forward(self.ptr, mem(q), mem(k), mem(v), mem(o), mem(lse), n, wl, ev)
            _check(st, self.runtime.ptr)
        return int(ffi.cast("intptr_t", ev[0]))

    def backward_cl(self, q, k, v, o, lse, dout, dq, dk, dv, wait_for=None):
        """Enqueue the backward pass on OpenCL buffers (``scl_plan_backward``); as forward_cl."""
        mem = lambda b: ffi.cast("cl_mem", _int_ptr(b))  # noqa: E731
        n, wl = self._events(wait_for)
        ev = ffi.new("cl_event *")
        with self._lock:
            st = lib.scl_plan_backward(self.ptr, mem(q), mem(k), mem(v), mem(o), mem(lse), mem(dout), mem(dq),
                                       mem(dk), mem(dv), n, wl, ev)
            _check(st, self.runtime.ptr)
        return int(ffi.cast("intptr_t", ev[0]))

    @property
    def stats(self):
        """What the plan knows about its pattern (``scl_plan_get_stats``), as a dict."""
        s = ffi.new("scl_plan_stats *")
        lib.scl_plan_get_stats(self.ptr, s)
        return {name: getattr(s, name) for name, _ in ffi.typeof("scl_plan_stats").fields}

    @property
    def kernel_options(self):
        """The forward kernel's -D options (``scl_plan_kernel_options``)."""
        return ffi.string(lib.scl_plan_kernel_options(self.ptr)).decode()

    @property
    def kernel_source(self):
        """Where those parameters came from (tuning database entry or built-in defaults)."""
        return ffi.string(lib.scl_plan_kernel_source(self.ptr)).decode()

    def close(self):
        """Destroy the plan.  Idempotent; the runtime stays."""
        if self._ptr is not None:
            with self._lock:
                ptr, self._ptr = self._ptr, None
                ffi.release(ptr)

    @property
    def closed(self):
        """True once :meth:`close` ran (or the plan's runtime was closed)."""
        return self._ptr is None

    def __repr__(self):
        return "<sparsecl Plan %s q%s kv%s %s%s>" % (self.pattern.spec, self.q_shape, self.kv_shape, self.dtype,
                                                     " closed" if self._ptr is None else "")
