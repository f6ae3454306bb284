"""The PyTorch reference code paths that run on a CPU too, where PyTorch is installed (not in CI)."""

import math

import numpy as np
import pytest

from validation import reference, torch_ref
from validation.suite import Point



@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype, tol", [("float32", 1e-4), ("bfloat16", 3e-2)])
def test_standard_attention_matches_the_oracle(causal, dtype, tol):
    """torch-standard's eager code (packed QKV, layout copies, additive -10000 mask) computes attention."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the GPU machines have it; CI does not)")
    b, n, h, d = 2, 40, 3, 64
    qkv = torch.randn(b, n, 3, h, d, dtype=getattr(torch, dtype), generator=torch.Generator().manual_seed(1))
    out = {}
    torch_ref._standard(torch, Point("torch-standard", b, h, h, d, n, n, causal=causal), qkv, out)()
    o = out["o"].float().numpy()
    q, k, v = (x.transpose(1, 2).double().numpy() for x in qkv.unbind(dim=2))
    mask = np.tril(np.ones((n, n), bool)) if causal else None
    for i, j in np.ndindex(b, h):
        ref = reference.attention(q[i, j], k[i, j], v[i, j], 1 / math.sqrt(d), mask)
        assert np.abs(o[i, j] - ref).max() < tol


def test_standard_attention_takes_one_packed_qkv_tensor():
    with pytest.raises(ValueError, match="packed QKV"):
        torch_ref._check_packed(Point("torch-standard", 1, 8, 2, 64, 128, 128))
