"""``--scope layer``: what a serving engine's attention layer runs per call around the attention kernel.

Per call, beside the kernel family's own kernels (and its split-KV combine), a serving engine writes the
call's new K and V into the KV cache (vLLM csrc/cache_kernels.cu ``reshape_and_cache_flash``: one CTA per
new token reads its K and V and writes them into the paged pool), FA4's varlen call runs its scheduler kernel
first when it splits (flash_attn/cute/prepare_scheduler.py) while FA3's gets the metadata the engine computed once
for the step (simulator.splits.engine_scheduler_metadata: no prepare_varlen_num_blocks a call), and every kernel is
replayed from a CUDA graph, so each costs a graph launch instead of a stream launch. docs/kernels.md
(section E) has the sources.
"""

from dataclasses import replace

from einsum_cascades.errors import UserError
from simulator.columns import is_columns, vmax
from simulator.workload import mla_absorbed

APPEND_PASSES = 2  # the new K and V are read once and written once into the cache


# What each scope other than "kernel" times, for the one-line refusal on an accelerator (no serving engine, no
# cache to flush in its model)
_GPU_SCOPES = {"layer": "a GPU serving engine's attention layer", "kernel-warm": "a GPU benchmark without an L2 flush"}


def check_scope(hw, wl) -> None:
    """A scope other than "kernel" is a GPU's: a one-line error on an accelerator."""
    if hw.kind != "gpu" and wl.scope in _GPU_SCOPES:
        raise UserError(f"scope {wl.scope!r} ({_GPU_SCOPES[wl.scope]}) applies to GPUs; {hw.name} is an accelerator: "
                        "use --scope kernel")


def layer_kernels(hw, algo: str, wl, result) -> dict[str, float]:
    """Seconds of each kernel the layer adds, and the change in launch cost of the family's own kernels."""
    check_scope(hw, wl)
    # one K and one V row per new token (MLA's absorbed form: the one latent row V is part of)
    width = (wl.head_dim + (0 if mla_absorbed(wl.head_dim, wl.v_head_dim) else wl.v_head_dim)) * wl.dtype_bytes
    appended = APPEND_PASSES * wl.batch * wl.kv_heads * wl.seq_len * width  # the call's new tokens
    small_kernel = hw.graph_launch_s + hw.hbm_latency_s  # a kernel too small to stream: launch + one round trip
    out = {"kv_append": small_kernel + appended / (hw.hbm_bw_bytes_s * hw.hbm_efficiency)}
    # FA3's scheduler kernel: none a call, vLLM computing the metadata once a step (splits.engine_scheduler_metadata)
    if algo == "flash4" and not is_columns(splits := result.detail.get("splits", 1)) and splits > 1:
        # FA4's varlen call builds scheduler metadata only when it splits (flash_attn/cute/interface.py
        # _flash_attn_fwd: ``is_split_kv and is_varlen_q`` -> _get_scheduler_metadata, FlashPrepareScheduler);
        # columns hold no split FA4 call
        out["scheduler"] = small_kernel
    out["graph_launches"] = result.cost.launches * (hw.graph_launch_s - hw.launch_overhead_s)
    return out


def with_layer(hw, algo: str, wl, result):
    """``result`` with the layer's kernels added to its time (``--scope layer``); unchanged for the kernel
    scopes."""
    if wl.scope != "layer":
        return result
    extra = layer_kernels(hw, algo, wl, result)
    time_s = vmax(result.time_s + sum(extra.values()), 0.0)
    times = dict(result.times)
    if "launch" in times:  # the launch roof as the layer runs it: each kernel a graph launch, the added ones too
        added = len(extra) - 1  # every entry but graph_launches is a kernel of its own
        times["launch"] = times["launch"] + extra["graph_launches"] + added * hw.graph_launch_s
    if "kernel_seconds" in result.detail:  # standard attention's kernels in turn: its compute holds their launches
        times["compute"] = times["compute"] + extra["graph_launches"]
    return replace(result, time_s=time_s, times=times, detail={**result.detail, "layer_kernels": extra})
