"""Fit a GPU's kernel figures from published kernel timings (``attnsim calibrate --kernels``).

Figures no datasheet publishes, per architecture, never per shape:
- per tensor-core path (``mma_sync``, ``wgmma``, ``tcgen05``) the MMA rate attention tiles achieve
  (``<path>_efficiency``) and the share of the softmax's time the kernel's schedule leaves exposed
  (``<path>_softmax_exposed``), from the fused kernels' points (flash1/2/3/4, flash-decoding); on tcgen05
  (FA4) also the SM cycles a CTA loses at each work tile's hand-offs between its warp roles
  (``tcgen05_tile_turnaround``);
- the HBM fractions PyTorch's standard-attention kernels reach (``unfused_hbm_efficiency``: GEMMs, softmax;
  ``unfused_strided_efficiency``: its element-wise kernels on strided or broadcast operands), from the ``naive``
  points;
- the share of the SM's issue slots a CUDA-core attention loop fills (``cuda_core_issue_efficiency``), from the
  FlashInfer batch decode points whose CUDA-core time outlasts their K/V stream (a GQA group's worth of dot
  products per K/V row);
- how much longer than either a fused prefill call runs whose compute and HBM stream take equal time
  (``stream_overlap_loss``; gpu_model.overlapped), from the fused prefill points, where enough of them have a
  stream near their compute to tell it.
Each is fitted by a robust (soft-L1) loss on log(predicted / measured) over every point of its kind, with
everything else in the model left as it is, and printed with its leave-one-out error (each point predicted by a fit
made without it); the TOML it writes cites the command. No factor on the result: the figures enter the
per-tile cost, the unfused kernels' bandwidth and how the fused kernels' compute and stream combine only.
"""

import math
import statistics
from dataclasses import dataclass, field, replace

from einsum_cascades.errors import UserError
from gpu_models.spec import MMA_PATHS
from simulator.algorithms import FUSED_MAPPINGS
from simulator.workload import Workload
from validation.report import BUILD_KEYS

FUSED_FAMILIES = ("flash2", "flash3", "flash4", "flash-decoding", "flash1")  # per-tile costs
UNFUSED = "unfused"  # the fit target of the naive family's kernels
CUDA_CORE = "cuda_core"  # the fit target of FlashInfer's CUDA-core decode kernels
# The batch kernel's calls only: the single-request kernel's GQA calls (the FlashInfer post's Fig. 8 CUDA-core line,
# added 2026-12-05) run the model's per-key slope but 8 us (H100) to 19 us (A100 PCIe) above its intercept, a per-call
# cost the issue share does not describe; fitted to them it would move the batch kernel's figure by their intercept
# (docs/kernels.md D1)
CUDA_CORE_FAMILIES = ("flashinfer-decode",)
OVERLAP = "overlap"  # the fit target of how much of the HBM stream the fused prefill kernels leave exposed
# the fused kernels' points that tell the overlap: a stream of at least this share of the compute (there a loss of
# 0.26, p = 3, is 4.0%; at 0.3, 0.9%); without MIN_POINTS of them the figure is not fitted
OVERLAP_MIN_RATIO = 0.5
KERNEL_TARGETS = (*MMA_PATHS, UNFUSED, CUDA_CORE, OVERLAP)  # what ``calibrate --kernels --only`` takes
MIN_POINTS = 3  # a target with fewer points is not fitted
_COARSE = 20  # grid points per figure before refining
_COARSE_CYCLES = 11  # grid points of a figure in cycles (1,000-cycle steps over its range)
TURNAROUND_CYCLES = (0.0, 10000.0)  # the turnaround's range: 0 to 5 us at 2 GHz, past any hand-off of a tile
_REFINE_ROUNDS = 5
_LOO_ROUNDS = 2
_LOO_POLISH = 12  # Nelder-Mead iterations of each leave-one-out refit (it starts at the full fit)
JOINT_SWEEPS = 3  # sweeps over the targets, the last with leave-one-out refits (fit_kernels)
JOINT_TOLERANCE = 1e-4  # a sweep that moves no figure more than this (relative) ends the joint fit
# Scale of the soft-L1 loss, in log(predicted / measured): quadratic within about 10%, linear beyond. Published
# sets hold points the model does not describe (a small call timed with CUDA events around a host-side dispatch,
# a GPU at an unstated clock); under least squares a few of them set a figure for every shape, under soft-L1
# the bulk of the points does. Not tuned to the sets: scales of 0.05 and 0.2 fit B200's mma_sync_efficiency at
# 0.161 and 0.157 against 0.159 here (least squares: 0.150).
LOSS_SCALE = 0.1
# A point whose timed window holds the host's dispatch of the call (``host_in_window``, FORMAT.md: tens of
# microseconds of Python and framework before the kernels start on an idle GPU) is fitted only from this long: the
# dispatch is then a few percent of it. cudnn-frontend's B200 SDPA benchmark (cudnn-frontend-sdpa-b200.json), whose
# 512-token FA2 calls ran 2.1-2.4 times the kernel time attnsim gives them, had pulled the B200's mma.sync fit to an
# efficiency its long calls deny (0.6505, leave-one-out max 58%; 0.7126, 22% without its calls under 1 ms).
HOST_WINDOW_FIT_MIN_S = 1e-3
_WORKLOAD_KEYS = ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len", "kv_len", "causal", "dtype",
                  "pattern", "sparsity", "scope", "page_size", "varlen", "num_splits")


@dataclass(frozen=True, slots=True)
class Fit:
    """The fitted figures of one target (an MMA path, or the unfused kernels) and how well they explain
    the points."""

    target: str
    values: dict  # figure name -> fitted value
    n: int
    median_abs_error: float  # of the fitted model on the fitting points
    loo_median_abs_error: float  # each point predicted by a fit that did not see it
    loo_max_abs_error: float
    families: tuple[str, ...]
    held: dict = field(default_factory=dict)  # figure -> why the points could not tell it (held, not fitted)
    written_median_abs_error: float | None = None  # of its points with every target's figures as written


def targets(hw) -> dict[str, dict[str, tuple[float, float]]]:
    """Fit target -> {figure: allowed range}; the unfused kernels cannot beat a tuned stream."""
    mma = {path: {f"{path}_efficiency": (0.05, 1.0), f"{path}_softmax_exposed": (0.0, 1.0)}
           for path in MMA_PATHS}
    mma["tcgen05"]["tcgen05_tile_turnaround"] = TURNAROUND_CYCLES
    return {**mma, UNFUSED: {"unfused_hbm_efficiency": (0.05, hw.hbm_efficiency),
                             "unfused_strided_efficiency": (0.05, hw.hbm_efficiency)},
            CUDA_CORE: {"cuda_core_issue_efficiency": (0.2, 1.0)}, OVERLAP: {"stream_overlap_loss": (0.0, 1.0)}}


def fit_kernels(doc: dict, hw, say=None, only: tuple[str, ...] | None = None) -> list[Fit]:
    """One ``Fit`` per target of ``hw`` (of ``only``, if given) with at least MIN_POINTS points in ``doc`` that can
    tell its figures; ``say(text)``, if given, hears which fit starts (each takes seconds to a few minutes: a fit,
    then one refit per point left out).

    The targets share points (the stream overlap is fitted to the calls each path's figures are fitted to), so they
    are fitted in turn, each with the figures fitted before it in place (Gauss-Seidel), and the sweep repeated
    without leave-one-out refits while a figure still moves (up to JOINT_SWEEPS); the last sweep's fits carry
    the leave-one-out errors, and every fit's ``written_median_abs_error`` is its points' error with all the
    figures as the TOML writes them. Fitted each against the others' old figures, a stream overlap fitted last
    could move the calls a path's fit had just matched, and the printed errors were not the TOML's."""
    ranges = targets(hw)
    todo = [(t, pts) for t, pts in fit_points(doc, hw, only).items() if len(pts) >= MIN_POINTS]
    allowed = {t: _identifiable(ranges[t], pts) for t, pts in todo}
    current = hw
    for sweep in range(JOINT_SWEEPS - 1 if len(todo) > 1 else 0):
        moved = 0.0
        for target, points in todo:
            if say is not None:
                say(f"fitting {target} to {len(points)} points (joint sweep {sweep + 1})")
            best = _best(current, allowed[target], points)
            moved = max([moved] + [abs(v - getattr(current, k)) / max(1.0, abs(getattr(current, k)))
                                   for k, v in best.items()])
            current = replace(current, **best)
        if moved <= JOINT_TOLERANCE:
            break
    fits = []
    for target, points in todo:
        if say is not None:
            say(f"fitting {target} to {len(points)} points, then {len(points)} leave-one-out refits")
        fit = replace(_fit(current, target, allowed[target], points), held=_held(ranges[target], allowed[target]))
        current = replace(current, **fit.values)
        fits.append(fit)
        if say is not None:
            for text in _range_notes(fit, allowed[target]):
                say(text)
    return [replace(f, written_median_abs_error=statistics.median(map(abs, _errors(current, pts, {}))))
            for f, (_, pts) in zip(fits, todo)]


def _range_notes(fit: "Fit", allowed: dict) -> list[str]:
    """What the fit could not tell: a figure the points leave undetermined, held (``_identifiable``), and one that
    landed on a bound of its range, where the points do not pin it."""
    out = []
    for name, value in fit.values.items():
        lo, hi = allowed[name]
        if name in fit.held:
            out.append(f"note: {name} held at {value:g}, not fitted: {fit.held[name]}")
        elif hi > lo and min(value - lo, hi - value) <= 1e-3 * (hi - lo):
            out.append(f"note: {name} = {value:.4g} sits at the bound of its range [{lo:g}, {hi:g}]: the points do "
                       "not pin it; read the leave-one-out errors before using the TOML")
    return out


def fit_points(doc: dict, hw, only: tuple[str, ...] | None = None) -> dict[str, list]:
    """Fit target -> the points of ``doc`` a fit of it on ``hw`` takes (of the targets in ``only``, if given):
    (workload, algorithm, measured seconds, target, builds, locked clock)."""
    by_target: dict[str, list] = {}
    points = _points(doc, hw)
    for point in points:
        if only is None or point[3] in only:
            by_target.setdefault(point[3], []).append(point)
    # only calls whose CUDA-core loop outlasts their K/V stream can tell its issue rate
    if CUDA_CORE in by_target:
        by_target[CUDA_CORE] = [p for p in by_target[CUDA_CORE] if _cuda_core_bound(hw, p)]
    if only is None or OVERLAP in only:  # every fused prefill call (more than one query), if enough can tell it
        prefill = [(*p[:3], OVERLAP, *p[4:]) for p in points if p[3] in MMA_PATHS and p[0].seq_len > 1]
        if sum(_stream_ratio(hw, p) >= OVERLAP_MIN_RATIO for p in prefill) >= MIN_POINTS:
            by_target[OVERLAP] = prefill
    return by_target


def _held(ranges: dict, allowed: dict) -> dict:
    """Figure -> why ``_identifiable`` held it (its allowed range one value where the full one is not)."""
    return {name: ("its points are of one head dim, which cannot tell it from the efficiency"
                   if name.endswith("_softmax_exposed") else "its points are of one length")
            for name, (lo, hi) in allowed.items() if lo == hi and ranges[name][0] != ranges[name][1]}


def _identifiable(ranges: dict, points: list) -> dict:
    """The figures the points can tell apart. A tile costs G/efficiency + exposed * S (G >= S), and S/G falls
    as 1/(d + dv): points of a single head dim and cascade pin only that sum, so the exposure is then held at 1
    (the softmax after the GEMMs, no hiding assumed) and the efficiency alone is fitted; a second head dim, or
    the kernel timed with its softmax removed (``attention-nosoftmax@flash2``: S down to the conversion),
    separates them. A work tile costs its key tiles plus a turnaround: points of a single length cannot tell the
    two apart, so the turnaround is then held at 0. The standard attention's strided kernels are told from its
    other kernels by the mask add: without masked points their figure is not fitted."""
    out = dict(ranges)
    if len({(wl.head_dim, wl.v_head_dim, algo) for wl, algo, *_ in points}) == 1:
        out = {k: ((1.0, 1.0) if k.endswith("_softmax_exposed") else r) for k, r in out.items()}
    if len({(wl.seq_len, wl.kv_len) for wl, *_ in points}) == 1:
        out = {k: ((0.0, 0.0) if _in_cycles(k) else r) for k, r in out.items()}
    if not any(wl.mask_expr for wl, *_ in points):  # without a mask add, the strided kernels are only the layout
        out.pop("unfused_strided_efficiency", None)  # copies, a few % of the bytes: not fitted (the TOML's stays)
    return out


def _cuda_core_bound(hw, point) -> bool:
    """Whether a FlashInfer decode point's CUDA-core time outlasts its K/V stream with every issue slot filled."""
    from simulator.api import evaluate
    from validation.report import at_clock

    wl, algo, _, _, _, clock = point
    det = evaluate(at_clock(replace(hw, cuda_core_issue_efficiency=None), clock), algo, wl).detail
    return det["cuda_core_s"] > det["stream_s"]


def _stream_ratio(hw, point) -> float:
    """The point's HBM stream over its compute time (gpu_model.stream_ratio), 0 where the model has none."""
    from simulator.api import evaluate
    from simulator.gpu_model import stream_ratio
    from validation.report import as_built, at_clock

    wl, algo, _, _, builds, clock = point
    with as_built(builds):
        return stream_ratio(evaluate(at_clock(hw, clock), algo, wl)) or 0.0


def _points(doc: dict, hw) -> list[tuple]:
    """(workload, algorithm, measured seconds, target, builds, locked clock) of every point ``hw`` can run whose
    figures are fitted; the algorithm is a family or a cascade mapped onto a fused one."""
    from simulator.gpu_kernels import kernel_config
    from simulator.gpu_model import family_error

    out = []
    for p in doc.get("points", []):
        algo = p.get("algorithm") or ""
        family = algo.rpartition("@")[2]  # a cascade mapped onto a fused family (attention-nosoftmax@flash2)
        allowed = FUSED_MAPPINGS if family != algo else (*FUSED_FAMILIES, *CUDA_CORE_FAMILIES, "naive")
        if family not in allowed or not p.get("measured_s") or not p.get("ok", True) or family_error(hw, family):
            continue
        if p.get("host_in_window") and p["measured_s"] < HOST_WINDOW_FIT_MIN_S:
            continue  # its window holds the host's dispatch, which no figure here prices (FORMAT.md)
        wl = Workload(**{k: p[k] for k in _WORKLOAD_KEYS if p.get(k) is not None})
        target = (UNFUSED if algo == "naive" else CUDA_CORE if algo in CUDA_CORE_FAMILIES
                  else kernel_config(family, hw, wl).tensor_path)
        builds = {k: p[k] for k in BUILD_KEYS if p.get(k)}
        out.append((wl, algo, float(p["measured_s"]), target, builds, p.get("clock_locked_mhz")))
    return out


def _best(hw, ranges: dict, points: list) -> dict:
    """The figures of ``ranges`` that fit ``points`` best, the rest of ``hw`` as it is."""
    coarse = {k: _span(*r, _COARSE_CYCLES if _in_cycles(k) else _COARSE) for k, r in ranges.items()}
    return _minimise(hw, ranges, points, coarse, _REFINE_ROUNDS)


def _fit(hw, target: str, ranges: dict, points: list) -> Fit:
    best = _best(hw, ranges, points)
    errors = _errors(hw, points, best)
    loo = []
    for i in range(len(points)):
        rest = points[:i] + points[i + 1:]
        local = {k: _around(v, 0.02 * (r[1] - r[0]), r) for (k, v), r in zip(best.items(), ranges.values())}
        loo.append(_errors(hw, [points[i]], _minimise(hw, ranges, rest, local, _LOO_ROUNDS, _LOO_POLISH))[0])
    return Fit(target, best, len(points), statistics.median(map(abs, errors)), statistics.median(map(abs, loo)),
               max(map(abs, loo)), tuple(sorted({p[1] for p in points})))


def _errors(hw, points: list, values: dict) -> list[float]:
    """predicted / measured - 1 of each point with the figures set to ``values``."""
    from validation.report import at_clock

    spec = replace(hw, **values)
    return [_time(at_clock(spec, clock), algo, wl, builds) / measured - 1.0
            for wl, algo, measured, _, builds, clock in points]


def _time(spec, algo: str, wl, builds: dict) -> float:
    from simulator.api import evaluate
    from validation.report import as_built

    with as_built(builds):
        return evaluate(spec, algo, wl).time_s


def _loss(hw, points, values: dict) -> float:
    return sum(soft_l1(math.log1p(e)) for e in _errors(hw, points, values))


def soft_l1(r: float, scale: float = LOSS_SCALE) -> float:
    """2 c^2 (sqrt(1 + (r/c)^2) - 1): r^2 for |r| << c, 2 c |r| for |r| >> c."""
    return 2.0 * scale * scale * (math.sqrt(1.0 + (r / scale) ** 2) - 1.0)


def _minimise(hw, ranges: dict, points: list, grid: dict, rounds: int, polish: int = 60) -> dict:
    """Grid search over every combination of the figures' grids, ``rounds`` finer 5-point grids around
    the best, then a bounded Nelder-Mead polish (efficiency and exposure trade off along a diagonal
    valley that axis-aligned grids walk slowly)."""
    names = list(grid)
    steps = {k: _step(v) for k, v in grid.items()}
    best = None
    for _ in range(rounds + 1):
        combos = [dict(zip(names, vals)) for vals in _product([grid[k] for k in names])]
        best = min(combos, key=lambda values: _loss(hw, points, values))
        grid = {k: _around(best[k], steps[k], ranges[k]) for k in names}
        steps = {k: s / 2 for k, s in steps.items()}
    return _nelder_mead(lambda v: _loss(hw, points, v), best, steps, ranges, polish)


def _nelder_mead(loss, start: dict, steps: dict, ranges: dict, iterations: int) -> dict:
    """A few Nelder-Mead iterations from ``start`` (simplex edges ``steps``), every vertex clipped to
    ``ranges``; returns the best vertex found."""
    names = list(start)

    def clip(x):
        return [min(max(v, ranges[k][0]), ranges[k][1]) for k, v in zip(names, x)]

    def f(x):
        return loss(dict(zip(names, x)))

    x0 = [start[k] for k in names]
    simplex = [x0] + [clip([v + (steps[k] if i == j else 0.0) for j, (k, v) in enumerate(zip(names, x0))])
                      for i in range(len(names))]
    scored = sorted((f(x), x) for x in simplex)
    for _ in range(iterations):
        (f_best, best), (f_worst, worst) = scored[0], scored[-1]
        centroid = [sum(x[i] for _, x in scored[:-1]) / (len(scored) - 1) for i in range(len(names))]
        trial = clip([c + (c - w) for c, w in zip(centroid, worst)])  # reflect
        f_trial = f(trial)
        if f_trial < f_best:
            expanded = clip([c + 2 * (c - w) for c, w in zip(centroid, worst)])
            f_exp = f(expanded)
            scored[-1] = (f_exp, expanded) if f_exp < f_trial else (f_trial, trial)
        elif f_trial < scored[-2][0]:
            scored[-1] = (f_trial, trial)
        else:
            contracted = clip([c + 0.5 * (w - c) for c, w in zip(centroid, worst)])
            f_con = f(contracted)
            if f_con < f_worst:
                scored[-1] = (f_con, contracted)
            else:  # shrink toward the best
                scored = [scored[0]] + [(f(x), x) for x in (clip([b + 0.5 * (v - b) for b, v in zip(best, x)])
                                                            for _, x in scored[1:])]
        scored.sort(key=lambda item: item[0])
    return dict(zip(names, scored[0][1]))


def _product(lists: list[list]) -> list[tuple]:
    out = [()]
    for values in lists:
        out = [prefix + (v,) for prefix in out for v in values]
    return out


def _span(low: float, high: float, n: int) -> list[float]:
    if low == high:  # a figure held fixed
        return [low]
    return [low + (high - low) * i / (n - 1) for i in range(n - 1)] + [high]


def _step(values: list[float]) -> float:
    return (values[-1] - values[0]) / max(len(values) - 1, 1)


def _around(center: float, step: float, bounds: tuple[float, float]) -> list[float]:
    return sorted({min(max(center + k * step / 2, bounds[0]), bounds[1]) for k in (-2, -1, 0, 1, 2)})


def calibrate_kernels(results_paths: list[str], hw_name: str | None = None, say=None,
                      only: tuple[str, ...] | None = None, clock_mhz: float | None = None) -> tuple[dict, list[Fit]]:
    """The bundled TOML of the files' GPU with every fitted figure replaced, and the fits.
    The files' points are pooled; they must all be of one hardware model, and ``hw_name`` (--hw) of the
    architecture their devices name. A file is a published or validation results file, or a user's own measured
    points (a CSV or JSON, validation.measured_file), each row on its own hardware or device as `validate report`
    reads it. ``say``: as ``fit_kernels``; ``only``: the fit targets to fit (all if None); ``clock_mhz``: the SM
    clock every point ran at (--clock-locked), where a file or row does not say another."""
    from simulator.api import hardware
    from validation.calibrate import bundled_toml, calibrated_name
    from validation.measured_file import load

    from pathlib import Path

    seen = {}
    for path in results_paths:
        if (key := Path(path).resolve()) in seen:
            raise UserError(f"{path}: given twice ({seen[key]}): its points would count twice, and each "
                            "leave-one-out refit would still hold the left-out point's twin")
        seen[key] = path
    docs = [(path, load(path)) for path in results_paths]
    points, models = _file_points(docs, hw_name, clock_mhz)
    if len(models) > 1:
        raise UserError(f"calibrate --kernels fits one GPU at a time; the files are of {', '.join(sorted(models))}")
    hw_ref = models.pop()
    hw = hardware(hw_ref)
    if hw.kind != "gpu":
        raise UserError(f"calibrate --kernels fits GPUs; {hw.name} is an {hw.kind}")
    missing = [t for t in only or () if t in MMA_PATHS and getattr(hw, f"{t}_efficiency") is None]
    if missing:
        raise UserError(f"--only {missing[0]}: {hw.name} ({hw.arch}) has no {missing[0]} tensor-core path")
    if hw_name:  # per-architecture figures are fitted from that architecture's timings only
        for path, own in _own_models(docs):
            own = hardware(own)
            if own.arch != hw.arch:
                raise UserError(f"--hw {hw_name}: {path} was timed on {own.name} ({own.arch}), and {hw.name} is "
                                f"{hw.arch}: its kernel figures cannot be fitted from another architecture's timings")
    for path, doc in docs:
        _above_floor(doc["points"], hw, path)
    fits = fit_kernels({"points": points}, hw, say, only)
    if not fits:
        kinds = f"{', '.join(FUSED_FAMILIES)}, naive, or CUDA-core-bound {' / '.join(CUDA_CORE_FAMILIES)}"
        if only and OVERLAP in only:
            kinds += (f"; for overlap, fused prefill calls whose HBM stream is at least {OVERLAP_MIN_RATIO:g} of their "
                      "compute")
        raise UserError(f"fewer than {MIN_POINTS} points of one kind ({kinds}) that run on {hw.name} in "
                        f"{', '.join(results_paths)}" + (f" for --only {','.join(only)}" if only else "")
                        + ": nothing to fit")
    toml = bundled_toml(hw_ref)
    toml["name"] = calibrated_name(toml["name"])
    command = "attnsim calibrate --kernels " + (f"--only {','.join(only)} " if only else "") + " ".join(results_paths)
    toml["description"] = f"{toml.get('description', '')} Kernel figures fitted by `{command}`.".strip()
    for fit in fits:
        how = (f"fitted by `{command}` ({fit.n} {'/'.join(fit.families)} points; leave-one-out median |error| "
               f"{fit.loo_median_abs_error:.1%}, max {fit.loo_max_abs_error:.1%})")
        for name, value in fit.values.items():
            cycles = _in_cycles(name)
            source = (f"held at {value:g}, not fitted, by `{command}` ({fit.held[name]})" if name in fit.held
                      else how)
            toml[name] = {"value": round(value) if cycles else round(value, 4), "unit": "clk" if cycles else "fraction",
                          "source": f"{source}: {_meaning(name)}"}
    return toml, fits


def _file_points(docs: list[tuple], hw_name: str | None, clock_mhz: float | None = None) -> tuple[list[dict], set]:
    """Every point of the files with its file's kernel builds and the SM clock it ran at (its file's device lock or
    its row's NAME:MHZ, else ``clock_mhz``; two that differ are an error), and the hardware models they were timed
    on (--hw for all, else each file's, else each measured row's own)."""
    from gpu_models.loader import split_clock
    from validation.report import MEASURED_FORMAT, hardware_for, locked_clock_mhz, row_model

    points, models = [], set()
    for path, doc in docs:
        builds = {k: doc.get(k) for k in BUILD_KEYS}
        if doc.get("format") != MEASURED_FORMAT or hw_name:
            models.add(hardware_for(doc, hw_name))
            lock = _one_clock(locked_clock_mhz(doc), clock_mhz, path)
            points += [{**p, **builds, "clock_locked_mhz": lock} for p in doc["points"]]
            continue
        for p in doc["points"]:
            if not (p.get("hardware") or p.get("device")):  # a fit is of one GPU: no row's is taken for granted
                raise UserError(f"{path} row {p.get('row')}: no hardware or device column says which GPU timed it: "
                                "give one, or pass --hw NAME")
            try:
                model, mhz = split_clock(row_model(p))
            except UserError as err:
                raise UserError(f"{path} row {p.get('row')}: {err}") from None
            models.add(model)
            points.append({**p, **builds, "clock_locked_mhz": _one_clock(mhz, clock_mhz, f"{path} row {p.get('row')}")})
    return points, models


def _above_floor(points: list[dict], hw, path: str) -> None:
    """A point measured faster than any kernel can run it (validation.roofline.floor_time_s) is a wrong shape, unit
    or device in its file: refused, since a fit to it would hold figures no GPU has."""
    from simulator.api import default_algorithm
    from validation.roofline import floor_time_s, under_floor

    for i, p in enumerate(points):
        if not p.get("measured_s") or not p.get("ok", True):
            continue
        try:
            wl = Workload(**{k: p[k] for k in _WORKLOAD_KEYS if p.get(k) is not None})  # as _points builds it
            floor = floor_time_s(hw, wl, p.get("algorithm") or default_algorithm(hw))
        except (TypeError, ValueError):  # (UserError is one) a point the fit cannot run is skipped there, with its reason
            continue
        if under_floor(p["measured_s"], floor):
            where = f"{path} row {p['row']}" if "row" in p else f"{path} point {i}"
            raise UserError(f"{where}: measured {p['measured_s'] * 1e6:.3g} us is under the {floor[0] * 1e6:.3g} us no "
                            f"kernel can beat on {hw.name}: check its shape, time unit and device")


def _one_clock(stated: float | None, given: float | None, where: str) -> float | None:
    """The clock a point ran at: the one its file or row states, else --clock-locked's; both, differing, an error."""
    if stated is not None and given is not None and float(stated) != float(given):
        raise UserError(f"{where} states a locked clock of {float(stated):g} MHz and --clock-locked {float(given):g}: "
                        "give one")
    return stated if stated is not None else given


def _own_models(docs: list[tuple]):
    """(file, the hardware model it says it was timed on) for each file, and each measured row, that names one
    attnsim has a model of (a device without one is what --hw is for)."""
    from gpu_models.loader import split_clock
    from validation.report import MEASURED_FORMAT, hardware_for, row_model

    for path, doc in docs:
        rows = doc["points"] if doc.get("format") == MEASURED_FORMAT else [None]
        for p in rows:
            try:
                yield path, split_clock(row_model(p) if p is not None else hardware_for(doc, None))[0]
            except UserError:
                continue


def _in_cycles(name: str) -> bool:
    from gpu_models.schema import dimension

    return dimension("gpu", name) == "cycles"


def _meaning(name: str) -> str:
    if name == "unfused_hbm_efficiency":
        return "HBM fraction the standard-attention kernels reach (GEMMs, softmax, mask build)"
    if name == "stream_overlap_loss":
        return ("how much longer than the larger of the two a fused prefill kernel runs when its compute and its HBM "
                "stream take equal time (0: the stream hidden behind the compute; 1: their sum); between, "
                "(C^p + S^p)^(1/p) with 2^(1/p) = 1 + this")
    if name == "cuda_core_issue_efficiency":
        return ("share of the SM's issue slots (one instruction per lane per clock) FlashInfer's CUDA-core decode loop "
                "fills (the timed build's decode.cuh, its instructions counted from its SASS)")
    if name == "unfused_strided_efficiency":
        return ("HBM fraction PyTorch's non-vectorized element-wise kernels reach (the layout copies of strided "
                "views, the add of a broadcast mask: CUDALoops.cuh gpu_kernel_impl_nocast)")
    if _in_cycles(name):
        return ("SM cycles a CTA loses at each work tile to the hand-offs between its warp roles (the next tile's "
                "first PV MMA waits for the correction warps to read O out of tensor memory)")
    if name.endswith("_softmax_exposed"):
        return "share of the softmax's time left exposed"
    if name == "mma_sync_efficiency":
        return ("achieved fraction of the mma.sync path's rate in attention tiles (the tensor peak, or "
                "mma_sync_flops_per_clk_sm where that is lower)")
    return "achieved MMA rate of attention tiles"


def fit_table(fits: list[Fit]) -> str:
    """The fits as a plain table for the terminal, 75 columns wide (77 with the strided figure): a line per target
    with the families fitted, then its figures, the first with the point count and the median |error|s: the fit's
    own, the same points' with every figure as the TOML writes them (``written``: after the other targets' fits
    moved the figures they share), and the leave-one-out median and maximum."""
    width = max([24] + [len(name) for f in fits for name in f.values])
    lines = ["median |predicted / measured - 1| of each target's points: fit (its own fit),",
             "written (every figure as the TOML writes them), LOO med / max (each left out)",
             "target: families",
             f"  {'figure':<{width}} {'value':>8}  {'n':>3}  {'fit':>6}  {'written':>7}  {'LOO med':>7}  {'LOO max':>7}"]
    for f in fits:
        lines.append(f"{f.target}: {','.join(f.families)}")
        written = f.median_abs_error if f.written_median_abs_error is None else f.written_median_abs_error
        for i, (name, value) in enumerate(f.values.items()):
            tail = (f"  {f.n:>3}  {f.median_abs_error:6.1%}  {written:7.1%}  {f.loo_median_abs_error:7.1%}  "
                    f"{f.loo_max_abs_error:7.1%}" if i == 0 else "")
            shown = f"{value:8.0f}" if _in_cycles(name) else f"{value:8.4f}"
            lines.append(f"  {name:<{width}} {shown}{tail}" + ("  held" if name in f.held else ""))
    return "\n".join(lines)
