"""The tile mask of a pattern as a picture (downsampled for long sequences)."""

import math

import numpy as np


POOL_LIMIT = 1 << 22  # up to 4M tiles every tile is examined; above, one tile row and column per cell


def tile_states(p, tc, max_cells: int) -> tuple[np.ndarray, int]:
    """States (0 empty, 1 partial, 2 full) on at most max_cells x max_cells cells, and tiles per cell side.

    Up to POOL_LIMIT tiles, a cell shows the densest state of the tiles it covers; beyond, the
    state of the first tile of each cell (a sample, said in the picture's axis labels).
    """
    from einsum_cascades.tiles import tile_grid

    nq, nk = tc.n_q_blocks, tc.n_kv_blocks
    step = max(1, math.ceil(max(nq, nk) / max_cells))
    if nq * nk <= POOL_LIMIT:
        grid = tile_grid(p, tc.seq_len, tc.kv_len, tc.block_q, tc.block_kv, np.arange(nq), np.arange(nk))
        pad = np.zeros((math.ceil(nq / step) * step, math.ceil(nk / step) * step), dtype=np.int8)
        pad[:nq, :nk] = grid
        return pad.reshape(pad.shape[0] // step, step, -1, step).max(axis=(1, 3)), step
    return tile_grid(p, tc.seq_len, tc.kv_len, tc.block_q, tc.block_kv,
                     np.arange(0, nq, step), np.arange(0, nk, step)), -step


def draw(p, tc, path: str, max_cells: int) -> None:
    from cli.plots.style import pyplot, save

    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    states, step = tile_states(p, tc, max_cells)
    pooled = f", {abs(step)} per cell{' (sampled)' if step < 0 else ''}" if abs(step) > 1 else ""
    colours = ["#f2f2f2", "#f0a030", "#2a5ca8"]
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ax.imshow(states, cmap=ListedColormap(colours), vmin=0, vmax=2, interpolation="nearest", aspect="auto")
    ax.set_xlabel(f"key block ({tc.block_kv} keys each{pooled})")
    ax.set_ylabel(f"query block ({tc.block_q} queries each{pooled})")
    ax.set_title(f"{p}\nNq={tc.seq_len:,} Nkv={tc.kv_len:,}, block density {tc.block_density:.4f}", fontsize=10)
    ax.legend(handles=[Patch(color=c, label=l) for c, l in zip(colours[::-1], (
        f"full ({tc.full:,})", f"partial ({tc.partial:,})", f"empty ({tc.empty:,})"))],
        loc="upper right", fontsize=8, framealpha=0.9)
    save(fig, path)
