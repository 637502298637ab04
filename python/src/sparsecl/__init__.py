"""sparsecl: portable OpenCL block-sparse attention, from Python.

    import numpy as np, sparsecl
    q = k = v = np.random.rand(1, 4, 1024, 64).astype(np.float32)
    o = sparsecl.attention(q, k, v, pattern="causal & strided(128)", block=64)

NumPy arrays (:func:`attention`, :func:`attention_backward`), PyTorch tensors with autograd
(``sparsecl.torch``), PyOpenCL arrays without host copies (``sparsecl.opencl``), explicit
:class:`Runtime` / :class:`Pattern` / :class:`Plan` objects, and converters
(:func:`from_layout`, :func:`from_block_mask`, :func:`to_mask`).  Every failing library call
raises a subclass of :class:`Error` with the library's message.
"""
import os as _os

_here = _os.path.dirname(_os.path.abspath(__file__))
# The tuning databases shipped with the library travel inside the package; the library looks
# there through SPARSECL_TUNING_DIR unless the caller has set it (the user's own cache,
# ~/.cache/sparsecl/tuning, still comes first).
if "SPARSECL_TUNING_DIR" not in _os.environ and _os.path.isdir(_os.path.join(_here, "tuning")):
    _os.environ["SPARSECL_TUNING_DIR"] = _os.path.join(_here, "tuning")

from ._core import (  # noqa: E402
    HAVE_BF16,
    BuildError,
    DeviceInfo,
    Error,
    FileError,
    InvalidArgumentError,
    NoDeviceError,
    OpenCLError,
    OutOfMemoryError,
    Pattern,
    PatternError,
    Plan,
    Runtime,
    UnsupportedError,
    default_runtime,
    devices,
    library_version,
)
from ._attention import (  # noqa: E402
    DEFAULT_PATTERN,
    attention,
    attention_backward,
    clear_plan_cache,
    get_plan,
    plan_cache_info,
)
from .convert import from_block_mask, from_layout, to_mask  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "HAVE_BF16", "BuildError", "DEFAULT_PATTERN", "DeviceInfo", "Error", "FileError", "InvalidArgumentError",
    "NoDeviceError", "OpenCLError", "OutOfMemoryError", "Pattern", "PatternError", "Plan", "Runtime",
    "UnsupportedError", "attention", "attention_backward", "clear_plan_cache", "default_runtime", "devices",
    "from_block_mask", "from_layout", "get_plan", "library_version", "plan_cache_info", "to_mask",
]
