"""Fit a GPU's attention-tile figures from published kernel timings (``attnsim calibrate --kernels``).

Two figures per tensor-core path (``mma_sync``, ``wgmma``, ``tcgen05``) that no datasheet publishes:
the MMA rate attention tiles achieve (``<path>_efficiency``) and the share of the softmax's time the
kernel's schedule leaves exposed (``<path>_softmax_exposed``). Both are fitted by least squares on
log(predicted / measured) over every point of the file whose kernel family runs on that path, with
everything else in the model left as it is. Each fit is printed with its leave-one-out error (each
point predicted by a fit made without it), and the TOML it writes cites the file and the command.
No per-shape constant and no factor on the result: the figures go into the per-tile cost only.
"""

import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from einsum_cascades.errors import UserError
from simulator.workload import Workload

FIT_FAMILIES = ("flash2", "flash3", "flash4", "flash-decoding", "flash1")  # fused kernels: per-tile costs
MIN_POINTS = 3  # a path with fewer points is not fitted (two figures need more than two numbers)
EFF_RANGE = (0.05, 1.0)
EXPOSED_RANGE = (0.0, 1.0)
_COARSE = (20, 11)  # grid points over efficiency and exposure before refining
_REFINE_ROUNDS = 5
_LOO_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class PathFit:
    """The fitted figures of one MMA path and how well they explain the points."""

    path: str
    efficiency: float
    exposed: float
    n: int
    median_abs_error: float  # of the fitted model on the fitting points
    loo_median_abs_error: float  # each point predicted by a fit that did not see it
    loo_max_abs_error: float
    families: tuple[str, ...]


def fit_kernels(doc: dict, hw) -> list[PathFit]:
    """One ``PathFit`` per MMA path of ``hw`` with at least MIN_POINTS fused-kernel points in ``doc``."""
    by_path: dict[str, list] = {}
    for point in _points(doc, hw):
        by_path.setdefault(point[3], []).append(point)
    fits = []
    for path, points in by_path.items():
        if len(points) >= MIN_POINTS:
            fits.append(_fit_path(hw, path, points))
    return fits


def _points(doc: dict, hw) -> list[tuple]:
    """(workload, family, measured seconds, MMA path) of every fused-kernel point ``hw`` can run."""
    from simulator.gpu_kernels import kernel_config
    from simulator.gpu_model import family_error

    out = []
    for p in doc.get("points", []):
        algo = p.get("algorithm")
        if algo not in FIT_FAMILIES or not p.get("measured_s") or not p.get("ok", True) or family_error(hw, algo):
            continue
        wl = Workload(**{k: p[k] for k in ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len",
                                           "kv_len", "causal", "dtype", "pattern", "sparsity") if p.get(k) is not None})
        out.append((wl, algo, float(p["measured_s"]), kernel_config(algo, hw, wl).tensor_path))
    return out


def _fit_path(hw, path: str, points: list) -> PathFit:
    eff, exposed = _minimise(hw, path, points, _grid_start(), _REFINE_ROUNDS)
    errors = _errors(hw, path, points, eff, exposed)
    loo = []
    for i in range(len(points)):
        rest = points[:i] + points[i + 1:]
        e, x = _minimise(hw, path, rest, _local_start(eff, exposed), _LOO_ROUNDS)
        loo.append(_errors(hw, path, [points[i]], e, x)[0])
    return PathFit(path, eff, exposed, len(points), statistics.median(map(abs, errors)),
                   statistics.median(map(abs, loo)), max(map(abs, loo)), tuple(sorted({p[1] for p in points})))


def _errors(hw, path: str, points: list, eff: float, exposed: float) -> list[float]:
    """predicted / measured - 1 of each point with the path's figures set to (eff, exposed)."""
    from simulator.api import evaluate

    spec = replace(hw, **{f"{path}_efficiency": eff, f"{path}_softmax_exposed": exposed})
    return [evaluate(spec, algo, wl).time_s / measured - 1.0 for wl, algo, measured, _ in points]


def _loss(hw, path, points, eff, exposed) -> float:
    return sum(math.log1p(e) ** 2 for e in _errors(hw, path, points, eff, exposed))


def _grid_start() -> tuple[list[float], list[float]]:
    return _span(*EFF_RANGE, _COARSE[0]), _span(*EXPOSED_RANGE, _COARSE[1])


def _local_start(eff: float, exposed: float) -> tuple[list[float], list[float]]:
    return _around(eff, 0.02, EFF_RANGE), _around(exposed, 0.04, EXPOSED_RANGE)


def _minimise(hw, path, points, grid, rounds: int) -> tuple[float, float]:
    """Grid search, then ``rounds`` finer 5 x 5 grids around the best point (the loss is smooth and has
    one valley in the two figures; a grid never leaves the allowed ranges)."""
    effs, exps = grid
    best = min(((e, x) for e in effs for x in exps), key=lambda ex: _loss(hw, path, points, *ex))
    step_e, step_x = _step(effs), _step(exps)
    for _ in range(rounds):
        effs, exps = _around(best[0], step_e, EFF_RANGE), _around(best[1], step_x, EXPOSED_RANGE)
        best = min(((e, x) for e in effs for x in exps), key=lambda ex: _loss(hw, path, points, *ex))
        step_e, step_x = step_e / 2, step_x / 2
    return best


def _span(low: float, high: float, n: int) -> list[float]:
    return [low + (high - low) * i / (n - 1) for i in range(n)]


def _step(values: list[float]) -> float:
    return (values[-1] - values[0]) / max(len(values) - 1, 1)


def _around(center: float, step: float, bounds: tuple[float, float]) -> list[float]:
    return sorted({min(max(center + k * step / 2, bounds[0]), bounds[1]) for k in (-2, -1, 0, 1, 2)})


def calibrate_kernels(results_paths: list[str], hw_name: str | None = None) -> tuple[dict, list[PathFit]]:
    """The bundled TOML of the files' GPU with every fitted path's two figures replaced, and the fits.
    The files' points are pooled; they must all be of one hardware model."""
    from simulator.api import hardware
    from validation.calibrate import bundled_toml
    from validation.report import hardware_for, load_results

    docs = [load_results(path) for path in results_paths]
    refs = {hardware_for(doc, hw_name) for doc in docs}
    if len(refs) > 1:
        raise UserError(f"calibrate --kernels fits one GPU at a time; the files are of {', '.join(sorted(refs))}")
    hw_ref = refs.pop()
    hw = hardware(hw_ref)
    if hw.kind != "gpu":
        raise UserError(f"calibrate --kernels fits GPUs; {hw.name} is an {hw.kind}")
    fits = fit_kernels({"points": [p for doc in docs for p in doc["points"]]}, hw)
    if not fits:
        names = ", ".join(Path(path).name for path in results_paths)
        raise UserError(f"{names}: fewer than {MIN_POINTS} fused-kernel points ({', '.join(FIT_FAMILIES)}) "
                        f"that run on {hw.name}: nothing to fit")
    toml = bundled_toml(hw_ref)
    command = "attnsim calibrate --kernels " + " ".join(results_paths)
    for fit in fits:
        how = (f"fitted by `{command}` ({fit.n} {'/'.join(fit.families)} points; leave-one-out median |error| "
               f"{fit.loo_median_abs_error:.1%}, max {fit.loo_max_abs_error:.1%})")
        toml[f"{fit.path}_efficiency"] = {"value": round(fit.efficiency, 4), "unit": "fraction",
                                          "source": f"{how}: achieved MMA rate of attention tiles"}
        toml[f"{fit.path}_softmax_exposed"] = {"value": round(fit.exposed, 4), "unit": "fraction",
                                               "source": f"{how}: share of the softmax's time left exposed"}
    return toml, fits


def fit_table(fits: list[PathFit]) -> str:
    """The fits as a plain table for the terminal."""
    lines = ["path      families                      n  efficiency  exposed  median|err|  LOO median  LOO max"]
    for f in fits:
        lines.append(f"{f.path:<9} {','.join(f.families):<28} {f.n:>3}  {f.efficiency:10.4f}  {f.exposed:7.4f}  "
                     f"{f.median_abs_error:11.1%}  {f.loo_median_abs_error:10.1%}  {f.loo_max_abs_error:7.1%}")
    return "\n".join(lines)

