"""What the user asks about: one attention call's shape, dtype and mask."""

from dataclasses import dataclass, fields
from functools import lru_cache

from einsum_cascades.errors import UserError

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp8": 1, "fp32": 4}
# dtype names as benchmarks print them (str(torch.bfloat16), numpy's names) -> attnsim's, in a --from file's cells and
# the Python API alike; any other text is kept, and Workload names it and the allowed ones if it is none of them
DTYPE_ALIASES = {**dict.fromkeys(("float16", "half", "f16", "torch.float16", "torch.half"), "fp16"),
                 **dict.fromkeys(("bfloat16", "torch.bfloat16"), "bf16"),
                 **dict.fromkeys(("float32", "float", "f32", "torch.float32", "torch.float"), "fp32"),
                 **dict.fromkeys(("e4m3", "e5m2", "fp8_e4m3", "fp8_e5m2", "float8_e4m3fn", "float8_e5m2",
                                  "torch.float8_e4m3fn", "torch.float8_e5m2"), "fp8")}
FMA_FLOPS = 2  # one multiply-accumulate = 2 FLOPs (the convention of every published TFLOP/s figure)
# Multi-head latent attention's absorbed form (DeepSeek-V2/V3 decode): one latent KV head whose K row is the
# 512-column compressed latent and the 64-column RoPE key, and whose V is that latent, K's first 512 columns
MLA_ABSORBED = (576, 512)


def mla_absorbed(head_dim, v_head_dim) -> bool:
    """Whether (head dim, value head dim) is MLA's absorbed form, whose V is K's own first columns."""
    return (int(head_dim), int(v_head_dim)) == MLA_ABSORBED
# What is timed: the family's kernels as a benchmark that flushes L2 before each call times them ("kernel"), or
# one that repeats the call without a flush ("kernel-warm": no dirty lines to write back), or a serving engine's
# attention layer call (simulator.layer)
SCOPES = ("kernel", "kernel-warm", "layer")
HEAD_DIM_MULTIPLE = 8  # FlashAttention's head dims are multiples of 8 (16-byte vector loads of fp16)
# Upper bounds on each size, far past any model or machine, so that every product the model forms stays
# exact in int64 and float64 (a tensor of at most MAX_TENSOR_BYTES, a score count of at most 2**90).
MAX_SIZES = {"batch": 1 << 20, "heads": 1 << 16, "kv_heads": 1 << 16, "head_dim": 1 << 16, "v_head_dim": 1 << 16,
             "seq_len": 1 << 30, "kv_len": 1 << 30, "block_size": 1 << 30, "page_size": 1 << 30}
MAX_TENSOR_BYTES = 1 << 60  # one Q, K, V or O tensor: an exbibyte
# The most KV splits any modelled kernel takes when asked for a count (FA3's mha_fwd: "num_splits > 256 not
# supported"; FA2's mha_fwd_kvcache caps at 128, checked per family in simulator.limits.splits_error)
MAX_NUM_SPLITS = 256


@dataclass(frozen=True, slots=True)
class Workload:
    """One forward attention call: B x H heads, Nq queries against Nkv keys of head dim d.

    ``kv_heads`` < ``heads`` is GQA/MQA; ``kv_len`` defaults to ``seq_len``.
    ``pattern`` is a sparsity expression (``None`` = dense); ``causal`` is
    intersected with it. ``sparsity`` > 0 asks for that fraction of empty tiles.
    """

    batch: int = 1
    heads: int = 32
    kv_heads: int | None = None
    head_dim: int = 128
    seq_len: int = 4096
    kv_len: int | None = None
    causal: bool = False
    dtype: str = "fp16"
    pattern: str | None = None
    sparsity: float = 0.0
    block_size: int | None = None
    v_head_dim: int | None = None  # value (and output) head dim; None = head_dim (MLA prefill: 192 / 128)
    scope: str = "kernel"  # what is timed: the kernel family's kernels, or a serving engine's whole layer call
    estimate: str | None = None  # a sparse method's index-building step, timed with the call (simulator.estimate)
    # tokens per page of the paged KV cache the call reads (a serving engine's block size); None: a contiguous cache,
    # except under --scope layer, where the engine's paged cache is assumed (simulator.gpu_kernels.paged_cache)
    page_size: int | None = None
    # the call goes through the kernels' variable-length entry point (flash_attn_varlen_func: the batch's sequences
    # packed along one token axis with cu_seqlens; all of seq_len / kv_len here), as a serving engine's prefill does
    varlen: bool = False
    # the KV split count the caller passes (flash_attn_with_kvcache(num_splits=N); as 1, FlashInfer's
    # plan(disable_split_kv=True) or its single-request kernels without a tmp buffer; 0, the kernel's split heuristic,
    # which FA4's flash_attn_func runs only when asked: num_splits=0); None: the kernel's own choice (its split
    # heuristic, or none), as each entry point defaults
    num_splits: int | None = None

    def __post_init__(self):
        for name in _NAMES:
            value = getattr(self, name)
            if type(value).__module__ == "numpy" and _is_numpy(value):  # np.int64(4096), np.float64(0.5), np.True_:
                object.__setattr__(self, name, value.item())  # the Python number they hold
        for name in _INTEGERS:
            value = getattr(self, name)
            if type(value) is float and value.is_integer():  # 4096.0 (np.float64's, or a table's float column)
                object.__setattr__(self, name, int(value))  # is the count it holds; 4096.5 is refused below
        if type(self.causal) is not bool:
            raise UserError(f"bad causal {self.causal!r}: true or false")
        if self.kv_heads is None:
            object.__setattr__(self, "kv_heads", self.heads)
        if self.v_head_dim is None:
            object.__setattr__(self, "v_head_dim", self.head_dim)
        if self.kv_len is None:
            object.__setattr__(self, "kv_len", self.seq_len)
        for name in ("pattern", "dtype", "scope", "estimate"):
            value = getattr(self, name)
            if value is not None and type(value) is not str:
                raise UserError(f"bad {name} {value!r}: a string")
        if self.dtype not in DTYPE_BYTES and type(self.dtype) is str and self.dtype.strip().lower() in DTYPE_ALIASES:
            object.__setattr__(self, "dtype", DTYPE_ALIASES[self.dtype.strip().lower()])  # torch's names, as --from
        if self.pattern in ("", "none", "dense", "full"):
            object.__setattr__(self, "pattern", None)
        elif self.pattern and not self.estimate:
            self._plain_mask()
        for name in ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len", "kv_len"):
            value = getattr(self, name)
            if type(value) is not int or not 0 < value <= MAX_SIZES[name]:  # the common case needs no message
                _check_size(name, value)
        if self.v_head_dim % HEAD_DIM_MULTIPLE:
            which = "head-dim" if self.v_head_dim == self.head_dim else "v-head-dim"  # the value head dim defaults to it
            raise UserError(f"bad {which} {self.v_head_dim}: must be a multiple of {HEAD_DIM_MULTIPLE}")
        if self.block_size is not None:
            _check_size("block_size", self.block_size)
        if self.page_size is not None:
            _check_size("page_size", self.page_size)
        if self.num_splits is not None and (type(self.num_splits) is not int
                                            or not 0 <= self.num_splits <= MAX_NUM_SPLITS):
            raise UserError(f"bad num-splits {self.num_splits!r}: an integer from 0 to {MAX_NUM_SPLITS} (the KV splits "
                            "the call asks for, 0 for the kernel's split heuristic as num_splits=0 asks; leave it out "
                            "for the entry point's default)")
        if self.heads % self.kv_heads:
            raise UserError(f"bad kv-heads {self.kv_heads}: must divide heads ({self.heads})")
        if self.dtype not in DTYPE_BYTES:
            raise UserError(f"bad dtype {self.dtype!r}: allowed {', '.join(DTYPE_BYTES)}")
        if type(self.varlen) is not bool:
            raise UserError(f"bad varlen {self.varlen!r}: true or false")
        if self.scope not in SCOPES:
            raise UserError(f"bad scope {self.scope!r}: allowed {', '.join(SCOPES)}")
        if not isinstance(self.sparsity, (int, float)) or not 0.0 <= self.sparsity < 1.0:
            raise UserError(f"bad sparsity {self.sparsity!r}: must be in [0, 1)")
        dim = max(self.head_dim, self.v_head_dim)
        tensor = self.batch * self.heads * max(self.seq_len, self.kv_len) * dim * self.dtype_bytes
        if tensor > MAX_TENSOR_BYTES:
            raise UserError(f"bad shape: batch x heads x length x head-dim x {self.dtype_bytes} B = {tensor:.3g} B "
                            f"for one tensor; at most 2**60 B (an exbibyte)")
        if self.pattern and "heads" in self.pattern:
            self._check_head_mix()
        if self.estimate is not None:
            from simulator.estimate import check_estimate

            check_estimate(self.estimate, self)

    def _plain_mask(self):
        """A pattern that is causal or full attention however it is written (causal&causal, full|causal, causal&full,
        heads(32: causal)) is --causal or no pattern: the same call, so the same baseline (a masked call's is the
        kernel run dense), and with --sparsity the same random tiles (--causal --sparsity, or --sparsity alone)."""
        heads = self.heads if type(self.heads) is int and self.heads > 0 else None
        one_group, text = _plain_text(self.pattern, heads)
        if one_group:
            object.__setattr__(self, "pattern", text)
        if text in ("causal", "full"):
            object.__setattr__(self, "causal", self.causal or text == "causal")
            object.__setattr__(self, "pattern", None)

    def _check_head_mix(self):
        """A heads(...) mix's counts sum to --heads; its groups' sizes are its own (no --sparsity to solve)."""
        from einsum_cascades.sparsity import head_groups_text

        head_groups_text(self.mask_expr, self.heads)
        if self.sparsity > 0:
            raise UserError(f"bad sparsity {self.sparsity!r} with pattern {self.pattern!r}: --sparsity solves one "
                            f"pattern's size, and a heads(...) mix gives each group its own; drop --sparsity")

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def group(self) -> int:
        """Query heads per KV head (1 = MHA, heads = MQA)."""
        return self.heads // self.kv_heads

    @property
    def is_sparse(self) -> bool:
        """Anything beyond plain dense or plain causal attention."""
        return self.sparsity > 0 or self.pattern is not None or self.estimate is not None

    @property
    def mask_expr(self) -> str | None:
        """The full mask expression: the pattern, intersected with causal when asked (unless it is already: a
        method's causal preset with the user's causal&topk(16) is causal&topk(16))."""
        if self.causal and self.pattern:
            from simulator.gpu_kernels import pattern_shape  # gpu_kernels imports this module

            return self.pattern if pattern_shape(self.pattern).causal else f"causal&({self.pattern})"
        return "causal" if self.causal else self.pattern

    def flops_per_score(self) -> int:
        """Tensor FLOPs per attended score element: S = Q K^T (2*d) and O = P V (2*dv)."""
        return FMA_FLOPS * (self.head_dim + self.v_head_dim)


_NAMES = tuple(f.name for f in fields(Workload))
_INTEGERS = (*MAX_SIZES, "num_splits")  # the fields that hold counts


@lru_cache(maxsize=1024)  # every Workload of a sweep's pattern (and each replace of one) asks again
def _plain_text(pattern: str, heads: int | None) -> tuple[bool, str]:
    """(whether ``pattern`` is a heads(...) mix whose one group spans every one of ``heads`` heads, the pattern's
    text: that group's, else the whole expression's, as parsed), for ``Workload._plain_mask``; ``heads`` None when
    it is no positive int (the mix is then left to _check_head_mix)."""
    from einsum_cascades.sparsity import PatternError, head_groups, is_mix, parse_pattern

    parsed = parse_pattern(pattern)
    if heads is not None and is_mix(parsed):
        try:
            groups = head_groups(parsed, heads)
        except PatternError:  # counts that do not sum to --heads: _check_head_mix refuses them
            groups = ()
        if len(groups) == 1:  # one group of every head is its pattern, however the mix is written: heads(16: A,
            return True, str(groups[0][1])  # 16: A) and causal&heads(32: A) are A, the same mask and kernel path
    return False, str(parsed)


def _is_numpy(value) -> bool:
    """A NumPy scalar (what np.arange, np.linspace and arrays' items give), without importing NumPy."""
    return type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0


def with_head_dims(wl: Workload, head_dim: int, v_head_dim: int) -> Workload:
    """``wl`` with other head dims, copied without checks, so a workload of size columns
    (``simulator.columns.workload_columns``) stays one."""
    out = object.__new__(Workload)
    for f in fields(Workload):
        object.__setattr__(out, f.name, getattr(wl, f.name))
    object.__setattr__(out, "head_dim", head_dim)
    object.__setattr__(out, "v_head_dim", v_head_dim)
    return out


def _check_size(name: str, value) -> None:
    from einsum_cascades.units import format_size

    label = name.replace("_", "-")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UserError(f"bad {label} {value!r}: must be a positive integer")
    if value > MAX_SIZES[name]:
        raise UserError(f"bad {label} {value}: at most {format_size(MAX_SIZES[name])} ({MAX_SIZES[name]})")
