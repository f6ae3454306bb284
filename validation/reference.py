"""The oracle every GPU kernel and the numpy emulation are checked against (STYLE 7).

float64 ``softmax(q k^T * scale) v`` on the CPU for one head, under an element mask
(True = attend). A query row with no visible key has output 0 — what attnsim's kernels write.
"""

import numpy as np

# max |out - ref| allowed for 16-bit inputs and outputs (output rounding alone is ~|o| * 2^-11 for
# fp16 and |o| * 2^-8 for bf16, |o| up to ~3 for N(0, 1) values; P is rounded to 16 bits too)
TOLERANCE = {"fp16": 1e-2, "bf16": 4e-2}
# ||out - ref|| / ||ref|| allowed. Needed besides TOLERANCE because long rows average N(0, 1) values
# into small outputs (decode over 128k keys: |o| < 0.02), where an all-zero output would pass the
# absolute test; a correct kernel is at ~3e-4 (fp16) and ~5e-3 (bf16), a wrong one near 1.
REL_TOLERANCE = {"fp16": 1e-2, "bf16": 4e-2}


def attention(q, k, v, scale: float, mask=None) -> np.ndarray:
    """Attention of q [nq, d] against k, v [nkv, d] in float64; ``mask`` [nq, nkv] bool or None."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    s = (q @ k.T) * scale
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m)
    l = p.sum(axis=-1, keepdims=True)
    return (p @ v) / np.where(l > 0, l, 1.0)


def errors(out, ref) -> tuple[float, float]:
    """(max |out - ref|, ||out - ref|| / ||ref||); NaN anywhere in ``out`` gives (inf, inf)."""
    out, ref = np.asarray(out, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if not np.isfinite(out).all():
        return float("inf"), float("inf")
    diff = out - ref
    norm = np.linalg.norm(ref)
    return float(np.abs(diff).max(initial=0.0)), float(np.linalg.norm(diff) / norm) if norm else 0.0


def passes(max_abs_err: float, rel_err: float, dtype: str) -> bool:
    """Whether an output with these errors is believed (finite, within TOLERANCE and REL_TOLERANCE)."""
    return bool(np.isfinite(max_abs_err) and max_abs_err <= TOLERANCE[dtype]
                and np.isfinite(rel_err) and rel_err <= REL_TOLERANCE[dtype])


def failure(max_abs_err: float, rel_err: float, dtype: str) -> str:
    """Why ``passes`` said no, in one line."""
    return (f"output differs from the float64 reference: max |error| {max_abs_err:.3g} (allowed "
            f"{TOLERANCE[dtype]:g}), relative error {rel_err:.3g} (allowed {REL_TOLERANCE[dtype]:g}), or not finite")
