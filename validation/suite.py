"""What ``attnsim validate run`` measures: the attention points of the quick and full suites.

Pure data, no GPU: a Point is one attention call on one kernel; ``quick_points()`` and
``full_points()`` list them. Prefill shapes follow the FlashAttention benchmark convention
(hidden 2048: heads = 2048 / d; batch = 16384 / seq_len), so measured numbers line up with
published ones. Sparse points use the simulator's semantics: ``sparsity`` alone means seeded
random empty tiles (``random_blocks(1 - s, 0)`` at the kernel's tile, intersected with causal);
``pattern`` with ``sparsity`` means that expression with its sizes fitted to the target
(``einsum_cascades.sparsity.fit_pattern``) at the kernel's tile, so ``attnsim validate report``,
which models attnsim's kernels at their own tile, lowers the very same mask. FlexAttention points
(and their attnsim twins) take concrete expressions with sparsity 0 instead, since the
simulator does not know Flex's tile.
"""

from dataclasses import asdict, dataclass

# kernel -> (simulator algorithm, query tile, key tile); None where the kernel picks or has none
KERNELS = {
    "attnsim-naive": ("naive", None, None),
    "attnsim-fa2": ("flash2", 64, 64),
    "attnsim-fa2-sparse": ("flash2", 64, 64),
    "attnsim-decode-splitkv": ("flash-decoding", None, None),
    "torch-sdpa": ("flash2", None, None),
    "torch-flex": ("flash2", 128, 128),
    "torch-standard": ("naive", None, None),
}
TORCH_KERNELS = ("torch-sdpa", "torch-flex", "torch-standard")
FA_HIDDEN, FA_TOKENS = 2048, 16384  # FlashAttention benchmark shapes (FA2 / FA3 papers)
RANDOM_SEED = 0  # the seed of --sparsity's random tiles in simulator/tiles.py
WINDOW_PATTERN = "window(1k)"  # a causal sliding window; its width is fitted to each sparsity target


@dataclass(frozen=True)
class Point:
    """One attention call to measure (the workload keys of validation/FORMAT.md)."""

    kernel: str
    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    seq_len: int
    kv_len: int
    causal: bool = False
    dtype: str = "fp16"
    pattern: str | None = None
    sparsity: float = 0.0
    num_splits: int | None = None

    @property
    def algorithm(self) -> str:
        return KERNELS[self.kernel][0]

    def record(self) -> dict:
        """The point's keys in a results file, before anything is measured."""
        algo, bq, bkv = KERNELS[self.kernel]
        return {"kernel": self.kernel, "algorithm": algo, **{k: v for k, v in asdict(self).items() if k != "kernel"},
                "block_q": bq, "block_kv": bkv}

    def mask_pattern(self):
        """The Pattern the kernel applies (None = dense, unmasked), lowered as the simulator lowers it."""
        from einsum_cascades.sparsity import fit_pattern, parse_pattern

        if self.pattern:
            expr = f"causal&({self.pattern})" if self.causal else self.pattern
            if self.sparsity == 0:
                return parse_pattern(expr)
            bq, bkv = KERNELS[self.kernel][1:]
            return fit_pattern(expr, self.sparsity, self.seq_len, self.kv_len, bq, bkv)[0]
        if self.sparsity > 0:
            expr = f"random_blocks({1.0 - self.sparsity!r},{RANDOM_SEED})"
            return parse_pattern(expr + "&causal" if self.causal else expr)
        return parse_pattern("causal") if self.causal else None


def fa_shape(seq_len: int, head_dim: int) -> dict:
    """Batch and heads of the FlashAttention benchmarks at this length and head dim."""
    heads = FA_HIDDEN // head_dim
    return {"batch": max(1, FA_TOKENS // seq_len), "heads": heads, "kv_heads": heads, "head_dim": head_dim,
            "seq_len": seq_len, "kv_len": seq_len}


def _prefill(kernels, seq_lens, head_dims, causals, **extra) -> list[Point]:
    return [Point(kernel, **fa_shape(n, d), causal=c, **extra)
            for n in seq_lens for d in head_dims for c in causals for kernel in kernels]


def _sparse(seq_lens, sparsities, window_sparsities) -> list[Point]:
    out = []
    for n in seq_lens:
        shape = fa_shape(n, 128)
        out += [Point("attnsim-fa2-sparse", **shape, sparsity=s) for s in sparsities]
        out += [Point("attnsim-fa2-sparse", **shape, causal=True, pattern=WINDOW_PATTERN, sparsity=s)
                for s in window_sparsities]
    return out


def _flex(seq_len, patterns) -> list[Point]:
    """FlexAttention and attnsim's sparse kernel on the same concrete masks ((expression, causal) pairs)."""
    return [Point(kernel, **fa_shape(seq_len, 128), causal=causal, pattern=expr)
            for expr, causal in patterns for kernel in ("torch-flex", "attnsim-fa2-sparse")]


def _decode(kv_lens, splits, batches) -> list[Point]:
    # llama3-8b-like decode: 32 query heads sharing 8 KV heads, d 128, one new token
    return [Point("attnsim-decode-splitkv", batch=b, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=n,
                  num_splits=s) for b in batches for n in kv_lens for s in splits]


def quick_points() -> list[Point]:
    """A few minutes on an H100, compile time included: one shape of every kernel and mask kind."""
    n = 2048
    return (_prefill(("attnsim-naive", "attnsim-fa2", "torch-sdpa", "torch-standard"), (n,), (128,), (False, True))
            + _prefill(("attnsim-fa2",), (n,), (64,), (False,))
            + _prefill(("attnsim-fa2",), (n,), (128,), (False,), dtype="bf16")
            + [Point("attnsim-fa2", batch=2, heads=32, kv_heads=8, head_dim=128, seq_len=n, kv_len=n, causal=True)]
            + _sparse((n,), (0.0, 0.5, 0.9), (0.9,))
            + _flex(n, [("window(256)", True)])
            + _decode((16384, 65536), (1, 16), (1,)))


def full_points() -> list[Point]:
    """The sweep: seq len 512..16k, d 64/128, causal on/off, sparsity 0/0.5/0.9, decode 4k..128k."""
    lens = (512, 1024, 2048, 4096, 8192, 16384)
    return (_prefill(("attnsim-naive", "attnsim-fa2", "torch-sdpa", "torch-standard"), lens, (64, 128), (False, True))
            + _prefill(("attnsim-fa2",), (1024, 4096, 16384), (128,), (False,), dtype="bf16")
            + [Point("attnsim-fa2", batch=4, heads=32, kv_heads=8, head_dim=128, seq_len=4096, kv_len=4096, causal=c)
               for c in (False, True)]
            + _sparse((1024, 4096, 16384), (0.0, 0.5, 0.9), (0.5, 0.9))
            + _flex(4096, [("random_blocks(0.1)", False), ("window(512)", True)])
            + _decode((4096, 16384, 65536, 131072), (1, 8, 32), (1, 8)))
