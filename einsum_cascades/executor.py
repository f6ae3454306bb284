"""The numpy oracle: run any cascade, iterative ranks included, in float64.

Each Einsum is evaluated over its whole iteration space with broadcasting index
grids (fine for the small sizes an oracle runs at). With an iterative rank the
cascade runs in three phases (``Cascade.phases``): the Einsums it does not need
from the loop, then the loop body once per step with the step rank fixed, then
the Einsums that need every step (final reads such as ``RNV[f,M1,p]``).
"""

import math

import numpy as np

from einsum_cascades.errors import UserError, listed
from einsum_cascades.parser import Access, Num, Rank

# The oracle evaluates an Einsum over its whole iteration space at once: bound that space (memory: 8 bytes an
# element, a few arrays of it live at once) and the elements evaluated over every step (time).
MAX_SPACE = 1 << 24  # elements of one Einsum's iteration space or one tensor: 128 MiB of float64
MAX_WORK = 1 << 28  # elements evaluated over the whole run (tens of seconds of numpy)

_ELEMENTWISE = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "max": np.maximum,
                "neg": np.negative, "exp": np.exp, "sigmoid": lambda x: 0.5 * np.tanh(0.5 * x) + 0.5, "tanh": np.tanh}


def run(cascade, inputs: dict, extents: dict) -> dict:
    """Execute ``cascade`` on ``inputs`` (name -> array); returns every tensor by name."""
    missing = [t for t in cascade.inputs if t not in inputs]
    if missing:
        raise UserError(f"{cascade.name}: missing input {missing[0]!r}: the cascade reads {listed(cascade.inputs)}")
    env = {k: np.asarray(inputs[k], dtype=np.float64) for k in cascade.inputs}
    ext = _extents(cascade, env, extents)
    _check_size(cascade, ext)
    for e in cascade.einsums:  # every output exists up front: loop-carried reads precede their producer
        env[e.output] = _allocate(e, ext)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # inf/nan are results, not errors
        for step_rank, phase in _schedule(cascade):
            steps = range(ext[step_rank.upper()]) if step_rank else [None]
            for step in steps:
                for e in phase:
                    _evaluate(e, env, ext, (step_rank, step) if step_rank else None)
    return env


def _check_size(cascade, ext: dict) -> None:
    """UserError when one Einsum's iteration space (or the run's total) is past what the oracle can hold."""
    step = {r.upper() for r in cascade.step_ranks()}
    work = 0
    for e in cascade.einsums:
        ranks = {v.upper() for v in e.vars}
        space = math.prod(ext[r] for r in ranks - step)
        work += space * math.prod(ext[r] for r in ranks & step)
        if space > MAX_SPACE:
            sizes = ", ".join(f"{r}={ext[r]}" for r in sorted(ranks - step))
            raise UserError(f"{cascade.name}: Einsum {e.output} spans {space:,} elements ({sizes}); the numpy oracle "
                            f"holds at most {MAX_SPACE:,} (2**24): use smaller sizes")
    if work > MAX_WORK:
        raise UserError(f"{cascade.name}: the run evaluates {work:,} elements; the numpy oracle does at most "
                        f"{MAX_WORK:,} (2**28): use smaller sizes")


def _schedule(cascade) -> list[tuple[str | None, list]]:
    """[(step rank or None, Einsums)] in execution order."""
    ranks = cascade.step_ranks()
    if not ranks:
        return [(None, cascade.einsums)]
    if len(ranks) > 1:
        raise UserError(f"{cascade.name}: the executor runs one iterative rank, this cascade has {listed(ranks)}")
    before, inside, after = cascade.phases()
    return [(None, before), (ranks[0], inside), (None, after)]


def _extents(cascade, env: dict, given: dict) -> dict:
    """Rank extents (upper-case names) from the given values and the input shapes; partitions solved."""
    ranks = {v.upper() for e in cascade.einsums for v in e.vars}
    unknown = sorted(set(given) - ranks)
    if unknown:
        raise UserError(f"{cascade.name}: unknown extent {unknown[0]!r}: its ranks are {listed(sorted(ranks))}")
    bad = next((k for k, v in given.items() if not (isinstance(v, (int, np.integer)) and v > 0)), None)
    if bad:
        raise UserError(f"{cascade.name}: extent {bad}={given[bad]!r} must be a positive integer")
    ext = {k: int(v) for k, v in given.items()}
    origin = {k: "the given extents" for k in ext}
    for acc in (a for e in cascade.einsums for a in e.reads if a.tensor in cascade.inputs):
        shape = env[acc.tensor].shape
        if len(shape) != len(acc.indices):
            raise UserError(f"{cascade.name}: input {acc.tensor} has {len(shape)} dimensions, the cascade reads {acc}")
        for size, idx in zip(shape, acc.indices):
            if idx.kind != "const":
                _fix(cascade, acc.tensor, idx, size, ext, origin)
    missing = sorted(ranks - set(ext))
    if missing:
        raise UserError(f"{cascade.name}: the extent of rank {missing[0].lower()} is unknown: give it in an "
                        f"'# extents:' line (e.g. # extents: {missing[0]}=4)")
    return ext


def _fix(cascade, tensor: str, idx, size: int, ext: dict, origin: dict) -> None:
    """Record what one input dimension says about extents (and where it came from); a conflict is a ``UserError``."""
    terms = [v.upper() for v in idx.vars()]
    unknown = [v for v in terms if v not in ext]
    if len(unknown) > 1:
        raise UserError(f"{cascade.name}: {tensor}[{idx}] leaves {' and '.join(unknown)} open: give all but one, "
                        f"e.g. {unknown[-1]}=4")
    known = math.prod(ext[v] for v in terms if v not in unknown)
    if unknown and size % known:
        given = "*".join(f"{v}={ext[v]}" for v in terms if v not in unknown)
        raise UserError(f"{cascade.name}: {tensor} has length {size} along {idx}, not a multiple of {given}")
    if unknown:
        ext[unknown[0]], origin[unknown[0]] = size // known, tensor
    elif known != size:
        sources = " and ".join(dict.fromkeys(origin[v] for v in terms))
        setting = ", ".join(f"{v}={ext[v]}" for v in terms) + (f" ({known} in all)" if len(terms) > 1 else "")
        raise UserError(f"{cascade.name}: {tensor} has length {size} along {idx}, but {sources} set {setting}")


def _grid(vars_: tuple, ext: dict, fixed) -> dict:
    """rank -> index array shaped to broadcast along its own axis of the iteration space."""
    grid = {}
    for axis, v in enumerate(vars_):
        values = np.array([fixed[1]]) if fixed and v == fixed[0] else np.arange(ext[v.upper()])
        shape = [1] * len(vars_)
        shape[axis] = values.size
        grid[v] = values.reshape(shape)
    return grid


def _index_arrays(acc: Access, grid: dict, ext: dict) -> tuple:
    out = []
    for idx in acc.indices:
        if idx.kind == "var":
            out.append(grid[idx.value])
        elif idx.kind == "next":
            out.append(grid[idx.value] + 1)
        elif idx.kind == "final":
            out.append(np.array(ext[idx.value]))
        elif idx.kind == "const":
            out.append(np.array(idx.value))
        else:  # partition m1*M0 + m0
            out.append(sum(grid[v] * math.prod(ext[s] for s in strides) for v, strides in idx.value))
    return tuple(out)


def _evaluate(e, env: dict, ext: dict, fixed) -> None:
    """Compute one Einsum over its iteration space (the step rank pinned to one value when ``fixed``)."""
    grid = _grid(e.vars, ext, fixed)
    try:
        value = np.broadcast_to(_value(e.line.expr, env, grid, ext), tuple(g.size for g in grid.values()))
    except IndexError:  # a fixed position past a rank's extent (A[2,m,p] of two maps)
        raise UserError(f"{e.output}: {_past_extent(e, env)} in {e.text!r}") from None
    axes = tuple(i for i, v in enumerate(e.vars) if v in e.reduced)
    if axes:
        value = (np.max if e.reduction == "max" else np.sum)(value, axis=axes, keepdims=True)
    try:
        env[e.output][_index_arrays(e.line.output, grid, ext)] = value
    except IndexError:  # a fixed position past a rank's extent (A[2,m,p] of two maps)
        raise UserError(f"{e.output}: {_past_extent(e, env)} in {e.text!r}") from None


def _past_extent(e, env: dict) -> str:
    """Which fixed index of the Einsum lies past its axis (Q[99999,p] of 16 features), for the refusal's message."""
    for acc in (*e.reads, e.line.output):
        shape = env[acc.tensor].shape if acc.tensor in env else ()
        for axis, idx in enumerate(acc.indices):
            if idx.kind == "const" and axis < len(shape) and not 0 <= idx.value < shape[axis]:
                return (f"index {idx.value} of {acc.tensor}'s axis {axis + 1} is past its extent, {shape[axis]} "
                        f"at this size (0..{shape[axis] - 1})")
    return "an index is past the extent of its rank"


def _allocate(e, ext: dict) -> np.ndarray:
    """The output array (one extra step along an iterative rank), with its initial step filled."""
    shape = [math.prod(ext[v.upper()] for v in idx.vars()) + (idx.kind == "next") for idx in e.line.output.indices]
    arr = np.zeros(shape)
    if e.init is not None:  # RM[0,p] = -inf: fill step 0 of the iterative rank
        step0 = tuple(0 if idx.kind == "const" else slice(None) for idx in e.init.output.indices)
        arr[step0] = _value(e.init.expr, {}, {}, ext)
    return arr


def _value(node, env: dict, grid: dict, ext: dict):
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Rank):
        return float(ext[node.name]) if node.is_extent else grid[node.name].astype(np.float64)
    if isinstance(node, Access):
        return env[node.tensor][_index_arrays(node, grid, ext)]
    args = [_value(a, env, grid, ext) for a in node.args]
    if node.name == "elu1":  # elu(x) + 1: x + 1 above zero, exp(x) below
        return np.where(args[0] > 0, args[0] + 1.0, np.exp(np.minimum(args[0], 0.0)))
    return _ELEMENTWISE[node.name](*args)

