"""The numpy oracle: run any cascade, iterative ranks included, in float64.

Each Einsum is evaluated over its whole iteration space with broadcasting index
grids (fine for the small sizes an oracle runs at); Einsums that walk the
iterative rank run step by step, in topological order within each step.
"""

import ast
import math

import numpy as np

from einsum_cascades.errors import UserError
from einsum_cascades.parser import CascadeParseError


def run(cascade, inputs: dict, extents: dict) -> dict:
    """Execute ``cascade`` on ``inputs`` (name -> array); returns every tensor by name."""
    missing = [t for t in cascade.inputs if t not in inputs]
    if missing:
        raise UserError(f"{cascade.name}: missing input {missing[0]!r}: the cascade reads {', '.join(cascade.inputs)}")
    env = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    ext = _extents(cascade, env, dict(extents))
    steps = {e.step_rank for e in cascade.einsums if e.step_rank}
    if len(steps) > 1:
        raise CascadeParseError(f"{cascade.name}: more than one iterative rank ({', '.join(sorted(steps))}) is not supported")
    step = steps.pop() if steps else None
    for e in cascade.einsums:  # loop-carried reads may come before their producer runs
        env[e.output] = _allocate(e, ext)
    loop = [e for e in cascade.einsums if step in e.vars] if step else []
    ancestors = _ancestors(cascade, loop)
    for e in cascade.einsums:
        if e not in loop and e.output in ancestors:
            _evaluate(e, env, ext, None)
    for t in range(ext[step.upper()] if step else 0):
        for e in loop:
            _evaluate(e, env, ext, (step, t))
    for e in cascade.einsums:
        if e not in loop and e.output not in ancestors:
            _evaluate(e, env, ext, None)
    return env


def _ancestors(cascade, loop) -> set:
    import networkx as nx

    out = set()
    for e in loop:
        out |= nx.ancestors(cascade.graph, e.output)
    return out - {e.output for e in loop}


def _extents(cascade, env: dict, ext: dict) -> dict:
    """Rank extents from input shapes, given values, and partitions (one unknown per partition)."""
    for e in cascade.einsums:
        for acc in e.reads:
            if acc.tensor in env:
                shape = env[acc.tensor].shape
                if len(shape) != len(acc.indices):
                    raise UserError(f"{cascade.name}: input {acc.tensor} has {len(shape)} dims, the cascade indexes {len(acc.indices)}")
                for size, idx in zip(shape, acc.indices):
                    if idx.kind == "var":
                        ext.setdefault(idx.value.upper(), size)
                    elif idx.kind == "affine":
                        _solve_partition(cascade, idx, size, ext)
    for e in cascade.einsums:
        for v in e.vars:
            if v.upper() not in ext:
                raise UserError(f"{cascade.name}: extent of rank {v!r} is unknown: pass {v.upper()}=N")
    return ext


def _solve_partition(cascade, idx, size: int, ext: dict) -> None:
    terms = [(v.upper(), strides) for v, strides in idx.value]
    unknown = [v for v, _ in terms if v not in ext]
    if len(unknown) > 1:
        raise UserError(f"{cascade.name}: partition {idx} needs all but one extent; give {', '.join(unknown[1:])}")
    if unknown:
        known = math.prod(ext[v] for v, _ in terms if v != unknown[0])
        if size % known:
            raise UserError(f"{cascade.name}: length {size} is not divisible by the partition {idx} ({known})")
        ext[unknown[0]] = size // known


def _grid(vars_: tuple, ext: dict, fixed) -> dict:
    n = len(vars_)
    grid = {}
    for axis, v in enumerate(vars_):
        values = np.array([fixed[1]]) if fixed and v == fixed[0] else np.arange(ext[v.upper()])
        shape = [1] * n
        shape[axis] = values.size
        grid[v] = values.reshape(shape)
    return grid


def _index_arrays(acc, grid: dict, ext: dict):
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
        else:
            out.append(sum(grid[v] * math.prod(ext[s] for s in strides) for v, strides in idx.value))
    return tuple(out)


def _evaluate(e, env: dict, ext: dict, fixed) -> None:
    vars_ = e.vars
    grid = _grid(vars_, ext, fixed)
    expr = e.line.expr
    reduce = np.max if isinstance(expr, ast.Call) and expr.func.id == "max" and len(expr.args) == 1 else np.sum
    if isinstance(expr, ast.Call) and len(expr.args) == 1 and expr.func.id in ("max", "sum"):
        expr = expr.args[0]
    value = np.broadcast_to(_value(expr, env, grid, ext), tuple(g.size for g in grid.values()))
    axes = tuple(i for i, v in enumerate(vars_) if v in e.reduced)
    if axes:
        value = reduce(value, axis=axes, keepdims=True)
    env[e.output][_index_arrays(e.line.output, grid, ext)] = value


def _allocate(e, ext: dict) -> np.ndarray:
    shape = []
    for idx in e.line.output.indices:
        size = ext[idx.value.upper()]
        shape.append(size + 1 if idx.kind == "next" else size)
    arr = np.zeros(shape)
    if e.init is not None:  # RM[0,p] = -inf: fill step 0 of the iterative rank
        step0 = tuple(0 if idx.kind == "const" else slice(None) for idx in e.init.output.indices)
        arr[step0] = _value(e.init.expr, {}, {}, ext)
    return arr


def _value(node, env, grid, ext):
    if isinstance(node, ast.BinOp):
        a, b = _value(node.left, env, grid, ext), _value(node.right, env, grid, ext)
        op = type(node.op)
        return a * b if op is ast.Mult else a + b if op is ast.Add else a - b if op is ast.Sub else a / b
    if isinstance(node, ast.UnaryOp):
        return -_value(node.operand, env, grid, ext)
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return math.inf
    if isinstance(node, ast.Subscript):
        from einsum_cascades.parser import _access, _Where

        acc = _access(node, _Where("", 0), left=False)
        return env[acc.tensor][_index_arrays(acc, grid, ext)]
    args = [_value(a, env, grid, ext) for a in node.args]
    name = node.func.id
    if name == "exp":
        return np.exp(args[0])
    if name == "elu1":
        return np.where(args[0] > 0, args[0] + 1.0, np.exp(np.minimum(args[0], 0.0)))
    if name == "max":
        return np.maximum(args[0], args[1])
    raise CascadeParseError(f"cannot execute {name}()")
