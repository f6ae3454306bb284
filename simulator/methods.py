"""``--method NAME``: published sparse-attention methods as presets of pattern, estimate and kernel.

Each entry is data with its source. A preset fills what the command line leaves out (explicit options win,
then the preset, then a ``--model``'s call); its baseline is dense FlashAttention, the machine's best family at
its own tiles, unless ``--baseline`` names another. Patterns in braces are filled per point: ``{full}`` and
``{stream}`` are head counts (DuoAttention's retrieval and streaming heads, whole KV heads each), ``{side}`` the
side of a square token grid of ``--seq-len`` tokens.
"""

import math
from dataclasses import dataclass, field

from einsum_cascades.errors import UserError


@dataclass(frozen=True)
class Method:
    """A method's call: its mask (``pattern``, causal, a block sparsity to reach), index-building step, kernel."""

    pattern: str | None
    source: str
    causal: bool = True
    estimate: str | None = None
    algorithm: str | None = None  # None: the machine's best FlashAttention family
    block_size: int | None = None
    sparsity: float | None = None
    note: str = ""
    params: dict = field(default_factory=dict)
    stand_in: str = ""  # where attnsim runs another kernel than the method's code does: said in every row's note
    shape: dict = field(default_factory=dict)  # the model the method was published on: used when no shape is given


STREAM_START, STREAM_RECENT = 4, 2000  # streaming-llm run_streaming_llama.py: start_size=4, recent_size=2000

METHODS = {
    "minference": Method(
        "vertical_slash(1000,6096)", estimate="minference-vs", algorithm="flash2", block_size=64,
        source="MInference, Jiang et al. arXiv 2407.02490; microsoft/MInference minference_forward.py (default head: "
               "vertical_and_slash 1000, 6096), the vertical-slash kernel of vllm-project/flash-attention "
               "(flash_fwd_sparse_kernel.h, FA2 64x64)",
        note="every head vertical-slash (the default of heads the offline search did not assign); MInference loops "
             "over heads, its kernels launch per head (here one launch for all heads)"),
    "nsa": Method(
        "topk(16)", estimate="nsa-compress", algorithm="nsa-select", block_size=64,
        source="Native Sparse Attention, Yuan et al. arXiv 2502.11089 (selection block 64, 16 blocks); "
               "fla-org/native-sparse-attention parallel_nsa (block_size=64, block_counts=16)",
        note="compression and selection branches; the sliding-window branch (a FlashAttention call, window 512) "
             "is not included; without --heads, --kv-heads, --head-dim, --v-head-dim or --model, the paper's 27B "
             "model's 64 query heads in 4 GQA groups (arXiv 2502.11089, Sec. 4.1) at head dim 128 (its d_k 192 / "
             "d_v 128: --heads 64 --kv-heads 4 --head-dim 192 --v-head-dim 128, on Hopper and later: the Triton "
             "kernel's K tile holds at most 128 channels on an A100)",
        shape=dict(heads=64, kv_heads=4)),
    "duoattention": Method(
        "heads({full}: full, {stream}: sinks(64)|window(256))", algorithm="flash2",
        params=dict(streaming=0.5, streaming_mha=0.75, streaming_pattern="sinks(64)|window(256)"),
        source="DuoAttention, Xiao et al. arXiv 2410.10819; mit-han-lab/duo-attention README (sink_size=64, "
               "recent_size=256; 'a 25% retrieval head ratio for Llama-2-7B (MHA) and 50% for Llama-3-8B (GQA)', "
               "its efficiency figures: three quarters of an MHA model's KV heads streaming, half of a GQA "
               "model's); duo_attn/patch/llama.py: inference "
               "prefills a prompt with flash_attn_func on every head, and decodes with two flash_attn_func calls "
               "(retrieval heads over the cache, streaming heads over sink and recent keys); the streaming heads "
               "on Block-Sparse-Attention (streaming_attn_implementation 'blocksparse', FA2-based) are its training "
               "path",
        note="the heads(...) mask is the method's mask (--pattern with --algo flash2 runs it on Block-Sparse-"
             "Attention's kernel); --method duoattention runs what its inference code runs: a prompt dense, and "
             "decode or a chunk as its two flash_attn_func calls, summed"),
    "seerattention": Method(
        None, estimate="seer-gate", algorithm="flash2", block_size=64, sparsity=0.9,
        source="SeerAttention, Gao et al. arXiv 2410.13276 (64-token gate blocks; its speedups at 90% block "
               "sparsity); microsoft/SeerAttention @ aba03e3 attn_gate.py (the gate), modules/attention_forward.py "
               "(sparse_flash_attention_forward: repeat_kv, then kernels/block_sparse_attn.py block_sparse_triton_fn, "
               "a Triton kernel of 64x64 blocks, 4 warps, 2 stages, walking every causal block's mask bit)",
        note="90% of the causal 64x64 blocks empty, the kept ones drawn at random",
        stand_in="SeerAttention's own kernel is Triton (block_sparse_triton_fn, 64x64, after repeat_kv copies GQA's "
                 "K/V per query head); attnsim runs FA2's block-sparse kernel at 64x64 tiles in its place, without "
                 "that copy or the Triton kernel's walk over every empty block's mask bit"),
    "streamingllm": Method(
        f"sinks({STREAM_START})|window({STREAM_RECENT})",
        source="StreamingLLM, Xiao et al. arXiv 2309.17453; mit-han-lab/streaming-llm run_streaming_llama.py "
               "(start_size=4, recent_size=2000)",
        note="a prompt as the sink-and-window mask; a decode step or chunk over the cache StreamingLLM keeps "
             "(StartRecentKVCache evicts all but the 4 sinks and the 2,000 recent tokens): dense over those"),
    "natten": Method(
        "window2d({side},{side},7,7)", causal=False,
        source="Neighborhood Attention, Hassani et al. (NAT, CVPR 2023: 7x7 kernels); SHI-Labs/NATTEN fused kernels "
               "(Hopper/Blackwell FNA tiles and token permutation)",
        note="a square grid of seq-len tokens"),
    "moba": Method(
        "topk(12)", estimate="moba-gate", algorithm="nsa-select@kv-outer", block_size=4096,
        source="MoBA, Lu et al. arXiv 2502.13189, Sec. 3.3: Llama-8B-1M-MoBA, 'block size to 4096 and the top-K "
               "parameter to 12' (95.31% sparse at 1M), the model its Fig. 2a 6.5x at 1M is timed on, as "
               "MoonshotAI/MoBA examples/llama.py defaults (--moba-chunk-size 4096, --moba-topk 12; the current chunk "
               "one of the 12); moba_efficient.py (gate, then FlashAttention varlen per chunk over its gathered "
               "queries, merged)"),
    "quest": Method(
        "budget(4k)", causal=False, estimate="quest", algorithm="flashinfer-decode",
        source="Quest, Tang et al. arXiv 2406.10774; mit-han-lab/Quest estimate.cu, topk.cu (a 4096-token budget, "
               "the largest of its evaluation), approx_attn.cu (FlashInfer's batch decode over the chosen pages)",
        note="decode of one MHA request: --seq-len 1 --kv-len N --batch 1 (--model llama2-7b)"),
}


def method(name: str) -> Method:
    if name not in METHODS:
        raise UserError(f"bad method {name!r}: allowed {', '.join(METHODS)} (attnsim method list)")
    return METHODS[name]


def preset_fields(name: str, pattern: str | None = None) -> dict:
    """What a preset sets besides its per-point pattern: causal, estimate, block size, sparsity, algorithm; with the
    user's own ``pattern``, the estimate the method builds for it (``method_estimate``)."""
    m = method(name)
    out = {"causal": m.causal, "estimate": method_estimate(name, pattern), "block_size": m.block_size,
           "sparsity": m.sparsity, "algorithm": m.algorithm, "pattern": m.pattern}
    return {k: v for k, v in out.items() if v is not None}


MASK_FIELDS = ("pattern", "sparsity", "estimate", "block_size")  # what a method's preset prunes with
SHAPE_KEYS = ("heads", "kv_heads", "head_dim", "v_head_dim")


def shape_defaults(name: str, given: dict) -> dict:
    """The shape of the model method ``name`` was published on (``Method.shape``) where ``given`` (the command's
    options or a point's fields) names no head count or head dim and no ``model``; else nothing: a shape is taken
    whole, never mixed with the user's."""
    m = method(name)
    if not m.shape or given.get("model") or any(given.get(k) is not None for k in SHAPE_KEYS):
        return {}
    return dict(m.shape)


def with_method(name: str, defaults: dict, point: dict) -> dict:
    """A point of method ``name``: its own values, then the preset's, then ``defaults`` (or, where neither names a
    shape, the method's own model's: ``shape_defaults``); the preset's pattern filled for the point, and dense
    FlashAttention as the baseline unless one is named. Where the method's own code runs dense attention for the
    point (``dense_reason``), the preset's mask, estimate and kernel give way to the dense call it makes."""
    from simulator.api import default_algorithm, hardware

    own = {k: v for k, v in point.items() if v is not None}
    shape = shape_defaults(name, {**defaults, **own})
    preset = preset_fields(name, own.get("pattern"))
    merged = {**defaults, **shape, **preset, **own}
    merged.setdefault("heads", 32)
    dense = dense_call(name, merged)
    if dense or several_calls(name, merged):
        for key in preset:  # the preset's values (over the defaults') where the point gives none of its own
            if key != "causal" and own.get(key) is None:
                merged.pop(key)
        # a mask, sparsity, estimate or block size of the user's own, even the preset's own value: no call the
        # method's code makes here runs it
        given = [f"--{k.replace('_', '-')} '{merged[k]}'" for k in MASK_FIELDS if merged.get(k)]
        if given:
            what = dense[0].split(":")[0] if dense else "its code makes plain flash_attn_func calls here"
            raise UserError(f"bad {given[0]} for --method {name} at seq-len {merged.get('seq_len')}: {what}, "
                            "none of which runs it; drop it, or drop --method to run it on a kernel of your choice")
    if dense:
        # the dense call's fields, where the point gives no other value of its own (varlen: the command line always
        # gives one, and the method's call is varlen or not whatever the user's default)
        merged.update({k: v for k, v in dense[1].items() if k == "varlen" or own.get(k, preset.get(k)) == preset.get(k)})
    if merged.get("pattern") and not point.get("pattern"):
        merged["pattern"] = fill_pattern(name, merged["pattern"], {"seq_len": 4096, **merged})
    if not merged.get("baseline"):
        merged["baseline"] = default_algorithm(hardware(merged.get("hardware", "h100")))
    return merged


def method_estimate(name: str, pattern: str | None = None) -> str | None:
    """The index method ``name`` builds: its preset's; for MInference with a pattern of the user's own, the one it
    builds for that mask: its vertical-slash search for vertical_slash, its block search (``_build_block_index``)
    for a top-k block pattern, none for a static mask (its A-shape heads: sinks and a window, which need no
    search); the preset's vertical-slash search had been priced for every mask (--pattern 'topk(16)': bound by an
    estimate of (1000, 6096) lines it never builds)."""
    if name != "minference" or not pattern:
        return method(name).estimate
    if "vertical_slash" in pattern:
        return "minference-vs"
    return "minference-block" if "topk" in pattern else None


def dense_reason(name: str, point: dict) -> str | None:
    """``dense_call``'s reason, or None; where the point runs another kernel or causality than that call (the user's
    --algo or --no-causal), said after it."""
    dense = dense_call(name, point)
    if not dense:
        return None
    asked = [f"{'on ' + point[k] if k == 'algorithm' else 'causal' if point[k] else 'not causal'}" for k, v in dense[1].items()
             if k in ("algorithm", "causal") and k in point and point[k] != v]
    return dense[0] + (f" (run here {' and '.join(asked)}, as asked)" if asked else "")


def streaming_share(point: dict) -> float:
    """The share of DuoAttention's KV heads that stream: its README's efficiency setting, a 25% retrieval head ratio
    for an MHA model (Llama-2-7B) and 50% for a GQA one (Llama-3-8B)."""
    params = METHODS["duoattention"].params
    heads = point.get("heads", 32)
    kv = point.get("kv_heads") or heads
    return params["streaming_mha"] if kv == heads else params["streaming"]


def several_calls(name: str, point: dict) -> bool:
    """Whether method ``name``'s code makes its own kernel calls for ``point`` (``method_calls``): DuoAttention's two
    and StreamingLLM's one over its evicted cache, where the queries are not the keys (decode, chunked prefill)."""
    seq_len = point.get("seq_len", 4096)
    return name in ("duoattention", "streamingllm") and seq_len != (point.get("kv_len") or seq_len)


def dense_call(name: str, point: dict) -> tuple[str, dict] | None:
    """Why method ``name``'s own code runs plain dense attention for ``point``, and that call's fields (FlashAttention
    2's flash_attn_func or flash_attn_varlen_func); None where it runs its sparse kernels; a UserError where its
    dense call is a kernel attnsim does not model.

    MInference, MoBA and SeerAttention prune prefill only: MInference's ``minfer_attn_forward`` (microsoft/MInference
    minference/modules/minference_forward.py) returns ``dense(q, k, v)``, flash_attn_func, at ``q_len == 1``; MoBA's
    ``moba_layer`` (MoonshotAI/MoBA moba/wrapper.py) calls flash_attn_func (causal) where ``q_len != kv_len``, and
    ``moba_attn_varlen`` (moba/moba_efficient.py) flash_attn_varlen_func (causal) where no sequence has a chunk
    before its last (``moba_topk = min(moba_topk - 1, num_filtered_chunk)`` is 0: prompts no longer than a chunk);
    SeerAttention's ``sparse_flash_attention_forward`` (microsoft/SeerAttention seer_attn/modules/
    attention_forward.py) decodes (``query_length == 1``) with its own dense Triton kernel, flash_decode_leftpad.
    DuoAttention's inference (mit-han-lab/duo-attention duo_attn/patch/llama.py) prefills a prompt with
    flash_attn_func on every head (and decodes with two calls: ``method_calls``)."""
    seq_len, kv_len = point.get("seq_len", 4096), point.get("kv_len") or point.get("seq_len", 4096)
    if name == "minference" and seq_len == 1:
        return ("MInference prunes prefill only: at one query its code runs dense FlashAttention 2 "
                "(minference_forward.py minfer_attn_forward: q_len == 1 returns flash_attn_func)",
                dict(algorithm="flash2", causal=False))
    if name == "moba" and seq_len != kv_len:
        return ("MoBA prunes prefill only: where the queries are not the keys (decode, chunked prefill) its code runs dense "
                "FlashAttention 2, causal (moba/wrapper.py moba_layer: flash_attn_func)",
                dict(algorithm="flash2", causal=True))
    chunk = point.get("block_size") or METHODS["moba"].block_size
    if name == "moba" and seq_len <= chunk:
        return (f"MoBA's gate has no chunk to choose in a prompt of one {chunk}-token chunk: its code runs dense "
                "FlashAttention 2, causal (moba_efficient.py moba_attn_varlen: flash_attn_varlen_func)",
                dict(algorithm="flash2", causal=True, varlen=True))
    if name == "duoattention":
        kv = point.get("kv_heads") or point.get("heads", 32)
        if seq_len != kv_len:
            return None  # its two calls: method_calls
        if round(streaming_share(point) * kv) == 0:
            return (f"DuoAttention's {streaming_share(point):.0%} of {kv} KV head streaming rounds to none: every head a "
                    "retrieval head, "
                    "dense (FA2, as its retrieval heads run)", dict(algorithm="flash2"))
        return ("DuoAttention prefills a prompt dense: with queries and keys one sequence its code calls "
                "flash_attn_func(causal=True) on every head (duo_attn/patch/llama.py, "
                "llama_duo_attention_forward_one_way_reordered; its streaming heads' block-sparse kernel is its "
                "training path)", dict(algorithm="flash2", causal=True))
    if name == "seerattention" and seq_len == 1:
        raise UserError("bad seq-len 1 for --method seerattention: its gate prunes prefill only, and it decodes dense "
                        "with its own Triton kernel (seer_attn/modules/attention_forward.py: query_length 1 runs "
                        "flash_decode_leftpad), which attnsim does not model; time a dense decode with --algo "
                        "flash-decoding")
    return None


DUO_SINK, DUO_RECENT = 64, 256  # duo-attention README: sink_size=64, recent_size=256 (the streaming heads' cache)


def method_calls(name: str, point: dict) -> tuple[str, list[dict]] | None:
    """The kernel calls method ``name``'s code makes for ``point`` where it makes several, and a note saying so;
    None where it makes one. DuoAttention where queries and keys differ (decode, chunked prefill; mit-han-lab/
    duo-attention duo_attn/patch/llama.py, llama_duo_attention_forward_one_way_reordered): flash_attn_func(causal=True)
    on its retrieval heads' query heads over the whole cache, and again on its streaming heads' over their own cache,
    the sink and recent keys (DUO_SINK + DUO_RECENT, compress_and_replace_streaming_kv) and the new tokens.
    ``point`` is the method's point (``with_method``); each call is a plain FA2 point of its own heads."""
    if not several_calls(name, point):
        return None
    seq_len = point.get("seq_len", 4096)
    kv_len = point.get("kv_len") or seq_len
    if name == "streamingllm":
        return _streaming_call(point, seq_len, kv_len)
    heads, kv = point.get("heads", 32), point.get("kv_heads") or point.get("heads", 32)
    group = heads // kv if heads % kv == 0 else 1
    stream_kv = round(streaming_share(point) * kv)
    full_kv = kv - stream_kv
    plain = {k: v for k, v in point.items() if k not in ("method", "pattern", "estimate", "sparsity", "block_size")}
    algo = point.get("algorithm") or "flash2"  # flash_attn_func, unless --algo asks for another kernel
    plain.update(algorithm=algo, causal=point.get("causal", True), baseline=algo)
    calls = [{**plain, "heads": full_kv * group, "kv_heads": full_kv}] if full_kv else []
    cache = min(kv_len, DUO_SINK + DUO_RECENT + seq_len)
    if stream_kv:
        calls.append({**plain, "heads": stream_kv * group, "kv_heads": stream_kv, "kv_len": cache})
    note = (f"DuoAttention's {'decode' if seq_len == 1 else 'chunked prefill'} is {len(calls)} flash_attn_func "
            f"call{'s' if len(calls) > 1 else ''}, summed: {full_kv * group} retrieval heads over {kv_len:,} keys"
            + (f", {stream_kv * group} streaming heads over {cache:,} (sink {DUO_SINK} + recent {DUO_RECENT} + new)"
               if stream_kv else "") + " (duo_attn/patch/llama.py)"
            + (f" (run here on {algo}, as asked)" if algo != "flash2" else "")
            + (" (run here not causal, as asked)" if not plain["causal"] else ""))
    return note, calls


def _streaming_call(point: dict, seq_len: int, kv_len: int) -> tuple[str, list[dict]]:
    """StreamingLLM where the queries are not the keys: its cache (streaming_llm/kv_cache.py StartRecentKVCache)
    keeps the first STREAM_START and the last STREAM_RECENT tokens and evicts the rest, making room for the coming
    ones first (``evict_for_space``: the cache and the new tokens together at most start + recent), so a decode step
    or a chunk attends that many keys, dense, causal (the machine's FlashAttention: a plain attention call over the
    cache), not the whole sequence under a mask; the baseline is the dense call over every key."""
    from simulator.api import default_algorithm, hardware

    cache = min(kv_len, max(STREAM_START + STREAM_RECENT, seq_len))
    algo = point.get("algorithm") or default_algorithm(hardware(point.get("hardware", "h100")))
    plain = {k: v for k, v in point.items() if k not in ("method", "pattern", "estimate", "sparsity", "block_size")}
    plain.update(algorithm=algo, causal=point.get("causal", True), baseline=algo, kv_len=cache)
    step = "decode step" if seq_len == 1 else f"{seq_len:,}-token chunk"
    note = (f"StreamingLLM keeps {STREAM_START} sink and {STREAM_RECENT:,} recent tokens and evicts the rest "
            f"(run_streaming_llama.py: StartRecentKVCache, start_size {STREAM_START}, recent_size {STREAM_RECENT}): "
            f"its {step} is dense attention over {cache:,} keys, not {kv_len:,} under a mask"
            + (" (run here not causal, as asked)" if not plain["causal"] else ""))
    return note, [plain]


def fill_pattern(name: str, pattern: str, point: dict) -> str:
    """A preset's pattern for one point: head counts and grid sides filled in."""
    if "{" not in pattern:
        return pattern
    m = method(name)
    if "{side}" in pattern:
        n = point["seq_len"]
        side = math.isqrt(n)
        if side * side != n:
            raise UserError(f"bad seq-len {n} for --method {name}: its window2d needs a square grid of seq-len tokens; "
                            f"use a square such as 16k (128^2), 64k, 256k or 1m")
        return pattern.format(side=side)
    heads, kv = point["heads"], point.get("kv_heads") or point["heads"]
    stream_kv = round(streaming_share(point) * kv)
    group = heads // kv if heads % kv == 0 else 1
    if stream_kv == 0 or stream_kv == kv:  # one kind of head only
        return "full" if stream_kv == 0 else m.params["streaming_pattern"]
    return pattern.format(full=(kv - stream_kv) * group, stream=stream_kv * group)
