"""What the model decided for a point, for people to see: the kernel's tile and the solved mask.

``--pattern EXPR --sparsity s`` scales EXPR's sizes until its block sparsity is s at the kernel's
tile; the expression that was lowered (``causal&window(3.2k)``) is what the time is for.
"""

from dataclasses import replace
from numbers import Integral

from simulator import tiles as tile_source
from simulator.gpu_kernels import kernel_config, padded_head_dim, positions_per_tile
from simulator.workload import with_head_dims
from simulator.splits import fa3_layout, fa4_layout


def decisions(hw, result) -> dict:
    """``tile`` ('128x176': query rows x keys of the kernel's tile, None where the kernel does not tile),
    ``lowered_pattern`` (the mask expression after solving for --sparsity, None unless one was solved) and
    ``splits`` (the KV splits the kernel runs, its heuristic's or --num-splits'; None where it has no such count)."""
    det, wl = result.detail, result.workload
    tile = (f"{det['block_q']}x{det['block_kv']}" if "block_q" in det
            else f"{det['cta_tile_q']}x{det['cta_tile_kv']}" if "cta_tile_q" in det else None)  # FlashInfer's prefill tile
    lowered = None
    if hw.kind == "gpu" and wl.pattern and wl.sparsity and not _is_columns(wl):
        lowered = _lowered(hw, result.algorithm, wl)
    splits = det.get("splits")
    if isinstance(splits, Integral):
        splits = int(splits)
    elif getattr(getattr(splits, "dtype", None), "kind", "") not in ("i", "u"):  # a column of counts stays one
        splits = None
    return {"tile": tile, "lowered_pattern": lowered, "splits": splits}


def _lowered(hw, algo: str, wl) -> str | None:
    """The pattern the model lowered for ``wl``: at the fused kernel's tile in query positions (a packed GQA
    tile holds block_q / group positions), or at naive's element view, as ``gpu_model`` lowers it."""
    if algo == "naive":
        return tile_source.dense_counts(wl).pattern
    if pad := padded_head_dim(hw, algo, wl):  # the call as it runs: zero-padded (gpu_model._padded)
        wl = with_head_dims(wl, pad, pad)
    cfg = kernel_config(algo, hw, wl)
    if wl.block_size:
        cfg = replace(cfg, block_q=wl.block_size, block_kv=wl.block_size)
    if algo == "flash3":
        cfg = fa3_layout(hw, wl, cfg)[1]
    elif algo == "flash4":
        cfg = fa4_layout(hw, wl, cfg)[1]
    return tile_source.tile_rows(wl, positions_per_tile(cfg, wl), cfg.block_kv).pattern


def _is_columns(wl) -> bool:
    return not isinstance(wl.seq_len, int)
