"""Chunked local attention (``chunked(w)``, ``causal&chunked(w)``: Llama 4's local layers) through FlashInfer.

FlashInfer's kernels take no chunk mask (their masks are causal and ``window_left``; flashinfer-ai/flashinfer issue
#1004, its maintainer on Llama 4: "just separate different chunk into different instances in the batch"), so a
serving engine runs a chunked layer as "virtual batches": each request is cut at the chunk boundaries into one
request per chunk, the queries of a chunk against that chunk's keys, causal inside it when the layer is, and the
pieces go to the batch wrappers as a batch of their own (vLLM ``vllm/v1/attention/backends/utils.py``
``make_local_attention_virtual_batches`` @ 00bd1493, which its ``ChunkedLocalAttention`` layer applies over
whichever attention backend runs, FlashInfer's included; its pieces are causal, ``causal=True``, and a non-causal
``chunked(w)`` is taken as the same cut with non-causal pieces). attnsim evaluates that call when its pieces are
alike, which it can state:

- every query in one chunk (a decode step, or a prefill that does not cross a boundary): one request per request,
  its queries against the keys of their chunk up to the last, ``((kv_len - 1) mod w) + 1`` of them;
- queries and keys starting and ending on chunk boundaries (a prefill of whole chunks): ``seq_len / w`` requests per
  request of w queries against w keys.

Other calls (a prefill whose first or last chunk is cut) are pieces of unequal lengths: one line naming what is
allowed. The one-request kernels (``single_decode_with_kv_cache``, ``single_prefill_with_kv_cache``) take the first
case only. The engine's host-side slicing (cumulative lengths, the block table of each piece) is not timed."""

from dataclasses import replace

from simulator import flashinfer_decode as cuda_core, flashinfer_tc as tensor_core
from simulator.flashinfer_sm90 import FA2_FAMILY, FAMILY as PREFILL
from simulator.limits import Unsupported

ENGINE = "vLLM make_local_attention_virtual_batches"
DECODE = (*cuda_core.FAMILIES, tensor_core.BATCH_FAMILY, tensor_core.FAMILY)
# a one-request kernel, and the batch family an engine's pieces go to instead
BATCH_FOR = {cuda_core.SINGLE: cuda_core.BATCH, tensor_core.FAMILY: tensor_core.BATCH_FAMILY,
             tensor_core.PREFILL_FAMILY: f"{PREFILL} or {FA2_FAMILY}"}


def chunk_width(wl) -> int | None:
    """The chunk of a lone chunked conjunction (``chunked(w)``, ``causal&chunked(w)``, with or without --causal);
    None for no pattern or any other mask (the families' own checks answer those)."""
    if not wl.pattern or "chunked" not in wl.pattern:
        return None
    from simulator.gpu_kernels import pattern_shape

    shape = pattern_shape(wl.pattern)
    names = [leaf.name for leaf in shape.leaves]
    if shape.union or names.count("chunked") != 1 or set(names) - {"chunked", "causal", "full"}:
        return None
    return int(next(leaf.args[0] for leaf in shape.leaves if leaf.name == "chunked"))


def virtual_batches(family: str, wl):
    """The call FlashInfer runs for a chunked ``wl`` (the engine's virtual batches: same heads, head dims and data
    type; batch, queries and keys of one piece; causal as the layer), or None when ``wl`` has no lone chunked
    mask. Exit 2 when the pieces differ in length or a one-request kernel would get several."""
    w = chunk_width(wl)
    if w is None or (family in DECODE and wl.seq_len != 1):  # the family's own check names the caller's values
        return None
    from simulator.gpu_kernels import pattern_causal

    first, last = wl.kv_len - wl.seq_len, wl.kv_len - 1  # the queries' positions (bottom-right aligned)
    if first // w == last // w:  # every query in the last chunk: one piece per request
        batch, queries, keys = wl.batch, wl.seq_len, wl.kv_len - (last // w) * w
    elif first % w == 0 and wl.kv_len % w == 0:  # whole chunks: seq_len / w pieces per request
        batch, queries, keys = wl.batch * (wl.seq_len // w), w, w
    else:
        raise Unsupported(
            f"--pattern {wl.pattern}: FlashInfer runs chunked attention as an engine's virtual batches, one request "
            f"per chunk ({ENGINE}); attnsim states them when they are alike: every query in one chunk, or queries "
            f"and keys on chunk boundaries (--seq-len and --kv-len multiples of {w}); got {wl.seq_len} queries "
            f"over {wl.kv_len} keys")
    if wl.page_size is not None and w % wl.page_size:
        raise Unsupported(f"--pattern {wl.pattern} over --page-size {wl.page_size}: an engine cuts the pages at the "
                          f"chunks (vLLM asserts attn_chunk_size % block_size == 0): use a page size that divides {w}")
    if family in BATCH_FOR and batch != wl.batch:
        raise Unsupported(
            f"--pattern {wl.pattern}: an engine runs chunked attention as {wl.seq_len // w} requests per request, one "
            f"per chunk ({ENGINE}); {family} serves one request: use {BATCH_FOR[family]}")
    return pieces_call(wl, (batch, queries, keys, pattern_causal(wl)))


def pieces_call(wl, pieces: tuple):
    """``wl`` as the pieces' plain call: (batch, queries, keys, causal) as ``with_chunks`` keeps them in the detail."""
    batch, queries, keys, causal = pieces
    return replace(wl, batch=batch, seq_len=queries, kv_len=keys, pattern=None, causal=causal)


def with_chunks(result, wl, virtual):
    """``result`` (the virtual batches' call) reported for the caller's chunked call ``wl``: the same time, bytes
    and attended FLOPs; the block density over the caller's score grid; the pieces in the detail."""
    area = virtual.batch * virtual.seq_len * virtual.kv_len / (wl.batch * wl.seq_len * wl.kv_len)
    detail = {**result.detail, "virtual_batches": (virtual.batch, virtual.seq_len, virtual.kv_len, virtual.causal)}
    return replace(result, workload=wl, block_density=result.block_density * area, detail=detail)


def explain_line(wl, virtual: tuple) -> str:
    """What ``--explain`` says of the pieces before the call's own lines."""
    batch, queries, keys, causal = virtual
    return (f"--pattern {wl.pattern}: run as an engine runs it, one request per chunk ({ENGINE}): {batch:,} "
            f"request(s) of {queries:,} quer{'y' if queries == 1 else 'ies'} over {keys:,} keys"
            f"{', causal' if causal and queries > 1 else ''}; below, that call")
