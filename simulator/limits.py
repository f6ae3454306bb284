"""What the modelled kernels can run at all: data types, head dims and tile sizes.

A workload outside them has no time to predict (the real kernel refuses it, or would run
something else), so it is an error naming the limit and its source, never a silent answer.
"""

import math
from dataclasses import dataclass, field

from einsum_cascades.errors import UserError
from simulator.gpu_kernels import alternatives, paged_cache, sm_number
from simulator.kernel_configs import fa4_hd256, fa4_sm90_block_kv
from simulator.tiles import grid_call
from simulator.workload import MAX_NUM_SPLITS, mla_absorbed

FA2_API = "flash-attention csrc/flash_attn/flash_api.cpp, mha_fwd"
FA3_API = "flash-attention hopper/flash_api.cpp, mha_fwd"
FA1_API = "flash-attention v1 csrc/flash_attn/fmha_api.cpp, mha_fwd"
FA4_API = "flash-attention flash_attn/cute/interface.py, _validate_head_dims"


@dataclass(frozen=True, slots=True)
class FamilyLimits:
    """The data types and head dims one kernel family accepts, and where that is written."""

    dtypes: tuple[str, ...]
    max_head_dim: int | None  # None: no limit of its own
    head_dim_multiple: dict  # dtype -> required multiple of the head dim (default 1)
    source: str
    # dtypes the real kernels run that attnsim does not price, with what runs them (the refusal says so rather
    # than that no kernel exists)
    unmodelled: dict = field(default_factory=dict)


FLASHINFER_FP8 = ("FlashInfer runs an fp8 KV cache under 16-bit queries (DTypeKV e4m3/e5m2) and, on Hopper, fp8 "
                  "prefill kernels")
LIMITS = {
    # TORCH_CHECK(q_dtype == kFloat16 || kBFloat16); head_size <= 256; head_size % 8 == 0
    "flash2": FamilyLimits(("fp16", "bf16"), 256, {"fp16": 8, "bf16": 8}, FA2_API),
    # mha_fwd_kvcache: the same dtypes and head_size_og <= 256; other head dims are padded to a multiple of 8
    "flash-decoding": FamilyLimits(("fp16", "bf16"), 256, {"fp16": 8, "bf16": 8}, FA2_API + "_kvcache"),
    # fp16, bf16 or fp8 e4m3 (fp8 on Hopper only); head_size <= get_max_headdim() = 256;
    # head_size % alignment == 0 with alignment 16 for fp8, else 8
    "flash3": FamilyLimits(("fp16", "bf16", "fp8"), 256, {"fp16": 8, "bf16": 8, "fp8": 16}, FA3_API),
    # TORCH_CHECK(q_dtype == kFloat16 || kBFloat16); (head_size % 8 == 0) && (head_size <= 128)
    "flash1": FamilyLimits(("fp16", "bf16"), 128, {"fp16": 8, "bf16": 8}, FA1_API),
    # fp16, bf16 or fp8; on sm100 head dims 8..128 divisible by 16 / element size, or the dedicated (192, 128),
    # (256, 256) and (64 or d, 512) shapes (FA4_SHAPES)
    "flash4": FamilyLimits(("fp16", "bf16", "fp8"), 128, {"fp16": 8, "bf16": 8, "fp8": 16}, FA4_API),
    # FlashInfer 0.0.1 decode: DTypeIn half, nv_bfloat16 or fp8 (bench_single_decode.cu benchmarks half and
    # __nv_fp8_e5m2); head dims 64, 128, 256 only (utils.cuh SWITCH_HEAD_DIM, checked in flashinfer_decode)
    **dict.fromkeys(("flashinfer-decode", "flashinfer-single-decode"), FamilyLimits(
        ("fp16", "bf16", "fp8"), 256, {}, "flashinfer include/flashinfer/decode.cuh @ 9f49803b")),
    # FlashInfer's tensor-core decode (single_decode_with_kv_cache(use_tensor_cores=True): the fa2 prefill module)
    # and that module on a prefill call (single_prefill_with_kv_cache(..., backend="fa2"));
    # fp16 and bf16 modelled (the single kernel's registers read at both, the batch kernel's at fp16); head dims
    # checked in flashinfer_tc
    # FlashInfer's fp8 there (an fp8 KV cache under 16-bit queries, DTypeKV e4m3/e5m2; the fa3 backend's fp8
    # kernels) is not priced
    **dict.fromkeys(("flashinfer-decode-tc", "flashinfer-single-decode-tc", "flashinfer-single-prefill"), FamilyLimits(
        ("fp16", "bf16"), 256, {}, "flashinfer include/flashinfer/attention/prefill.cuh (0.6.16)",
        {"fp8": FLASHINFER_FP8})),
    # FlashInfer's batch prefill on Hopper (fa3 backend): fp16/bf16; head dims checked in flashinfer_sm90.error
    "flashinfer-prefill": FamilyLimits(("fp16", "bf16"), 256, {}, "flashinfer include/flashinfer/attention/"
                                       "hopper/prefill_sm90.cuh and prefill.cuh (0.6.16)", {"fp8": FLASHINFER_FP8}),
    "flashinfer-prefill-fa2": FamilyLimits(("fp16", "bf16"), 256, {}, "flashinfer include/flashinfer/attention/"
                                           "prefill.cuh (0.6.16)", {"fp8": FLASHINFER_FP8}),
    # Standard attention (FA1 paper, Algorithm 0) as PyTorch runs it: torch.matmul and softmax have no
    # float8 kernels (fp8 GEMMs go through torch._scaled_mm), so there is no fp8 standard attention.
    "naive": FamilyLimits(("fp16", "bf16"), None, {}, "PyTorch's standard attention: matmul, softmax, matmul"),
    # FlashMLA's dense decoding: bf16 or fp16 (dense_decode.h); its head dims (576, V 512) in flashmla.error
    "flashmla": FamilyLimits(("bf16", "fp16"), None, {}, "deepseek-ai/FlashMLA csrc/api/dense_decode.h"),
    # Triton kernels in fp16/bf16; one K tile of at most 256 channels (checked per machine in nsa_select)
    **dict.fromkeys(("nsa-select", "nsa-select@kv-outer"), FamilyLimits(
        ("fp16", "bf16"), 256, {}, "fla-org native-sparse-attention ops/parallel.py, parallel_nsa_fwd")),
}


FA4_SHAPES = ((192, 128), (256, 256), (64, 512))  # (head dim, value head dim) FA4 runs beyond 128, and (d, 512)
# FA4 on Hopper (flash_fwd_sm90.py): _validate_head_dims' is_sm90_range, head dim and value head dim 8..256 divisible
# by 16 / element size, and no FP8 ("FP8 is only supported on SM100 ... for FA4 CuTe")
FA4_SM90_LIMITS = FamilyLimits(("fp16", "bf16"), 256, {"fp16": 8, "bf16": 8},
                               FA4_API + " on Hopper; its FP8 kernels are Blackwell's")


def hopper_fa4(hw, algo: str) -> bool:
    """Whether the call runs FA4's Hopper path (flash_fwd_sm90.py) rather than its Blackwell one."""
    return algo == "flash4" and hw.arch.startswith("sm_9")


def kernel_error(hw, algo: str, wl) -> str | None:
    """Why kernel family ``algo`` cannot run workload ``wl`` on ``hw`` (None if it can)."""
    if wl.page_size is not None and (why := _page_error(hw, algo, wl.page_size, wl)):
        return why
    if wl.varlen and (why := varlen_error(hw, algo, wl)):
        return why
    if wl.num_splits is not None and (why := splits_error(hw, algo, wl)):
        return why
    if hw.kind == "accelerator":
        return _accelerator_error(hw, algo, wl)
    # vLLM's FlashInfer backend runs trtllm-gen on the sm_10x family (vllm/utils/flashinfer.py
    # supports_trtllm_attention: current_platform.is_device_capability_family(100)), not on sm_110 or sm_12x
    if algo.startswith("flashinfer") and wl.scope == "layer" and sm_number(hw.arch) // 10 == 10:
        return (f"--scope layer: on Blackwell a serving engine's FlashInfer backend runs FlashInfer's trtllm-gen kernels "
                "(vLLM use_trtllm_attention: prefill with a 16-bit KV cache, decode batches up to 256 tokens), which "
                f"attnsim does not model; use --scope kernel for {algo} as FlashInfer's backend=\"auto\" runs it")
    limits = FA4_SM90_LIMITS if hopper_fa4(hw, algo) else LIMITS.get(algo)
    if limits is None:
        return None
    if hopper_fa4(hw, algo) and grid_call(wl):
        return (f"--pattern {wl.pattern}: on Hopper a neighborhood-attention grid runs NATTEN's Hopper kernel, which "
                "attnsim models as flash3 (NATTEN's Hopper FNA is FA3's schedule); use flash3")
    if algo in ("flashinfer-prefill", "flashinfer-prefill-fa2"):
        from simulator.flashinfer_sm90 import error

        if why := error(hw, wl, algo):
            return why
    if algo == "flashmla":
        from simulator.flashmla import error

        if why := error(hw, wl):
            return why
    if algo == "flash3" and wl.dtype == "fp8" and sm_number(hw.arch) < 90:
        # hopper/flash_api.cpp mha_fwd: "if (dprops->major < 9) TORCH_CHECK(q_type == Half || BFloat16, 'FlashAttention
        # on Ampere/Ada cards only supports fp16 and bf16 data type')"; setup.py compiles e4m3 only into the _sm90.cu
        # instantiations (DTYPE_FWD_SM90; DTYPE_FWD_SM80 is bf16 and fp16): the SM80 path an sm_8x GPU runs has no fp8
        # kernel, whatever fp8 tensor rate the GPU (an L40S, an RTX 4090) has
        return (f"--dtype fp8: flash3 on Ampere/Ada runs fp16 and bf16 only (hopper/flash_api.cpp mha_fwd: "
                f"'FlashAttention on Ampere/Ada cards only supports fp16 and bf16'); {hw.name} is {hw.arch}: use fp16 "
                "or bf16")
    if wl.dtype not in limits.dtypes:
        if wl.dtype == "fp32":  # attnsim prices no fp32 attention (PyTorch's standard attention does run in it)
            return (f"{algo} is priced in {' and '.join(limits.dtypes)} only ({limits.source}), not fp32: use "
                    f"{' or '.join(limits.dtypes)}")
        if wl.dtype in limits.unmodelled:
            return (f"--dtype {wl.dtype}: {limits.unmodelled[wl.dtype]}, which attnsim does not model for {algo}; "
                    f"use {' or '.join(limits.dtypes)}")
        return f"{algo} has no {wl.dtype} kernel ({limits.source}): use {' or '.join(limits.dtypes)}"
    multiple = limits.head_dim_multiple.get(wl.dtype, 1)
    if algo == "flash3" and wl.head_dim <= 64 and 256 < wl.v_head_dim <= 512 and hw.arch.startswith("sm_9"):
        return (f"--v-head-dim {wl.v_head_dim}: flash3 runs head dim 64 with V 512 as MLA's absorbed form (its qv "
                "path: q_rope and k_rope 64 wide, qv and the latent V 512), which attnsim states as --head-dim 576 "
                "--v-head-dim 512 (the 64 RoPE and 512 latent columns of K, V its latent)")
    if algo == "flash3" and mla_absorbed(wl.head_dim, wl.v_head_dim):
        if not hw.arch.startswith("sm_9"):
            return ("--head-dim 576 --v-head-dim 512: flash3 runs MLA's absorbed form through its qv path on Hopper "
                    f"only (hopper/flash_fwd_launch_template.h HasQv: Arch == 90); {hw.name} is {hw.arch}")
        if wl.dtype not in ("fp16", "bf16"):
            return f"--dtype {wl.dtype}: flash3's MLA (qv) path is fp16/bf16 only (HasQv: !Is_FP8)"
        return None  # the pair is its own kernel: no head-dim limit of the others applies
    if mla_absorbed(wl.head_dim, wl.v_head_dim) and algo not in ("flash3", "flashmla", "naive"):
        return (f"--head-dim {wl.head_dim} --v-head-dim {wl.v_head_dim} is MLA's absorbed form (V the latent part of "
                f"K): attnsim runs it with flashmla or flash3 on Hopper, and naive; {algo} has no kernel for it "
                "(its MLA decode kernels, where it has some, are not modelled)")
    blackwell_fa4 = algo == "flash4" and not hopper_fa4(hw, algo)  # Hopper's runs every pair in one kernel
    for option, d in (("--head-dim", wl.head_dim), ("--v-head-dim", wl.v_head_dim)):
        special = blackwell_fa4 and ((wl.head_dim, wl.v_head_dim) in FA4_SHAPES or wl.v_head_dim == 512 == wl.head_dim)
        if d % multiple or (limits.max_head_dim and d > limits.max_head_dim and not special):
            shapes = " (and (192, 128), (256, 256), (64, 512), (512, 512))" if blackwell_fa4 else ""
            which = f"that are multiples of {multiple} " if multiple > 1 else ""
            return (f"{algo} runs {wl.dtype} head dims {which}up to {limits.max_head_dim}"
                    f"{shapes}{' on ' + hw.name if algo == 'flash4' else ''} ({limits.source}); got {option} {d}")
    if blackwell_fa4 and fa4_hd256(wl.head_dim, wl.v_head_dim) and (
            wl.sparsity or (wl.pattern or "causal").replace(" ", "") not in ("causal", "full")):
        what = f"--pattern {wl.pattern!r}" if wl.pattern else f"--sparsity {wl.sparsity:g}"
        return (f"{what}: flash4 runs head dim 256 in its dedicated kernel (flash_attn/cute/"
                "sm100_hd256_2cta_fmha_forward.py), which takes full or causal attention only (no window, mask_mod "
                "or block sparsity); use flash2, or a head dim up to 192")
    if blackwell_fa4 and wl.v_head_dim == 512:
        return ("--v-head-dim 512: flash4 runs (64, 512) and (512, 512) in its MLA kernel (flash_attn/cute/"
                "flash_fwd_mla_sm100.py, FlashAttentionMLAForwardSm100), which attnsim does not model")
    if wl.block_size and algo == "flash1":
        return (f"--block-size {wl.block_size}: flash1 runs FlashAttention-1's fixed steps (16 query rows x 256 keys, "
                f"fmha kernel_traits); use flash2, flash3 or flash4 to set a tile")
    if wl.block_size and algo.startswith("flashinfer"):
        what = ("tiles (prefill_sm90.cuh)" if algo == "flashinfer-prefill" else "tiles (prefill.cuh)"
                if algo == "flashinfer-prefill-fa2" else "thread blocks (decode.cuh)")
        return (f"--block-size {wl.block_size}: {algo} runs FlashInfer's own {what}; drop it, or "
                f"use flash2, flash3 or flash4 to set a tile")
    if wl.block_size and algo != "naive" and not algo.startswith("nsa-select"):  # NSA's block is its selection's
        return _block_error(hw, algo, wl)
    return None


# The families whose variable-length entry point (--varlen) attnsim models: FA2's mha_varlen_fwd, FA3's varlen path,
# and FA1 and FlashInfer's batch prefill, whose entry points are variable-length only (fmha_api.cpp mha_fwd takes
# cu_seqlens_q / cu_seqlens_k; BatchPrefillWithRaggedKVCacheWrapper.plan takes qo_indptr / kv_indptr)
VARLEN_FAMILIES = ("flash1", "flash2", "flash3", "flashinfer-prefill", "flashinfer-prefill-fa2")


def varlen_error(hw, algo: str, wl=None) -> str | None:
    """Why ``algo`` (a family) cannot take a --varlen call here (None if it can)."""
    if hw.kind == "accelerator":
        return f"--varlen: a GPU kernel's variable-length entry point; {hw.name} is an accelerator: drop it"
    if algo.rpartition("@")[2] not in VARLEN_FAMILIES:
        from simulator.gpu_kernels import FAMILY_ARCHS

        low, high = FAMILY_ARCHS["flash3"]
        instead = "flash3" if low <= sm_number(hw.arch) <= high else "flash2"
        return (f"--varlen: attnsim models the variable-length entry point of {', '.join(VARLEN_FAMILIES)} only "
                f"(FA1's and FA2's mha_varlen_fwd, FA3's varlen scheduler), not {algo}'s; drop it, or use {instead}")
    if wl is not None and grid_call(wl):
        return (f"--varlen with {wl.pattern}: NATTEN's neighborhood-attention kernels take a token grid, not "
                "cu_seqlens (no variable-length entry point); drop --varlen")
    return None


# --num-splits: the families whose entry point takes a KV split count, and the most each takes (FA2's
# set_params_splitkv: "num_splits > 128 not supported"; FA3's mha_fwd: "num_splits > 256 not supported"; FA4's
# interface.py checks none, so the workload's bound), and FlashInfer's, whose plan() takes disable_split_kv
# (scheduler.cuh PrefillSplitQOKVIndptr: one KV chunk a request) but a split size, not a count, otherwise
SPLIT_COUNT_FAMILIES = {"flash-decoding": 128, "flash3": 256, "flash4": MAX_NUM_SPLITS}
SPLIT_OFF_FAMILIES = ("flashinfer-decode-tc", "flashinfer-prefill", "flashinfer-prefill-fa2")
# and FlashInfer's single-request kernels called from C++ without a tmp buffer (SinglePrefillWithKVCache /
# SingleDecodeWithKVCache with tmp = nullptr run unsplit; the Python entry points always pass one)
SPLIT_OFF_CPP_FAMILIES = ("flashinfer-single-decode", "flashinfer-single-decode-tc", "flashinfer-single-prefill")


def splits_error(hw, algo: str, wl) -> str | None:
    """Why ``algo`` cannot take ``--num-splits wl.num_splits`` here (None if it can)."""
    n = wl.num_splits
    if hw.kind == "accelerator":
        return f"--num-splits: a GPU kernel's KV split count; {hw.name} is an accelerator: drop it"
    family = algo.rpartition("@")[2]
    if n == 0 and family not in SPLIT_COUNT_FAMILIES:
        return (f"--num-splits 0: the split heuristic num_splits=0 asks for is an argument of "
                f"{', '.join(SPLIT_COUNT_FAMILIES)}; {family} runs its own choice: drop it")
    if family in SPLIT_OFF_FAMILIES:
        if n == 1:
            return None
        return (f"--num-splits {n}: FlashInfer's plan() takes disable_split_kv=True (--num-splits 1: one KV chunk a "
                "request, no merge) or a split size in pages (fixed_split_size), not a count; use 1 or leave it out")
    if family == "flash2":
        return ("--num-splits: flash2 is FA2's flash_attn_func, which takes no split count (its heuristic splits); "
                "FA2's flash_attn_with_kvcache(num_splits=N) is flash-decoding: drop it, or use flash-decoding")
    if family in SPLIT_OFF_CPP_FAMILIES:
        if n == 1:
            return None
        return (f"--num-splits {n}: FlashInfer's single-request kernels split by their own heuristic, or not at all "
                "when called from C++ without a tmp buffer (--num-splits 1); they take no count: use 1 or leave it out")
    if family not in SPLIT_COUNT_FAMILIES:
        return (f"--num-splits: attnsim models the num_splits argument of {', '.join(SPLIT_COUNT_FAMILIES)} "
                f"(flash_attn_with_kvcache, FA4's flash_attn_func), FlashInfer's disable_split_kv (1) for "
                f"{', '.join(SPLIT_OFF_FAMILIES)}, and its single-request kernels without a tmp buffer (1); {algo} "
                "takes no split count: drop it")
    if n > SPLIT_COUNT_FAMILIES[family]:
        return f"--num-splits {n}: {family} takes at most {SPLIT_COUNT_FAMILIES[family]} splits"
    if n == 1:
        return None
    from simulator.kernel_configs import current_fa3_build
    from simulator.splits import fa3_kv_cache_call, fa4_decode

    if family == "flash4" and hopper_fa4(hw, family):
        from simulator.gpu_kernels import kernel_config
        from simulator.splits import fa4_sm90_splits

        if n == 0 and (k := fa4_sm90_splits(hw, wl, kernel_config(family, hw, wl))) == 1:
            return None  # the heuristic picks one split: the call runs unsplit
        why = (f"num_splits=0 runs interface.py's split heuristic, which gives {k} splits for this call, and"
               if n == 0 else "flash_attn/cute/interface.py")
        return (f"--num-splits {n}: FA4 on Hopper has no split-KV ({why} asserts \"SplitKV not supported on SM "
                "9.0\": the call fails); use 1 or leave it out")
    if family == "flash4" and fa4_hd256(wl.head_dim, wl.v_head_dim):
        from simulator.kernel_configs import FA4_TILE
        from simulator.splits import _fa4_splits

        # interface.py picks the count before it picks the kernel: the heuristic over packed query blocks
        if n == 0 and (k := _fa4_splits(hw, wl, FA4_TILE)) == 1:
            return None  # one split (or none: SMs // blocks = 0): the dedicated kernel runs
        why = f"num_splits=0 runs interface.py's split heuristic, which gives {k} splits here, and " if n == 0 else ""
        return (f"--num-splits {n}: FA4 runs head dim 256 in its dedicated kernel, which has no split-KV ({why}"
                "sm100_hd256_2cta_fmha_forward.py asserts not is_split_kv); use 1 or leave it out")
    if family == "flash3" and wl.varlen and (not paged_cache(wl) or current_fa3_build() == "2024-07"):
        return (f"--num-splits {n}: attnsim prices FA3's varlen call on a contiguous cache (flash_attn_varlen_func), "
                "and any varlen call of the 2024 builds (no Split with VarSeqLen), unsplit; use 1 or leave it out")
    decode = (fa4_decode(wl.seq_len, wl.group, wl.kv_len, paged_cache(wl)) if family == "flash4"
              else fa3_kv_cache_call(wl.seq_len, wl.kv_len, paged_cache(wl)) if family == "flash3" else True)
    if family == "flash4":  # FA4's split (flash_fwd_sm100.py is_split_kv) serves any call on sm_100, prefill too
        return None
    if not decode:
        what = ("queries of a KV head, packed, fit one 128-row tile, against a longer or paged cache"
                if family == "flash4" else "new queries against a longer (--kv-len) or paged (--page-size) cache")
        return (f"--num-splits {n}: attnsim prices {family}'s KV split on decode calls only ({what}), the calls its "
                f"split heuristic serves; this one runs unsplit: use 1 or leave it out")
    return None


# The families that read K/V from a contiguous tensor only (no page table in their entry points)
CONTIGUOUS_ONLY = {"naive": "PyTorch's standard attention", "flash1": "FlashAttention-1's fmha_api.cpp mha_fwd",
                   "flashinfer-single-decode": "FlashInfer's SingleDecodeWithKVCache",
                   "flashinfer-single-decode-tc": "FlashInfer's single_decode_with_kv_cache",
                   "flashinfer-single-prefill": "FlashInfer's single_prefill_with_kv_cache",
                   "nsa-select": "parallel_nsa_fwd", "nsa-select@kv-outer": "parallel_nsa_fwd"}
FA2_PAGE_MULTIPLE = 256  # flash_api.cpp: "Paged KV cache block size must be divisible by 256"
FA4_TMA_PAGE = 128  # interface.py: paged_kv_non_tma = page_size not in [None, tile_n]


def _page_error(hw, algo: str, page: int, wl) -> str | None:
    """Why ``algo`` cannot read a paged KV cache of ``page``-token pages (None if it can)."""
    if hw.kind == "accelerator":
        return f"--page-size {page}: a paged KV cache is a GPU serving engine's; {hw.name} is an accelerator: drop it"
    if algo in CONTIGUOUS_ONLY:
        return f"--page-size {page}: {algo} reads contiguous K/V ({CONTIGUOUS_ONLY[algo]}); drop it"
    if algo in ("flash2", "flash-decoding") and page % FA2_PAGE_MULTIPLE:
        return (f"--page-size {page}: {algo} reads a paged cache in pages of a multiple of {FA2_PAGE_MULTIPLE} tokens "
                f"(flash-attention csrc/flash_attn/flash_api.cpp: \"Paged KV cache block size must be divisible by "
                f"256\"); use 256, 512, ..., or {alternatives(hw, ('flash3', 'flashinfer-decode'))}")
    tma_page = FA4_TMA_PAGE
    if hopper_fa4(hw, algo):  # the key tile of FA4's Hopper kernel for this call
        from simulator.gpu_kernels import fa4_local, pattern_causal

        tma_page = fa4_sm90_block_kv(wl.head_dim, wl.v_head_dim, pattern_causal(wl), fa4_local(wl))
    if algo == "flash4" and page != tma_page:
        return (f"--page-size {page}: flash4 loads pages by TMA at its key tile, {tma_page} tokens here; other page "
                "sizes take its cp.async path (flash_attn/cute/interface.py paged_kv_non_tma), which attnsim does not "
                "model")
    return None


class Unsupported(UserError):
    """A kernel that exists but cannot run this workload (a baseline in this state leaves the speedup empty)."""


def check_kernel(hw, algo: str, wl) -> None:
    """``kernel_error`` as an ``Unsupported`` error."""
    if why := kernel_error(hw, algo, wl):
        raise Unsupported(why)


MMA_ROWS = {"mma_sync": 16, "wgmma": 64, "tcgen05": 128}  # PTX ISA: mma.sync.m16n8k16, wgmma.m64nNk16, tcgen05 M=128


def block_smem_bytes(cfg, block: int, head_dim: int, v_head_dim: int, dtype_bytes: int) -> int:
    """Shared memory of a square ``block`` tile: the Q tile and the kernel's K/V stages, as ``kernel_configs``
    sizes the kernels' own tiles."""
    elements = block * head_dim + max(1, math.ceil(cfg.kv_stages)) * block * (head_dim + v_head_dim)
    return elements * dtype_bytes


def row_multiple(cfg) -> int:
    """Query rows a tile must come in: the MMA's rows times the warps (or warpgroups) stacked along them."""
    if cfg.tensor_path == "tcgen05":
        return MMA_ROWS["tcgen05"]
    return MMA_ROWS[cfg.tensor_path] * max(cfg.readers, 1)


def _block_error(hw, algo: str, wl) -> str | None:
    """A --block-size tile must split evenly into the kernel's MMA rows per warp (group) and fit shared memory."""
    from simulator.gpu_kernels import at_block, kernel_config

    cfg = kernel_config(algo, hw, wl)
    rows = row_multiple(at_block(cfg, wl.block_size))
    if wl.block_size % rows:
        who = {"wgmma": f"{cfg.readers} warpgroups of 64-row wgmma steps", "tcgen05": "128-row tcgen05 MMAs"}.get(
            cfg.tensor_path, f"{cfg.readers} warps of 16-row mma.sync steps")
        return f"bad block-size {wl.block_size}: {algo} splits a tile's query rows among {who}: use a multiple of {rows}"
    smem = block_smem_bytes(cfg, wl.block_size, wl.head_dim, wl.v_head_dim, wl.dtype_bytes)
    if smem > hw.smem_per_block_bytes:
        return (f"bad block-size {wl.block_size}: a {algo} tile of {wl.block_size} rows at head dim {wl.head_dim} "
                f"needs {smem:,} B of shared memory; {hw.name} allows {hw.smem_per_block_bytes:,} B per CTA")
    return None


def _accelerator_error(hw, algo: str, wl) -> str | None:
    """The accelerator models move words of ``hw.word_bytes``: another element size is not modelled."""
    from simulator.workload import DTYPE_BYTES

    if DTYPE_BYTES[wl.dtype] != hw.word_bytes:
        allowed = [d for d, b in DTYPE_BYTES.items() if b == hw.word_bytes]
        return (f"{hw.name} is modelled with {8 * hw.word_bytes}-bit words (word_bytes in its TOML): "
                f"dtype {wl.dtype} is not; use {' or '.join(allowed)}")
    return None
