"""External references where PyTorch is installed: SDPA (flash backend), FlexAttention, and the
"standard attention" of the FlashAttention benchmarks.

Same contract as ``attention.build``: a Case whose ``run`` enqueues one call on PyTorch's current
stream (the runner times it on that stream) and whose ``check`` compares sampled rows with the
float64 oracle. PyTorch's ``is_causal`` is top-left aligned, so causal SDPA points need
seq_len == kv_len; FlexAttention gets the point's mask as a ``mask_mod`` and a block mask.
``torch-standard`` is ``attention_pytorch`` of flash-attention's benchmarks/benchmark_flash_attention.py
(the "standard" rows of the FA2 and FA3 papers' plots), eager PyTorch on a packed QKV tensor: it times
what published standard-attention numbers include, layout copies and the separate mask add too.
"""

import functools
import math

import numpy as np

from validation import attention

DEVICE = "cuda"


def available() -> bool:
    """PyTorch importable and seeing a CUDA device."""
    try:
        import torch
    except Exception:  # absent or broken: the torch points are skipped
        return False
    return bool(torch.cuda.is_available())


def stream_of_torch(cp):
    """A CuPy stream context on PyTorch's current stream, so events and L2 flushes share its order."""
    import torch

    stream = torch.cuda.current_stream()
    if stream.cuda_stream == 0:  # PyTorch's default stream is the legacy default stream, CuPy's too
        return cp.cuda.Stream.null
    try:
        return cp.cuda.Stream.from_external(stream)  # CuPy >= 14 (ExternalStream is deprecated there)
    except (AttributeError, TypeError):  # older CuPy, or a torch stream without __cuda_stream__
        return cp.cuda.ExternalStream(stream.cuda_stream)


def build(point, pattern=None) -> attention.Case:
    """The Case of a ``torch-sdpa``, ``torch-flex`` or ``torch-standard`` Point; ``pattern`` is the flex mask
    Pattern."""
    import torch

    dt = {"fp16": torch.float16, "bf16": torch.bfloat16}[point.dtype]
    gen = torch.Generator(device=DEVICE).manual_seed(point.seq_len * 7 + point.head_dim)
    scale = 1.0 / math.sqrt(point.head_dim)
    out = {}
    if point.kernel == "torch-standard":
        _check_packed(point)
        qkv = torch.randn(point.batch, point.seq_len, 3, point.heads, point.head_dim, device=DEVICE, dtype=dt,
                          generator=gen)
        q, k, v = (x.transpose(1, 2) for x in qkv.unbind(dim=2))  # [batch, heads, seq, d] views for the check
    else:
        q = torch.randn(point.batch, point.heads, point.seq_len, point.head_dim, device=DEVICE, dtype=dt,
                        generator=gen)
        k = torch.randn(point.batch, point.kv_heads, point.kv_len, point.head_dim, device=DEVICE, dtype=dt,
                        generator=gen)
        v = torch.randn(k.shape, device=DEVICE, dtype=dt, generator=gen)
    if point.kernel == "torch-standard":
        mask = attention.causal_pattern() if point.causal else None
        run, attended = _standard(torch, point, qkv, out), attention.attended(point, mask, None)
    elif point.kernel == "torch-sdpa":
        mask = attention.causal_pattern() if point.causal else None
        run, attended = _sdpa(torch, point, q, k, v, scale, out), attention.attended(point, mask, None)
    elif point.kernel == "torch-flex":
        mask = pattern
        run, attended = _flex(torch, point, q, k, v, scale, pattern, out), float(_mask_sum(pattern, point))
    else:
        raise ValueError(f"not a torch kernel: {point.kernel}")
    heads = TorchHeads(q, k, v, out)
    return attention.Case(run, lambda: attention.check(heads, point, mask),
                          4.0 * point.batch * point.heads * point.head_dim * attended, 1.0,
                          str(mask) if mask is not None else None)


def _sdpa(torch, p, q, k, v, scale, out):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if p.causal and p.seq_len != p.kv_len:
        raise ValueError("torch SDPA's is_causal is top-left aligned: causal points need seq_len == kv_len")
    if p.heads != p.kv_heads:
        raise ValueError("torch SDPA points are MHA only (kv_heads == heads)")

    def run():
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            out["o"] = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=p.causal, scale=scale)

    return run


def _check_packed(p):
    if p.seq_len != p.kv_len or p.heads != p.kv_heads:
        raise ValueError("torch-standard takes one packed QKV tensor: seq_len == kv_len and kv_heads == heads")


def _standard(torch, p, qkv, out):
    """flash-attention benchmarks/benchmark_flash_attention.py, attention_pytorch (dropout 0: no kernel),
    with einops' rearranges written as the reshapes they are."""
    b, n, _, h, d = qkv.shape
    scale = 1.0 / math.sqrt(d)

    def run():
        q, k, v = qkv.unbind(dim=2)
        q = q.transpose(1, 2).reshape(b * h, n, d)  # 'b t h d -> (b h) t d': a copy
        k = k.permute(0, 2, 3, 1).reshape(b * h, d, n)  # 'b s h d -> (b h) d s': a copy
        scores = torch.empty(b * h, n, n, dtype=qkv.dtype, device=qkv.device)
        scores = torch.baddbmm(scores, q, k, beta=0, alpha=scale).view(b, h, n, n)
        if p.causal:
            causal_mask = torch.triu(torch.full((n, n), -10000.0, device=scores.device), 1)
            scores = scores + causal_mask.to(dtype=scores.dtype)
        attn = torch.softmax(scores, dim=-1)
        out["o"] = torch.einsum("bhts,bshd->bthd", attn, v).transpose(1, 2)  # viewed [batch, heads, seq, d]

    return run


@functools.cache
def _compiled_flex():
    import torch
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def _flex(torch, p, q, k, v, scale, pattern, out):
    from torch.nn.attention.flex_attention import create_block_mask

    mask_mod = torch_mask_mod(torch, pattern, p.seq_len, p.kv_len)
    block_mask = create_block_mask(mask_mod, None, None, p.seq_len, p.kv_len, device=DEVICE)
    flex = _compiled_flex()

    def run():
        out["o"] = flex(q, k, v, block_mask=block_mask, scale=scale)

    return run


def torch_mask_mod(torch, pattern, seq_len: int, kv_len: int):
    """``pattern`` (causal, window, chunked, full, random_blocks with 64x64 coins, & and |) as a FlexAttention
    mask_mod."""
    off = kv_len - seq_len

    def build(p):
        if p.name in ("&", "|"):
            left, right = build(p.parts[0]), build(p.parts[1])
            return (lambda q, k: left(q, k) & right(q, k)) if p.name == "&" else (lambda q, k: left(q, k) | right(q, k))
        if p.name == "causal":
            return lambda q, k: k <= q + off
        if p.name == "window" and len(p.args) == 2:  # l keys before the aligned diagonal, r after it
            before, after = p.args
            return lambda q, k: (k >= q + off - before) & (k <= q + off + after)
        if p.name == "window":
            w = p.args[0]
            return lambda q, k: (k <= q + off) & (k > q + off - w)
        if p.name == "chunked":
            w = p.args[0]
            return lambda q, k: k // w == (q + off) // w
        if p.name == "full":
            return lambda q, k: k >= 0
        if p.name == "random_blocks":
            bq, bkv = attention.FA_BLOCK_Q, attention.FA_BLOCK_KV
            qb = np.arange(math.ceil(seq_len / bq))[:, None] * bq
            kb = np.arange(math.ceil(kv_len / bkv))[None, :] * bkv
            table = torch.tensor(np.array(p.mask(qb, kb, seq_len, kv_len, block=(bq, bkv))), device=DEVICE)
            return lambda q, k: table[q // bq, k // bkv]
        raise ValueError(f"no FlexAttention mask for pattern {p.name!r}")

    fn = build(pattern)
    return lambda b, h, q_idx, kv_idx: fn(q_idx, kv_idx)


def _mask_sum(pattern, p) -> int:
    """Attended elements of the pattern, counted block row by block row."""
    from validation.blocks import element_mask_rows

    total, step = 0, 256
    for lo in range(0, p.seq_len, step):
        rows = np.arange(lo, min(lo + step, p.seq_len))
        total += int(element_mask_rows(pattern, rows, p.seq_len, p.kv_len, (attention.FA_BLOCK_Q,
                                                                           attention.FA_BLOCK_KV)).sum())
    return total


class TorchHeads:
    """The CupyHeads interface over PyTorch tensors (the output appears after the first run)."""

    def __init__(self, q, k, v, out):
        self._t = {"q": q, "k": k, "v": v}
        self._out = out

    def rows(self, name: str, b: int, h: int, rows) -> np.ndarray:
        x = (self._out["o"] if name == "o" else self._t[name])[b, h]
        if rows is not None:
            x = x[rows.tolist()]
        return x.float().cpu().numpy().astype(np.float64)

    def all_finite(self) -> bool:
        import torch

        return bool(torch.isfinite(self._out["o"]).all())
