"""CuPy access for the validation package: the availability check, kernel modules, 16-bit arrays.

CuPy is imported only inside these functions, so the rest of attnsim (and this module) imports
on machines without it. Kernels are the ``kernels/*.cu`` sources, compiled by CuPy's NVRTC on
first use (and cached on disk by CuPy). ``bf16`` arrays are ``uint16`` arrays holding the bits,
since CuPy has no bfloat16 dtype; every kernel takes raw 16-bit pointers.
"""

import functools
from pathlib import Path

from einsum_cascades.errors import UserError

KERNEL_DIR = Path(__file__).parent / "kernels"
COMMON_INCLUDE = '#include "common.cuh"'
NVRTC_OPTIONS = ("-std=c++17",)  # no --use_fast_math: every exp is an explicit ex2.approx
DEFAULT_SMEM_LIMIT = 48 * 1024  # dynamic shared memory above this needs an explicit opt-in
DTYPES = ("fp16", "bf16")
KERNEL_FILES = ("timing", "micro", "naive", "fa2", "decode")
NEEDS_GPU = "validate run needs a CUDA GPU and CuPy (pip install 'attnsim[gpu]': cupy-cuda13x, for CUDA 13)"


def require_gpu():
    """The ``cupy`` module when it is installed and sees a CUDA device; UserError (one line) otherwise."""
    try:
        import cupy
    except Exception as err:  # ImportError, or a broken install failing to load its libraries
        raise UserError(f"{NEEDS_GPU}; CuPy is not installed ({_first_line(err)})") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # no driver, driver too old, no device
        raise UserError(f"{NEEDS_GPU}; CuPy found no CUDA device ({_first_line(err)})") from None
    if count < 1:
        raise UserError(f"{NEEDS_GPU}; CuPy found no CUDA device")
    return cupy


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def kernel_source(name: str) -> str:
    """The self-contained source of ``kernels/NAME.cu``: common.cuh pasted in place of its include.

    Pasting (rather than ``-I``) keeps CuPy's compile cache keyed on everything that was compiled.
    """
    text = (KERNEL_DIR / f"{name}.cu").read_text()
    common = (KERNEL_DIR / "common.cuh").read_text().replace("#pragma once\n", "")
    return text.replace(COMMON_INCLUDE, common)


@functools.cache
def module(name: str):
    """``kernels/NAME.cu`` as a CuPy RawModule (compiled by NVRTC when a function is first fetched)."""
    cupy = require_gpu()
    return cupy.RawModule(code=kernel_source(name), options=NVRTC_OPTIONS)


@functools.cache
def kernel(file: str, function: str, dynamic_smem: int = 0):
    """The compiled ``extern "C"`` kernel ``function`` of ``kernels/FILE.cu``, allowed ``dynamic_smem`` bytes."""
    fn = module(file).get_function(function)
    if dynamic_smem > DEFAULT_SMEM_LIMIT:
        fn.max_dynamic_shared_size_bytes = dynamic_smem
    return fn


def random16(cupy, shape, dtype: str, seed: int):
    """Standard-normal values rounded to ``dtype`` (float16 array, or uint16 bits for bf16)."""
    x = cupy.random.RandomState(seed).standard_normal(shape, dtype=cupy.float32)
    if dtype == "fp16":
        return x.astype(cupy.float16)
    bits = x.view(cupy.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(cupy.uint16)  # round to nearest even


def empty16(cupy, shape, dtype: str, poison: bool = True):
    """An uninitialised 16-bit array; ``poison`` fills it with NaN (0x7FFF is NaN in fp16 and bf16)."""
    out = cupy.empty(shape, dtype=cupy.float16 if dtype == "fp16" else cupy.uint16)
    if poison:
        out.view(cupy.uint16).fill(0x7FFF)
    return out


def as_float32(cupy, x, dtype: str):
    """A float32 copy of a 16-bit array (on the device)."""
    if dtype == "fp16":
        return x.astype(cupy.float32)
    return (x.astype(cupy.uint32) << 16).view(cupy.float32)


def to_host64(cupy, x, dtype: str):
    """A numpy float64 copy of a 16-bit device array."""
    return cupy.asnumpy(as_float32(cupy, x, dtype)).astype("float64")
