"""The Python API the CLI is a thin shell over.

>>> from simulator import simulate
>>> row = simulate(hw="h100", algo="flash2", seq_len=32768, sparsity=0.9)   # doctest: +SKIP
>>> row["speedup"], row["bound"]                                             # doctest: +SKIP
"""

from __future__ import annotations

import gc
import math
import sys
from dataclasses import replace
from functools import lru_cache
from operator import methodcaller

from einsum_cascades.errors import UserError
from einsum_cascades.units import short_repr
from simulator.capacity import TIME_FIELDS, cannot_fit, capacity_bytes, column_marks, mark_columns, mark_rows
from simulator import tiles as tile_source
from simulator.column_rows import to_rows
from simulator.columns import workload_columns
from simulator.decisions import decisions
from simulator.gpu_kernels import GPU_FAMILIES, ahead_only_by_sinks, arch_error, padded_note, sm_number, within_causal
from simulator.gpu_model import COLUMN_FAMILIES, simulate_gpu
from simulator.gpu_model import family_error as gpu_family_error
from simulator.limits import CONTIGUOUS_ONLY, Unsupported, check_kernel, splits_error, varlen_error
from simulator.result import Result
from simulator.tiles import grid_call
from simulator.algorithms import ACCEL_FAMILIES, Algorithm, chunk_error, reference_note, resolve
from simulator.flashinfer_tc import current_build as current_flashinfer_build
from simulator.flashmla import current_build as current_flashmla_build
from simulator.permute import current_build as current_natten_build
from simulator.kernel_configs import current_fa2_build, current_fa3_build
from simulator.layer import check_scope, with_layer
from simulator.point_groups import ColumnPlan, column_groups, has_mask
from simulator.workload import Workload

ALGORITHMS = GPU_FAMILIES + ACCEL_FAMILIES
WORKLOAD_FIELDS = ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len", "kv_len", "causal", "dtype",
                   "pattern", "sparsity", "block_size", "scope", "estimate", "page_size", "varlen", "num_splits")
# what a point (or run_points' defaults) may name: the workload, the machine, the kernels and a method preset
POINT_FIELDS = frozenset(WORKLOAD_FIELDS + ("hardware", "algorithm", "baseline", "method"))
_NONE = type(None)
_METHOD = methodcaller("get", "method")  # a point's method: run_points asks every point (map: no generator)


def hardware(name):
    """A bundled machine by name, or a user's TOML by path (a str or a path object; NAME:MHZ or PATH:MHZ for SMs
    locked at MHZ), cached; a TOML by its file as it is now (its resolved path, modification time and size: another
    directory's file of the same name, or the file edited, is loaded afresh)."""
    import os

    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if type(name) is not str:
        raise UserError(f"bad hardware {short_repr(name)}: a machine's name (h100, attnsim hw list), NAME:MHZ, or a "
                        "path to a TOML file")
    return _hardware(name, _file_version(name))


@lru_cache(maxsize=64)
def _hardware(name: str, version):
    from gpu_models import load_hardware

    return load_hardware(name)


def default_algorithm(hw) -> str:
    """The best kernel family for the machine (DESIGN: flash4 on Blackwell, flash3 on Hopper, flash2 before;
    fusemax / flat)."""
    if hw.kind == "accelerator":
        return "fusemax" if "max" in hw.pe2d_ops else "flat"
    # flash4 where attnsim models its Blackwell path (sm_100..sm_103), not on every arch past sm_100: consumer
    # Blackwell (sm_120, sm_121) runs FA4's mma.sync path and Thor (sm_110) an sm100 path attnsim does not model,
    # so there the best modelled family is FA2's (setup.py builds it for sm_110 and sm_120); FA3 builds for sm_80 and
    # sm_90 only (gpu_kernels.FAMILY_ARCHS)
    arch = sm_number(hw.arch)
    if arch >= 100 and arch_error(hw.arch, hw.name, "flash4") is None:
        return "flash4"
    return "flash3" if arch == 90 else "flash2"


def default_baseline(hw, algo: str, wl: Workload) -> tuple[str, Workload]:
    """Dense run of the same algorithm for sparse workloads (no estimate), else the machine's unfused baseline."""
    if algo.startswith("nsa-select"):  # a selection kernel has no dense run: dense FlashAttention at its own tiles
        return default_algorithm(hw), dense(wl, block_size=False)
    if wl.is_sparse:  # at the kernel's own tiles, as a named baseline runs (--block-size is the sparse kernel's)
        return algo, dense(wl, block_size=False)
    return ("naive" if hw.kind == "gpu" else "unfused"), wl


@lru_cache(maxsize=4096)
def dense(wl, block_size=True) -> Workload:
    """The call without its mask, sparsity target and estimate (and its tile when ``block_size`` is False); causal
    if the mask is, however written (--causal, or a pattern that attends no key ahead: causal&window(4k), window(4k),
    heads(16: causal, 16: window(1k)), all against dense causal attention, as --causal --pattern window(4k) is)."""
    causal = wl.causal or bool(wl.pattern and within_causal(wl.pattern))
    return replace(wl, pattern=None, sparsity=0.0, estimate=None, block_size=wl.block_size if block_size else None,
                   causal=causal)


def unsupported(hw, algo: str | None) -> str | None:
    """Why ``algo`` cannot run on machine ``hw`` whatever the workload (None if it can; None = default)."""
    if algo is None:
        return None
    try:
        family = resolve_algorithm(hw, algo).family
    except UserError as err:
        return str(err)
    if hw.kind == "gpu":
        return gpu_family_error(hw, family)
    from simulator.accel_model import family_error as accel_family_error  # accelerators only: not loaded for GPUs

    return accel_family_error(hw, family)


@lru_cache(maxsize=256)
def split_baseline(text: str) -> tuple[str, str]:
    """``--baseline ALGO[@MACHINE]`` as (algorithm, machine or ''): the part after the last '@' is a machine only
    when it names one (``unfused@flat``); else the '@' is the algorithm's mapping (``attention-3pass@unfused``)."""
    from gpu_models.loader import is_machine

    algo, at, machine = text.rpartition("@")
    if at and is_machine(machine):
        return algo, machine
    return text, ""


def _as_given(row: dict, hw, baseline) -> dict:
    """``row`` naming a machine given as a TOML by the path given (``hardware``, and the machine of an
    ``ALGO@MACHINE`` baseline), not by the name inside the file: a row fed back (simulate --from, run_points)
    runs on the same file. A bundled model keeps its own name (``h100``, ``h100:1500``)."""
    import os

    hw = os.fspath(hw) if isinstance(hw, os.PathLike) else hw
    if _file_machine(hw):
        row["hardware"] = hw
    base_algo, base_hw = split_baseline(baseline) if type(baseline) is str else ("", "")
    if _file_machine(base_hw) and "@" in (row.get("baseline") or ""):
        row["baseline"] = f"{base_algo}@{base_hw}"
    return row


def _file_machine(name) -> bool:
    """Whether ``name`` is a machine given as a file (``gpu_models.loader.is_path``), optionally ``:MHZ``."""
    from gpu_models.loader import is_path, split_clock

    machine = split_clock(name)[0] if type(name) is str else None
    return type(machine) is str and is_path(machine)


def resolve_algorithm(hw, algo: str) -> Algorithm:
    """``algo`` as the family that runs and the cascade it runs (simulator.algorithms)."""
    return resolve(hw, algo, ALGORITHMS, default_algorithm(hw))


def evaluate(hw, algo: str, wl: Workload, timed: bool = True) -> Result:
    """One algorithm (a family, or a cascade @ a mapping) on one machine (a loaded spec, or a name or TOML path) for
    one workload; ``timed`` False: the caller shows no time (the point cannot fit the machine's memory), so a
    single-pass fused kernel skips scheduling its CTAs and its time is NaN (every other field as when timed). A
    Cascade that ``load_cascade`` gave is costed as its name or file (``cascade_algo``)."""
    if type(algo) is not str:
        algo = cascade_algo(algo)
    if type(algo) is not str or type(wl) is not Workload or not hasattr(hw, "kind"):
        hw = _checked_call(hw, algo, wl)
    if algo in ALGORITHMS:
        return _evaluate(hw, Algorithm(algo, None, algo), wl, timed)
    if _bundled_cascade(algo):
        return _evaluate(hw, resolve_algorithm(hw, algo), wl, timed)
    from einsum_cascades.library import pinned_versions

    with pinned_versions():  # a cascade file is looked at once per evaluation
        return _evaluate(hw, resolve_algorithm(hw, algo), wl, timed)


def _checked_call(hw, algo, wl):
    """``evaluate``'s arguments named where they are not a machine, an algorithm's name and a Workload (a UserError,
    not an AttributeError from deep inside); the machine loaded where it is given by name."""
    if type(algo) is not str or not algo.strip():
        raise UserError(f"evaluate: bad algo {short_repr(algo)}: a family such as flash3, or a cascade's name or "
                        "file path (or the Cascade load_cascade gives)")
    if type(wl) is not Workload:
        raise UserError(f"evaluate: the workload is {type(wl).__name__} {short_repr(wl)}: a Workload "
                        "(simulator.Workload(seq_len=..., ...)); simulate(hw, algo, **fields) takes the fields")
    return hw if hasattr(hw, "kind") else hardware(hw)


def cascade_algo(algo):
    """The name or file path a Cascade object is costed as: the one ``load_cascade`` loaded it from, while that
    still gives this cascade (the cost model plans a cascade by its name, once per file version); any other value
    as it is. A UserError for a Cascade parsed from text, or one whose file has changed since."""
    from einsum_cascades.cascade import Cascade

    if not isinstance(algo, Cascade):
        return algo
    from einsum_cascades import load_cascade

    try:
        loaded = load_cascade(algo.source)
    except UserError:
        loaded = None
    if loaded is not algo and str(loaded) != str(algo):
        raise UserError(f"bad algo: Cascade {algo.name!r} is not what load_cascade({algo.source!r}) gives now (parsed "
                        "from text, or its file changed since): pass the cascade's name or file path, not a Cascade "
                        "object, or a Cascade from load_cascade")
    return algo.source


@lru_cache(maxsize=256)
def _bundled_cascade(algo: str) -> bool:
    """Whether ``algo`` names a bundled cascade (optionally @MAPPING): no file to look at."""
    from einsum_cascades.library import cascade_names

    return (algo.rpartition("@")[0] if "@" in algo else algo) in cascade_names()


# FA2's kernels take no chunk mask either (FA3 has attention_chunk, FA4 its mask): an engine's virtual batches, as
# FlashInfer's (simulator.flashinfer_chunks); a chunked call they cannot state runs as a block list, as before
# (Block-Sparse-Attention: 128-row tiles of one query each for a decode step, 4x its chunk's dense decode)
FA2_CHUNK_FAMILIES = ("flash2", "flash-decoding")


def _evaluate(hw, spec: Algorithm, wl: Workload, timed: bool) -> Result:
    if hw.kind == "gpu" and wl.pattern and "chunked" in wl.pattern and (
            spec.family.startswith("flashinfer") or spec.family in FA2_CHUNK_FAMILIES):
        from simulator.flashinfer_chunks import virtual_batches, with_chunks

        try:
            virtual = virtual_batches(spec.family, wl)
        except Unsupported:
            if spec.family not in FA2_CHUNK_FAMILIES:
                raise
            virtual = None  # pieces of unequal lengths: FA2 runs the mask as a block list (simulator.block_sparse)
        if virtual is not None:  # chunked: the engine's one request per chunk
            return with_chunks(_evaluate(hw, spec, virtual, timed), wl, virtual)
    try:
        check_kernel(hw, spec.family, wl)
    except Unsupported as err:  # a cascade's refusal names the kernel it runs as, which the user may not have named
        if spec.text == spec.family:
            raise
        raise Unsupported(f"{spec.text} runs as {spec.family} on {hw.name}: {err}") from None
    if spec.cascade and (why := chunk_error(spec.cascade, wl)):
        raise UserError(why)
    if hw.kind == "gpu":
        result = with_layer(hw, spec.family, wl, simulate_gpu(hw, spec.family, wl, spec.cascade, timed))
        if wl.estimate:
            from simulator.estimate import with_estimate

            result = with_estimate(hw, wl, result)
        return result if spec.text == spec.family else result.named(spec.text)
    if wl.estimate:
        from simulator.estimate import with_estimate

        with_estimate(hw, wl, None)  # the one-line error
    check_scope(hw, wl)
    from simulator.accel_model import simulate_accel  # accelerators only: not loaded for GPUs

    result = simulate_accel(hw, spec.family, wl, spec.cascade)
    return result if spec.text == spec.family else result.named(spec.text)


def simulate(hw="h100", algo: str | None = None, baseline: str | None = None, method: str | None = None,
             **workload) -> dict:
    """Predict one point and its speedup over the baseline; returns a row (see ``to_row``). ``method``: a published
    sparse method's preset (its mask, estimate, kernel and baseline), as --method and run_points(method=...)."""
    if unknown := sorted(set(workload).difference(WORKLOAD_FIELDS)):
        raise UserError(f"simulate: {', '.join(map(repr, unknown))} is not a workload field (allowed: "
                        f"{', '.join(WORKLOAD_FIELDS)}); the machine is hw=, the algorithm algo=, a method method=")
    algo, baseline = cascade_algo(algo), cascade_algo(baseline)
    for key, value in (("algo", algo), ("baseline", baseline), ("method", method)):
        if _bad_name(value):
            raise UserError(f"bad {key} {short_repr(value)}: {NAME_RULE}")
    if method is not None:
        given = {k: v for k, v in (("algorithm", algo), ("baseline", baseline)) if v is not None}
        return run_points([dict(hardware=hw, method=method, **given, **workload)])[0]
    return _simulate(hw, algo, baseline, workload)


def _simulate(hw, algo: str | None, baseline: str | None, workload: dict) -> dict:
    """``simulate`` for workload fields already checked (run_points checks a call's points once, in _check_fields)."""
    spec = hw if hasattr(hw, "kind") else hardware(hw)  # a loaded spec, or a name or path to load
    wl = Workload(**workload)
    algo = algo or default_algorithm(spec)
    fits = not cannot_fit(spec, wl)
    result = evaluate(spec, algo, wl, timed=fits)  # mark_rows empties the time of one that cannot, and its note
    if baseline:
        base_algo, base_hw = split_baseline(baseline)
        base_spec = hardware(base_hw) if base_hw else spec
        # a sparse call's named baseline runs dense at its own tiles (--block-size is the sparse kernel's)
        base_wl = dense(wl, block_size=False) if wl.is_sparse else wl
        base, why = _baseline(base_spec, base_algo, base_wl)
    elif own := getattr(spec, "baseline_machine", ""):  # the TOML's own line: FuseMax's Unfused runs on FLAT's
        base_spec = hardware(own)
        base, why = _baseline(base_spec, *default_baseline(base_spec, algo, wl), name=own)
    else:
        base_spec = spec
        base, why = _baseline(spec, *default_baseline(spec, algo, wl), name=hw if isinstance(hw, str) else None)
    row = _as_given({**to_row(result, base, why), **decisions(spec, result)}, hw, baseline)
    notes = (reference_note(resolve_algorithm(spec, algo).cascade), density_note(row, result, base_spec, base),
             sparsity_note(row, result), sinks_baseline_note(wl, base), unsplit_note(row, result, base))
    for note in notes if fits else ():
        if note:  # a row that does not fit says only that
            row["note"] = "; ".join(filter(None, (row["note"], note)))
    return mark_rows([row], spec, result, base_spec, base)[0]


DENSITY_NOTE_SLACK = 0.02  # a speedup beating 1/block density by more than this is explained where the model knows why


def density_note(row: dict, result: Result, base_hw, base: Result | None) -> str | None:
    """Why a masked call's speedup over a dense baseline of its own family beats 1/block density (the mask's share of
    tiles), where the kernel's own design is the reason: it runs the mask at another tile than the dense call (FA3
    at head dim 64 on Hopper: 192 x 128 with P in registers for causal and local calls, 192 x 192 with P through
    shared memory otherwise, hopper/tile_size.h tile_size_fwd_sm90), so the two calls' costs per score differ; or it
    starts each query tile's keys at its first query's window, a key at a time (FlashInfer's window_left:
    kv_start_idx), so it reads fewer keys than the tiles the mask touches; or the mask keeps the ragged last key
    tile, which holds fewer keys than a whole one, in a larger share of its tiles than the dense call
    (``_ragged_share``); or the two calls' grids differ: the split heuristic splits their keys differently, or the
    dense call's CTAs leave its last of several waves part-empty (LAST_WAVE_IDLE), which the masked call's shorter
    or fewer CTAs need not. None otherwise, and where the speedup keeps within the slack."""
    if (base is None or base.algorithm != row["algorithm"] or base.hardware != result.hardware
            or not (row["pattern"] or row["sparsity"]) or not row.get("speedup") or not row["block_density"]):
        return None  # only a masked call against its own kernel run dense on the same GPU
    base_density = base.block_density or 1.0  # a causal dense baseline visits about half the tiles
    beats = row["speedup"] * row["block_density"] / base_density - 1
    if beats <= DENSITY_NOTE_SLACK:
        return None
    reasons = []
    base_tile = decisions(base_hw, base)["tile"]
    if row["tile"] and base_tile and base_tile != row["tile"]:
        reasons.append(f"{row['algorithm']} runs this mask at a {row['tile']} tile and its dense baseline at "
                       f"{base_tile} (the kernel picks its tile by mask), so their costs per score differ")
    if result.detail.get("window_skips"):
        reasons.append("FlashInfer starts each query tile's keys at its first query's window, a key at a time "
                       "(kv_start_idx), not at a tile boundary, so it reads fewer keys than the tiles the mask touches")
    if share := _ragged_share(result, row["block_density"]):
        wl, bkv = result.workload, result.detail["block_kv"]
        reasons.append(f"the last key tile holds {wl.kv_len % bkv} of its {bkv} keys, all the kernel loads there, and "
                       f"the mask keeps that tile in a larger share of its tiles than the dense call: in keys loaded "
                       f"it keeps {share:.4f} of the dense call's (1/share {1 / share:.1f}x)")
    splits, base_splits = result.detail.get("splits"), base.detail.get("splits")
    if splits and base_splits and splits != base_splits:
        reasons.append(f"the kernel splits the masked call's keys {splits} way(s) and the dense call's {base_splits} "
                       "(its split heuristic reads the keys each query tile visits), so their grids differ")
    if (grid := base.detail.get("grid")) and grid["slots"]:
        waves = grid["work_tiles"] / grid["slots"]
        if waves > 1 and math.ceil(waves) - waves >= LAST_WAVE_IDLE:
            reasons.append(f"the dense call's {grid['work_tiles']:,} CTAs fill {waves:.2f} waves of its "
                           f"{grid['slots']:,} slots, so it runs {math.ceil(waves)}, the last part-empty, where the "
                           "masked call's shorter or fewer CTAs need not")
    ideal = "1/block density" if base_density == 1.0 else (f"{base_density:.4g}/block density (its dense causal "
                                                            "baseline's share of tiles over this call's)")
    return f"beats {ideal} by {beats:.0%}: " + "; ".join(reasons) if reasons else None


def unsplit_note(row: dict, result: Result, base: Result | None) -> str | None:
    """Where ``flash2`` runs the mask on Block-Sparse-Attention's kernel, which never splits its keys
    (gpu_kernels.fa2_block_sparse), and its dense baseline splits them: the two grids differ by the kernel's design.
    None otherwise."""
    from simulator.gpu_kernels import fa2_block_sparse

    if (base is None or row["algorithm"] != "flash2" or base.algorithm != "flash2"
            or not fa2_block_sparse(result.workload) or (base.detail.get("splits") or 1) <= 1):
        return None
    grid = result.detail.get("grid") or {}
    fill = (f": its {grid['work_tiles']:,} CTAs fill {grid['work_tiles'] / grid['slots']:.2f} of a wave"
            if grid.get("slots") else "")
    return (f"flash2 runs this mask on Block-Sparse-Attention's kernel, one CTA a query block and head with no "
            f"split-KV path{fill}, where its dense baseline (FA2's own kernel) splits the keys "
            f"{base.detail['splits']} ways")


def sinks_baseline_note(wl: Workload, base: Result | None) -> str | None:
    """Where the baseline is dense non-causal attention only because the mask's sink tokens lie ahead of its first
    queries (``causal&window(4k)|sinks(128)``): the kernel's time is the causal mask's, the speedup is over a dense
    call of about twice the work; say so, and how to compare with dense causal attention. None otherwise."""
    if base is None or not wl.pattern or wl.causal or base.workload.causal:
        return None
    if not (n := ahead_only_by_sinks(wl.pattern)):
        return None
    return (f"baseline dense non-causal: sinks({n}) lets queries 0-{n - 2} attend keys ahead of them, so the mask is "
            "not causal as written; --causal (or causal&(...)) compares with dense causal attention")


LAST_WAVE_IDLE = 0.1  # a dense baseline's last wave this share of a wave short of full is a reason density_note names


def sparsity_note(row: dict, result: Result) -> str | None:
    """Where a --sparsity target (a coin per tile: random_blocks) lands far from the share of tiles asked because the
    call visits few tiles without it: how many it visits and how many the coins kept. None for a pattern, for calls
    of more than COIN_NOTE_TILES tiles (the coins' share then lies near the target) and within COIN_NOTE_SLACK."""
    s, det = row.get("sparsity") or 0.0, result.detail
    if not s or row.get("pattern") or not (det.get("block_q") and det.get("block_kv")) or row.get("block_density") is None:
        return None
    wl = result.workload
    if tile_source.head_groups(wl) or grid_call(wl) or -(-wl.seq_len // det["block_q"]) > COIN_NOTE_TILES:
        return None  # a grid of more query tiles is not lowered a second time to be checked (a cost bound only)
    plain = tile_source.tile_rows(replace(wl, sparsity=0.0), det["block_q"], det["block_kv"])
    if not plain.visited or plain.visited > COIN_NOTE_TILES or not plain.block_density:
        return None
    kept = row["block_density"] / plain.block_density
    if abs(kept - (1.0 - s)) <= COIN_NOTE_SLACK:
        return None
    return (f"--sparsity {s:g} flips a coin per tile: of the {plain.visited} tile(s) this call visits without it the "
            f"coins kept {round(kept * plain.visited)}, sparsity {1.0 - kept:.2f}, not {s:g} (few tiles miss the "
            "target; a pattern with a size, such as causal&window(...), meets it)")


COIN_NOTE_TILES = 64  # a --sparsity call visiting at most this many tiles unmasked is checked against its target
COIN_NOTE_SLACK = 0.1  # ... and named where the share of tiles its coins keep misses 1 - sparsity by more


def _ragged_share(result: Result, block_density: float) -> float | None:
    """Where the key length is not a multiple of the kernel's key tile: the mask's share of the keys the dense call
    loads, counting each tile of the ragged last key column by the keys it holds (``tiles.last_column_tiles``), if
    below the block density; None otherwise, and for head mixes and grid patterns. The row's block density counts
    the tiles the kernel visits (FlashInfer's extra window tile included), so the share starts from it."""
    wl, det = result.workload, result.detail
    bq, bkv = det.get("block_q"), det.get("block_kv")
    if not (bq and bkv) or tile_source.head_groups(wl) or grid_call(wl) or not wl.kv_len % bkv:
        return None
    rows, cols = -(-wl.seq_len // bq), -(-wl.kv_len // bkv)
    empty = 1.0 - (wl.kv_len % bkv) / bkv  # the share of a last-column tile past the last key
    # at most every last-column tile kept: if even that lifts the mask's keys against its tiles by less than half the
    # note's slack, the ragged tile is no reason, and its column is not mapped (a random mask's map of millions of
    # tiles took half a second a point of a sweep)
    most = block_density * cols - empty  # the tiles a row keeps, less the ragged tile's empty share, at the least
    if most > 0 and block_density * (cols - empty) / most - 1 < DENSITY_NOTE_SLACK / 2:
        return None
    last = tile_source.last_column_tiles(tile_source.tile_rows(wl, bq, bkv).pattern, wl.seq_len, wl.kv_len, bq, bkv)
    if not last:
        return None
    share = (block_density * rows * cols - last * empty) / (rows * (cols - empty))
    return share if share < block_density * (1 - 1e-9) else None


def _baseline(spec, algo: str, wl, name: str | None = None) -> tuple[Result | None, str | None]:
    """The baseline's result, or None and why when that kernel cannot run the workload (no speedup then);
    ``name``: the machine's name, so the sparse points of a sweep share their cached dense baseline. A kernel that
    reads contiguous K/V only (standard attention) is the baseline of a paged call as it runs: without pages."""
    if wl.page_size is not None and (algo in CONTIGUOUS_ONLY or spec.kind != "gpu"):
        wl = replace(wl, page_size=None)
    if wl.varlen and varlen_error(spec, resolve_algorithm(spec, algo).family):  # standard attention runs the batch
        wl = replace(wl, varlen=False)  # padded, as the baseline does
    if wl.num_splits is not None and splits_error(spec, resolve_algorithm(spec, algo).family, wl):
        wl = replace(wl, num_splits=None)  # a baseline without a split count runs as its entry point defaults
    try:
        return (_named_evaluate(name, algo, wl, current_builds(), _file_version(name)) if name
                else evaluate(spec, algo, wl)), None
    except Unsupported as err:
        return None, f"no baseline: {err}"


def current_builds() -> tuple:
    """The FA3, FA2, FlashInfer, FlashMLA and NATTEN builds predictions run as here (a key for caches of results)."""
    return (current_fa3_build(), current_fa2_build(), current_flashinfer_build(), current_flashmla_build(),
            current_natten_build())


@lru_cache(maxsize=4096)
def _named_evaluate(hw_name: str, algo: str, wl: Workload, builds: tuple, version=None) -> Result:
    """``evaluate`` on a bundled or file machine named ``hw_name``, cached: the sparse points of a sweep share
    their dense baseline (``builds``: the kernel builds the result was predicted as, ``current_builds``; ``version``:
    the TOML file's, ``_file_version``)."""
    return evaluate(hardware(hw_name), algo, wl)


# points of one call from which run_points imports numpy to group the dense ones and evaluate them as columns:
# below it the scalar path (about 0.3-0.5 ms a point on the development machine) costs less than numpy's import
# (0.1-0.3 s), and a dense `attnsim simulate` never imports it
COLUMNS_FROM = 64


def run_points(points, **defaults) -> list[dict]:
    """Evaluate many points (dicts of the CSV columns: hardware=, algorithm=, seq_len=, ...) in input order.

    Dense GPU points that share hardware, algorithm, baseline, head dim and
    dtype are evaluated together over columns of sizes (the same model code,
    see ``simulator.columns``); every other point one at a time. On bad input
    the error (a UserError, a ValueError) is the first bad point's own, named
    by its index: ``run_points: points[7] of 20 (seq_len=0): bad seq-len 0: ...``.
    """
    points = _point_list(points)
    try:
        return rows_of(points, defaults)
    except UserError as err:
        if len(points) < 2 or str(err).startswith("run_points: points["):
            raise
        first = first_bad_point(points, defaults)
        if first is None:  # no point fails alone: the whole call's error, as it was
            raise
        i, own = first
        where = f"points[{i}] of {len(points)} ({_point_text(points[i])})"  # a Python index, from 0
        if i == 0 and defaults and _fails_alone(defaults) == str(own):  # every point fails: the defaults do
            where = f"the defaults ({_point_text(defaults)})"
        own.args = (f"run_points: {where}: {own}", *own.args[1:])
        raise own from None


def _fails_alone(defaults: dict) -> str | None:
    """The error of a point that gives nothing of its own under these defaults, if it fails."""
    try:
        rows_of([{}], defaults)
    except UserError as err:
        return str(err)
    return None


def _point_list(points) -> list:
    if points is None or isinstance(points, (dict, str, bytes)) or not hasattr(points, "__iter__"):
        raise UserError(f"run_points: points is {type(points).__name__}; pass a list (or another sequence) of point "
                        "dicts ([dict(seq_len=4096), ...])")
    return points if type(points) is list else list(points)  # a generator or tuple: its points, once


def first_bad_point(points: list, defaults: dict) -> tuple[int, UserError] | None:
    """The first point that fails on its own and its error, by bisection over the whole runs (a point's row does not
    depend on its neighbours): about two runs of the points, spent only when some point is bad."""
    lo, hi = 0, len(points)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            rows_of(points[lo:mid], defaults)
        except UserError:
            hi = mid
        else:
            lo = mid
    try:
        rows_of(points[lo:hi], defaults)
    except UserError as err:
        return lo, err
    return None


def _point_text(point) -> str:
    """A point's fields as ``key=value, ...``, cut so that the error stays one line."""
    if type(point) is not dict:
        return short_repr(point)
    text = ", ".join(f"{k}={v!r}" if type(v) is str else f"{k}={v}" for k, v in point.items() if v is not None)
    return text if len(text) <= 80 else text[:76] + " ..."


def rows_of(points: list, defaults: dict) -> list[dict]:
    """``run_points`` without naming the bad point on error: the error a point-by-point run raises, though not
    necessarily for the first bad point. The command line's callers name their own rows (a file's row, a list's
    values), or re-run one by one to do so."""
    points = _point_list(points)
    _check_fields(points, defaults)
    rows = [None] * len(points)
    methods = {}
    if defaults.get("method") or any(map(_METHOD, points)):
        from simulator.methods import method

        points, methods = _with_methods(points, defaults)
    if len(points) >= COLUMNS_FROM or len(points) > 1 and "numpy" in sys.modules:
        groups, alone = column_groups(points, defaults, _column_plan)
    else:  # every point on the scalar path: a few cost less than importing numpy, or than grouping one
        groups, alone = [], range(len(points))
    alone = {i: _merged(points[i], defaults) for i in alone}
    # the points' plain --sparsity values: a large grid lowers them together (simulator.tiles)
    tile_source.expect_sparsities(p["sparsity"] for p in alone.values() if "sparsity" in p
                                  and type(p["sparsity"]) is float and p["sparsity"] > 0 and not p.get("pattern"))
    try:
        for i, merged in alone.items():
            try:
                rows[i] = _simulate_point(merged)
            except UserError as err:
                raise _method_context(err, methods.get(i), merged) from None
    finally:
        tile_source.expect_sparsities(())
    with _CollectorPaused():  # the dense points' rows (the scalar ones above may leave cycles to collect)
        tables = []  # (indices, record, the points that do not fit) of each group evaluated over columns
        for plan, members, sizes in groups:  # a group of one point runs the scalar path (the same numbers)
            table = _simulate_columns(plan.names, sizes) if len(members) > 1 else None
            if table is None:
                for i in members:
                    rows[i] = _simulate_point(_merged(points[i], defaults))
            else:
                tables.append((members, *table))
        indices, dense_rows = to_rows(tables)
        if len(dense_rows) == len(rows):  # every point evaluated over columns: their rows are all, in input order
            rows = dense_rows
        else:
            for i, row in zip(indices, dense_rows):
                rows[i] = row
        for i, (name, note) in methods.items():  # (simulator.methods is loaded: _with_methods imported it)
            if type(note) is tuple:  # several kernel calls: their summed row, which carries the calls' note
                text, calls, merged = note
                rows[i], note = _summed_row(name, merged, defaults, text, calls), None
            rows[i]["method"] = name
            stand_in = method(name).stand_in if not note else ""  # a dense fallback runs the code's own dense call
            rows[i]["note"] = "; ".join(filter(None, (note, stand_in, rows[i]["note"],
                                                      kernels_note(name, rows[i])))) or None
        return rows


def run_points_or_refusals(points, **defaults) -> list:
    """``run_points`` for a matrix of kernels and shapes (the command line's lists, ``cli._workload_opts.
    skips_refused``): per point, in input order, its row, or why its kernel refused its shape (the UserError it
    raised alone). A value no kernel takes still raises: when some point fails, every point's workload is checked
    first, as it would be alone."""
    try:
        return rows_of(points, defaults)
    except UserError:
        pass
    _check_fields(points, defaults)
    for point in points:  # a bad size, head dim or mode raises here (Workload checks each value)
        merged = _merged(point, defaults)
        Workload(**{k: merged[k] for k in WORKLOAD_FIELDS if k in merged})
    out = []
    for point in points:
        try:
            out.extend(rows_of([point], defaults))
        except UserError as err:
            out.append(str(err))
    return out


class _CollectorPaused:
    """The garbage collector paused, then restored as it was (also on error): while the columns' rows are built,
    it would walk the young ones every few hundred dicts and free nothing (they hold no cycles), about a tenth
    of a dense run's time. Restored as run_points returns them, it walks them once only if the caller keeps
    them while it allocates more (not when they are written and dropped, as a sweep does); a generator's
    context manager would allocate after restoring it (its StopIteration), and so walk them there. The CLI
    raises its threshold for the same reason (cli.main.GC_THRESHOLD)."""

    def __enter__(self):
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *error):
        if self.enabled:
            gc.enable()


NAME_RULE = "a non-empty string (a family such as flash3, a cascade, or a method); leave it out for the default"


def _bad_name(value) -> bool:
    """Whether an algorithm, baseline or method given is no name: not a string, or an empty one (None: not given)."""
    return value is not None and (type(value) is not str or not value.strip())


def _check_fields(points, defaults) -> None:
    """A point or default naming a field the model does not read is a mistake (``hw=`` for ``hardware=``), not a
    value to drop: a UserError (a ValueError) naming the field and those allowed, rather than a row for the default
    machine. A causal that is no bool ('false', 0) is refused here too, as Workload refuses it: the columns' path
    would read it as a truth value."""
    if set(map(type, points)) - {dict}:
        i, p = next((i, p) for i, p in enumerate(points) if type(p) is not dict)
        raise UserError(f"run_points: points[{i}] is {type(p).__name__} {short_repr(p)}: each point is a dict of "
                        "fields (seq_len=..., hardware=...); pass a list of them")
    named = set().union(*points, defaults)  # the fields some point or default gives: only those are checked
    for key in named.intersection(("algorithm", "baseline", "method")):
        values = (*map(methodcaller("get", key), points), defaults.get(key))
        if set(map(type, values)) - {str, _NONE} or "" in values:
            raise UserError(f"bad {key} {short_repr(next(filter(_bad_name, values)))}: {NAME_RULE}")
    if "causal" in named:
        values = (*map(methodcaller("get", "causal"), points), defaults.get("causal"))
        for kind in set(map(type, values)) - {bool, _NONE}:
            if not (kind.__module__ == "numpy" and kind.__name__ == "bool"):  # np.True_ is a truth value too
                raise UserError(f"bad causal {next(v for v in values if type(v) is kind)!r}: true or false")
    if POINT_FIELDS.issuperset(defaults) and all(map(POINT_FIELDS.issuperset, points)):
        return
    for where, fields in (("defaults", defaults), *((f"points[{i}]", p) for i, p in enumerate(points))):
        unknown = sorted(set(fields) - POINT_FIELDS)
        if unknown:
            raise UserError(f"run_points: {where} names {', '.join(map(repr, unknown))}, which attnsim does not "
                             f"read; allowed: {', '.join(sorted(POINT_FIELDS))}")


def _with_methods(points, defaults) -> tuple[list, dict]:
    """Points whose method (their own or the command line's) fills what they leave out, before the command line's
    values; and each such point's method, and why its code runs dense there (or None), by index."""
    from simulator.methods import dense_reason, method_calls, with_method

    out, methods = [], {}
    for i, point in enumerate(points):
        name = point.get("method") or defaults.get("method")
        if name:
            point = with_method(name, defaults, point)
            methods[i] = name, dense_reason(name, point)
            if calls := method_calls(name, point):  # several kernel calls: run apart, their row summed (rows_of)
                methods[i] = name, (*calls, point)
                point = calls[1][0]  # a stand-in to keep the batch's order; its row is replaced
        out.append(point)
    return out, methods


SUMMED = ("time_s", "flops", "hbm_bytes", "onchip_bytes", "tensor_flops", "exp_ops", "fma_ops", "memory_bytes",
          "energy_j")  # the fields a method's several calls add up to


def _summed_row(name: str, point: dict, defaults: dict, note: str, calls: list[dict]) -> dict:
    """One row for a method point whose code makes several kernel calls (``methods.method_calls``): the calls run
    as points of their own and their times, work and bytes add up; the baseline is the dense call of every head;
    the bound and tile are the longest call's, the utilization time-weighted, the block density the share of the
    call's scores they compute."""
    # the calls and the baseline are plain points: no default may put a method, mask or estimate back on them
    # (a default method= recursed here without end; a default pattern= ran on both calls)
    plain = {k: v for k, v in defaults.items() if k not in ("method", "pattern", "sparsity", "estimate", "block_size")}
    parts = rows_of(calls, plain)
    base_point = {k: v for k, v in point.items() if k not in ("method", "pattern", "estimate", "sparsity",
                                                                "block_size", "baseline")}
    base_point["algorithm"] = point.get("baseline") or default_algorithm(hardware(point.get("hardware", "h100")))
    (base,) = rows_of([{**base_point, "baseline": base_point["algorithm"]}], plain)
    longest = max(parts, key=lambda r: r["time_s"] or 0.0)
    row = dict(longest)
    for key in SUMMED:
        values = [r[key] for r in parts]
        row[key] = None if any(v is None for v in values) else sum(values)
    scores = [r["heads"] * r["kv_len"] * r["block_density"] for r in parts]
    notes = dict.fromkeys(n for r in (*parts, base) for n in (r["note"] or "").split("; ") if n)  # in order, once
    from simulator.methods import METHODS, fill_pattern

    mask = fill_pattern(name, METHODS[name].pattern, point) if METHODS[name].pattern else None  # the method's mask
    row.update(heads=sum(r["heads"] for r in parts), kv_heads=sum(r["kv_heads"] for r in parts),
               kv_len=point.get("kv_len") or point.get("seq_len"), pattern=mask,
               baseline=base["algorithm"], baseline_time_s=base["time_s"], baseline_energy_j=base["energy_j"],
               baseline_fits=base["fits"], note="; ".join((note, *notes)))
    row["block_density"] = sum(scores) / (row["heads"] * row["kv_len"])
    spec = hardware(point.get("hardware", "h100"))
    have = capacity_bytes(spec)  # the calls' tensors are in memory together
    row["fits"] = None if have is None else bool(row["memory_bytes"] <= have)
    if row["fits"] is False:
        row.update(dict.fromkeys(TIME_FIELDS), utilization={},
                   note=f"does not fit: the {len(parts)} calls need {_gb(row['memory_bytes'])} of HBM together "
                        f"({', '.join(_gb(r['memory_bytes']) for r in parts)}); {spec.display_name} has {_gb(have)}")
        return row
    time = row["time_s"]
    row["tflops"] = row["flops"] / time / 1e12 if time else None
    row["speedup"] = base["time_s"] / time if time and base["time_s"] else None
    if time and all(r["utilization"] for r in parts):
        row["utilization"] = {u: sum(r["utilization"][u] * r["time_s"] for r in parts) / time
                              for u in parts[0]["utilization"]}
    return row


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def _method_context(err: UserError, method, point: dict) -> UserError:
    """``err`` of a method point whose block size is the preset's, where another kernel refuses it: said to be the
    method's (--method minference --algo flash3 said 'bad block-size 64', a value the user never gave)."""
    from simulator.methods import METHODS

    if not method or "block-size" not in str(err):
        return err
    m = METHODS[method[0]]
    if m.block_size is None or point.get("block_size") != m.block_size or point.get("algorithm") == m.algorithm:
        return err
    err.args = (f"{err} (the block size is --method {method[0]}'s, for its {m.algorithm} kernel: give --block-size "
                f"for {point.get('algorithm')}, or leave --algo out)", *err.args[1:])
    return err


def kernels_note(method: str, row: dict) -> str | None:
    """Why a method's speedup is not its mask's alone: its kernel is another than the dense baseline (MInference's
    and DuoAttention's FA2-based kernels against FA3 on Hopper, NSA's Triton kernel), unless the row says so."""
    algo, base = row["algorithm"], row.get("baseline")
    if not base or base == algo or f"against {base}" in (row["note"] or ""):
        return None
    like = (f"; --baseline {algo} compares on one kernel" if algo in ("flash2", "flash3", "flash4")
            and "@" not in base else "")
    return f"{method} runs {algo} against {base}: the speedup holds the two kernels' difference as well as the method's{like}"


def _merged(point: dict, defaults: dict) -> dict:
    """The point as the model reads it: its values other than None (None: not given) over the call's defaults.
    A point without a None is used as it is (nothing changes a point): copying every point costs more than
    looking at their values' types (the type, as a value's == may not say whether it is None)."""
    given = point if _NONE not in map(type, point.values()) else {k: v for k, v in point.items() if v is not None}
    return {**defaults, **given} if defaults else given


def _simulate_point(merged: dict) -> dict:
    return _simulate(merged.get("hardware", "h100"), merged.get("algorithm"), merged.get("baseline"),
                     {k: merged[k] for k in WORKLOAD_FIELDS if k in merged})


# fields that masked points may differ in and still share work: the mask lowered for their shape (every --sparsity
# at once) and, where their tiles agree, its schedules (H100 and H200 give identical makespans; a larger batch
# continues a smaller one's)
_SHARE_FREE = frozenset(("hardware", "baseline", "batch", "heads", "kv_heads", "sparsity"))


def share_key(point: dict) -> tuple | None:
    """Points with equal keys are worth evaluating together, in one ``run_points`` call (see _SHARE_FREE). None
    for a point without a mask or an estimate: it lowers nothing, and shares at most a columns evaluation with
    its neighbours in input order."""
    get = point.get
    if not has_mask(get("causal"), get("sparsity"), get("pattern"), get("estimate")):
        return None
    return tuple(sorted((k, repr(v)) for k, v in point.items() if k not in _SHARE_FREE))


def _column_plan(hw_name, algo, baseline, head_dim: int, v_head_dim: int, dtype, block, scope) -> ColumnPlan | None:
    """The plan of dense points of these names and head dims when they and their baseline run on columns; None
    otherwise (or on bad input). Cached with the versions of the TOML files the names are (``_file_version``)."""
    return _cached_plan(hw_name, algo, baseline, head_dim, v_head_dim, dtype, block, scope,
                        _file_version(hw_name), _file_version(split_baseline(baseline)[1] if type(baseline) is str
                                                              else None))


def _file_version(name) -> tuple | None:
    """(resolved path, mtime, size) of a TOML machine named by path (NAME.toml or NAME.toml:MHZ), None for a bundled
    name: what ``hardware`` caches a TOML by (``file_version``, the cascades' own, and the path resolved)."""
    import os

    from einsum_cascades.library import file_version

    if type(name) is not str or ".toml" not in name.lower():
        return None
    head = name.rpartition(":")[0]
    path = head if head.lower().endswith(".toml") else name
    version = file_version(path)
    return None if version is None else (os.path.realpath(path), *version)


@lru_cache(maxsize=1024)
def _cached_plan(hw_name, algo, baseline, head_dim: int, v_head_dim: int, dtype, block, scope, version,
                 base_version) -> ColumnPlan | None:
    try:
        spec = hardware(hw_name)
        algo = algo or default_algorithm(spec)
        base_algo, base_hw = split_baseline(baseline or "")
        if baseline and (hardware(base_hw or hw_name).kind != "gpu" or base_algo not in COLUMN_FAMILIES):
            return None
        if spec.kind != "gpu" or algo not in COLUMN_FAMILIES:
            return None
    except (UserError, TypeError):
        return None
    gqa_layouts = algo in ("flash3", "flash4")
    if gqa_layouts and ((block or 1) <= 0 or head_dim <= 0 or v_head_dim <= 0):
        return None  # evaluated alone, so Workload names the bad value
    calls = ((algo, hw_name), (base_algo, base_hw or hw_name))
    return ColumnPlan((hw_name, algo, baseline, head_dim, dtype, block, v_head_dim, scope), spec.arch, gqa_layouts,
                      any(family in ("flash2", "flash-decoding") for family, _ in calls),
                      tuple(hardware(machine) for family, machine in calls
                            if family == "flash2" or (family == "flash-decoding" and scope != "layer")))


def _simulate_columns(names: tuple, sizes: dict) -> tuple[dict, list[int]] | None:
    """The record of points of one plan's ``names``, of these size columns (by SIZE_FIELDS name): ``to_row``'s, the
    model's decisions and the capacity marks (``capacity.mark_columns``), each value a column (numpy) or one for
    every point; and the points that do not fit (their rows' utilization is empty). None if a value is invalid
    (the caller then runs them one by one)."""
    hw_name, algo, baseline, head_dim, dtype, block, v_head_dim, scope = names
    wl = workload_columns(head_dim, dtype, block, v_head_dim, scope, **sizes)
    if wl is None:
        return None
    spec = hardware(hw_name)
    result = evaluate(spec, algo, wl)
    if baseline:
        base_algo, base_hw = split_baseline(baseline)
        base_spec = hardware(base_hw) if base_hw else spec
        base, why = _baseline(base_spec, base_algo, wl)
    else:
        base_spec = spec
        base, why = _baseline(spec, *default_baseline(spec, algo, wl))
    n = len(result.time_s)
    record = {**_as_given(to_row(result, base, why), hw_name, baseline), **decisions(spec, result),
              **column_marks(spec, result, base_spec, base, n)}
    return record, mark_columns(record, spec, result, base_spec, base, n)


# A neighborhood grid on FA2's tiles is no kernel NATTEN runs: on Ampere NATTEN runs its own fused kernel
# (backends/fna.py, CUTLASS Sm80 FnaForward), which attnsim does not model (docs/kernels.md G)
# vLLM's FlashInfer backend builds its decode wrapper with tensor cores whatever the GQA group
# (vllm/v1/attention/backends/flashinfer.py: BatchDecodeWithPagedKVCacheWrapper(..., use_tensor_cores=True), "the perf
# would be at least as good as cuda cores for all attention ops in latest gpus"; a 2026-07 vLLM tree); SGLang's takes
# tensor cores for a 16-bit cache from a GQA group of 4 (python/sglang/srt/layers/attention/flashinfer_backend.py
# should_use_tensor_core: gqa_group_size >= 4; > 4 in older trees) and always for an 8-bit one
VLLM_TC_DECODE_NOTE = ("vLLM's FlashInfer backend decodes with tensor cores (use_tensor_cores=True): its layer call is "
                       "flashinfer-decode-tc; this is the CUDA-core decode, as SGLang's FlashInfer backend runs it on "
                       "a 16-bit cache with GQA groups under 4 (should_use_tensor_core)")
AMPERE_NATTEN_NOTE = ("a neighborhood grid on FA2's tiles is not NATTEN's Ampere kernel (FNA), which attnsim does not "
                      "model: NATTEN 0.20's profiler page times that kernel 2.5-6.3x longer than this on a 3-D call "
                      "(validation/published/natten-docs-profiler-a100.json)")


def to_row(r: Result, base: Result | None, note: str | None = None) -> dict:
    """The JSON/CSV record of one point (the columns `attnsim simulate --format csv` prints); ``base`` None: the
    baseline cannot run, ``note`` says why, and the speedup is empty."""
    wl = r.workload
    if pad := r.detail.get("padded_head_dim"):
        note = "; ".join(filter(None, (padded_note(pad, wl), note)))
    if r.algorithm == "flash2" and wl.pattern and grid_call(wl):
        note = "; ".join(filter(None, (AMPERE_NATTEN_NOTE, note)))
    if r.algorithm == "flashinfer-decode" and wl.scope == "layer" and "quest_budget" not in r.detail:
        note = "; ".join(filter(None, (VLLM_TC_DECODE_NOTE, note)))  # Quest's fork is no engine's backend
    if "quest_budget" in r.detail and base is not None and base.algorithm != r.algorithm:
        note = "; ".join(filter(None, (note, f"Quest's kernel (its FlashInfer fork) against {base.algorithm}: the "
                                       "speedup holds the two kernels' difference as well as the budget's")))
    if base is None:
        return {**to_row(r, r), "baseline": None, "baseline_time_s": None, "speedup": None,
                "baseline_energy_j": None, "note": note}
    return {
        "hardware": r.hardware, "algorithm": r.algorithm,
        "baseline": base.algorithm if base.hardware == r.hardware else f"{base.algorithm}@{base.hardware}",
        "batch": wl.batch, "heads": wl.heads, "kv_heads": wl.kv_heads, "head_dim": wl.head_dim,
        "v_head_dim": wl.v_head_dim,
        "seq_len": wl.seq_len, "kv_len": wl.kv_len, "causal": wl.causal, "dtype": wl.dtype, "scope": wl.scope,
        "page_size": wl.page_size, "varlen": wl.varlen, "num_splits": wl.num_splits,
        "pattern": wl.pattern, "sparsity": wl.sparsity, "block_size": wl.block_size, "method": None,
        "estimate": wl.estimate,
        "estimate_s": r.times.get("estimate"),
        "block_density": r.block_density,
        "time_s": r.time_s, "baseline_time_s": base.time_s, "speedup": base.time_s / r.time_s,
        "bound": r.bound, "flops": r.flops, "tflops": r.tflops, "hbm_bytes": r.cost.hbm_bytes,
        "onchip_bytes": r.cost.onchip_bytes, "tensor_flops": r.cost.tensor_flops, "exp_ops": r.cost.exp_ops,
        "fma_ops": r.cost.fma_ops, "energy_j": r.energy_j,
        "baseline_energy_j": base.energy_j, "utilization": dict(r.utilization), "note": note,
    }
