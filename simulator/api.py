"""The Python API the CLI is a thin shell over.

>>> from simulator import simulate
>>> row = simulate(hw="h100", algo="flash2", seq_len=32768, sparsity=0.9)   # doctest: +SKIP
>>> row["speedup"], row["bound"]                                             # doctest: +SKIP
"""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from itertools import repeat
from operator import methodcaller

from simulator._numpy import np

from einsum_cascades.errors import UserError
from simulator.capacity import cannot_fit, column_marks, mark_columns, mark_rows
from simulator import tiles as tile_source
from simulator.columns import SIZE_FIELDS, workload_columns
from simulator.decisions import decisions
from simulator.gpu_kernels import GPU_FAMILIES
from simulator.gpu_model import COLUMN_FAMILIES, simulate_gpu
from simulator.gpu_model import family_error as gpu_family_error
from simulator.limits import Unsupported, check_kernel
from simulator.result import Result
from simulator.algorithms import ACCEL_FAMILIES, Algorithm, chunk_error, resolve
from simulator.gpu_kernels import fa2_splits, fa4_layout_key
from simulator.kernel_configs import current_fa3_build
from simulator.layer import check_scope, with_layer
from simulator.splits import FA4_DECODE_ROWS, fa3_column_pack
from simulator.workload import HEAD_DIM_MULTIPLE, Workload

ALGORITHMS = GPU_FAMILIES + ACCEL_FAMILIES
WORKLOAD_FIELDS = ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len", "kv_len", "causal", "dtype",
                   "pattern", "sparsity", "block_size", "scope", "estimate")
DEFAULTS = {f.name: f.default for f in fields(Workload)}
DENSE_PATTERNS = (None, "", "none", "dense", "full")  # what Workload reads as "no pattern"
_NONE = type(None)
_METHOD = methodcaller("get", "method")  # a point's method: run_points asks every point (map: no generator)
_MASKING = frozenset(("causal", "sparsity", "pattern", "estimate"))  # the fields _masked reads


@lru_cache(maxsize=64)
def hardware(name: str):
    """A bundled machine by name, or a user's TOML by path (cached)."""
    from gpu_models import load_hardware

    return load_hardware(name)


def default_algorithm(hw) -> str:
    """The best kernel family for the machine (DESIGN: flash4 on Blackwell, flash3 on Hopper, flash2 before;
    fusemax / flat)."""
    if hw.kind == "accelerator":
        return "fusemax" if "max" in hw.pe2d_ops else "flat"
    arch = int(hw.arch[3:].rstrip("a"))
    return "flash4" if arch >= 100 else "flash3" if arch >= 90 else "flash2"


def default_baseline(hw, algo: str, wl: Workload) -> tuple[str, Workload]:
    """Dense run of the same algorithm for sparse workloads (no estimate), else the machine's unfused baseline."""
    if algo.startswith("nsa-select"):  # a selection kernel has no dense run: dense FlashAttention at its own tiles
        return default_algorithm(hw), dense(wl, block_size=False)
    if wl.is_sparse:
        return algo, dense(wl)
    return ("naive" if hw.kind == "gpu" else "unfused"), wl


@lru_cache(maxsize=4096)
def dense(wl, block_size=True) -> Workload:
    """The call without its mask, sparsity target and estimate (and its tile when ``block_size`` is False)."""
    return replace(wl, pattern=None, sparsity=0.0, estimate=None, block_size=wl.block_size if block_size else None)


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
    from gpu_models.loader import bundled_names

    algo, at, machine = text.rpartition("@")
    if at and (machine.lower() in bundled_names() or machine.endswith(".toml")):
        return algo, machine
    return text, ""


def resolve_algorithm(hw, algo: str) -> Algorithm:
    """``algo`` as the family that runs and the cascade it runs (simulator.algorithms)."""
    return resolve(hw, algo, ALGORITHMS, default_algorithm(hw))


def evaluate(hw, algo: str, wl: Workload, timed: bool = True) -> Result:
    """One algorithm (a family, or a cascade @ a mapping) on one machine for one workload; ``timed`` False: the
    caller shows no time (the point cannot fit the machine's memory), so a single-pass fused kernel skips
    scheduling its CTAs and its time is NaN (every other field as when timed)."""
    if algo in ALGORITHMS:
        return _evaluate(hw, Algorithm(algo, None, algo), wl, timed)
    if _bundled_cascade(algo):
        return _evaluate(hw, resolve_algorithm(hw, algo), wl, timed)
    from einsum_cascades.library import pinned_versions

    with pinned_versions():  # a cascade file is looked at once per evaluation
        return _evaluate(hw, resolve_algorithm(hw, algo), wl, timed)


@lru_cache(maxsize=256)
def _bundled_cascade(algo: str) -> bool:
    """Whether ``algo`` names a bundled cascade (optionally @MAPPING): no file to look at."""
    from einsum_cascades.library import cascade_names

    return (algo.rpartition("@")[0] if "@" in algo else algo) in cascade_names()


def _evaluate(hw, spec: Algorithm, wl: Workload, timed: bool) -> Result:
    check_kernel(hw, spec.family, wl)
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


def simulate(hw="h100", algo: str | None = None, baseline: str | None = None, **workload) -> dict:
    """Predict one point and its speedup over the baseline; returns a row (see ``to_row``)."""
    spec = hardware(hw) if isinstance(hw, str) else hw
    wl = Workload(**workload)
    algo = algo or default_algorithm(spec)
    result = evaluate(spec, algo, wl, timed=not cannot_fit(spec, wl))  # mark_rows empties the time of one that cannot
    if baseline:
        base_algo, base_hw = split_baseline(baseline)
        base_spec = hardware(base_hw) if base_hw else spec
        # a sparse call's named baseline runs dense at its own tiles (--block-size is the sparse kernel's)
        base_wl = dense(wl, block_size=False) if wl.is_sparse else wl
        base, why = _baseline(base_spec, base_algo, base_wl)
    else:
        base_spec = spec
        base, why = _baseline(spec, *default_baseline(spec, algo, wl), name=hw if isinstance(hw, str) else None)
    row = {**to_row(result, base, why), **decisions(spec, result)}
    return mark_rows([row], spec, result, base_spec, base)[0]


def _baseline(spec, algo: str, wl, name: str | None = None) -> tuple[Result | None, str | None]:
    """The baseline's result, or None and why when that kernel cannot run the workload (no speedup then);
    ``name``: the machine's name, so the sparse points of a sweep share their cached dense baseline."""
    try:
        return (_named_evaluate(name, algo, wl, current_fa3_build()) if name else evaluate(spec, algo, wl)), None
    except Unsupported as err:
        return None, f"no baseline: {err}"


@lru_cache(maxsize=4096)
def _named_evaluate(hw_name: str, algo: str, wl: Workload, fa3_build: str) -> Result:
    """``evaluate`` on a bundled or file machine named ``hw_name``, cached: the sparse points of a sweep share
    their dense baseline (``fa3_build``: the build the result was predicted as, kernel_configs.fa3_build)."""
    return evaluate(hardware(hw_name), algo, wl)


# points of one call from which run_points imports numpy to group the dense ones and evaluate them as columns:
# below it the scalar path (about 0.3-0.5 ms a point on the development machine) costs less than numpy's import
# (0.1-0.3 s), and a dense `attnsim simulate` never imports it
COLUMNS_FROM = 64


def run_points(points, **defaults) -> list[dict]:
    """Evaluate many points (dicts of DESIGN column names) in input order.

    Dense GPU points that share hardware, algorithm, baseline, head dim and
    dtype are evaluated together over columns of sizes (the same model code,
    see ``simulator.columns``); every other point one at a time. On bad input
    the error is the one a point-by-point run raises, though not necessarily
    for the first bad point (callers that must name the row re-run one by one).
    """
    rows = [None] * len(points)
    methods = {}
    if defaults.get("method") or any(map(_METHOD, points)):
        points, methods = _with_methods(points, defaults)
    if len(points) >= COLUMNS_FROM or len(points) > 1 and "numpy" in sys.modules:
        groups, alone = _column_groups(points, defaults)
    else:  # every point on the scalar path: a few cost less than importing numpy, or than grouping one
        groups, alone = [], range(len(points))
    alone = {i: _merged(points[i], defaults) for i in alone}
    # the points' plain --sparsity values: a large grid lowers them together (simulator.tiles)
    tile_source.expect_sparsities(p["sparsity"] for p in alone.values() if "sparsity" in p
                                  and type(p["sparsity"]) is float and p["sparsity"] > 0 and not p.get("pattern"))
    try:
        for i, merged in alone.items():
            rows[i] = _simulate_point(merged)
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
        for i, name in methods.items():
            rows[i]["method"] = name
        return rows


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


def _with_methods(points, defaults) -> tuple[list, dict]:
    """Points whose method (their own or the command line's) fills what they leave out, before the command line's
    values; and each such point's method by index."""
    from simulator.methods import with_method

    out, methods = [], {}
    for i, point in enumerate(points):
        name = point.get("method") or defaults.get("method")
        if name:
            methods[i] = name
            point = with_method(name, defaults, point)
        out.append(point)
    return out, methods


def _merged(point: dict, defaults: dict) -> dict:
    """The point as the model reads it: its values other than None (None: not given) over the call's defaults.
    A point without a None is used as it is (nothing changes a point): copying every point costs more than
    looking at their values' types (the type, as a value's == may not say whether it is None)."""
    given = point if _NONE not in map(type, point.values()) else {k: v for k, v in point.items() if v is not None}
    return {**defaults, **given} if defaults else given


def _simulate_point(merged: dict) -> dict:
    return simulate(merged.get("hardware", "h100"), merged.get("algorithm"), merged.get("baseline"),
                    **{k: merged[k] for k in WORKLOAD_FIELDS if k in merged})


# fields that masked points may differ in and still share work: the mask lowered for their shape (every --sparsity
# at once) and, where their tiles agree, its schedules (H100 and H200 give identical makespans; a larger batch
# continues a smaller one's)
_SHARE_FREE = frozenset(("hardware", "baseline", "batch", "heads", "kv_heads", "sparsity"))


def share_key(point: dict) -> tuple | None:
    """Points with equal keys are worth evaluating together, in one ``run_points`` call (see _SHARE_FREE). None
    for a point without a mask or an estimate: it lowers nothing, and shares at most a columns evaluation with
    its neighbours in input order."""
    if not _masked(point):
        return None
    return tuple(sorted((k, repr(v)) for k, v in point.items() if k not in _SHARE_FREE))


def _masked(p: dict) -> bool:
    """Whether a point has a mask (causal, a pattern, a sparsity) or an estimate: never evaluated over columns."""
    get = p.get
    return _has_mask(get("causal"), get("sparsity"), get("pattern"), get("estimate"))


def _has_mask(causal, sparsity, pattern, estimate) -> bool:
    """``_masked`` of a point's four fields."""
    return bool(causal or sparsity or pattern not in DENSE_PATTERNS or estimate)


def _column_groups(points: list[dict], defaults: dict) -> tuple[list[tuple], list[int]]:
    """The dense GPU points that can be evaluated together: for each group, in order of first appearance, its plan,
    its points' indices and their size columns (by SIZE_FIELDS name); and the indices of the other points, in
    input order (evaluated one at a time, every masked one among them). The points are read a field at a time
    (``_Fields``) and checked a column at a time: each distinct set of names and head dims is planned once
    (``_column_plan``), and its points are split by kernel layout (``ColumnPlan.split``)."""
    if not points:
        return [], []
    index, alone = list(range(len(points))), []
    fields = _Fields(points, defaults)
    for check in (_unmasked, _typed):
        keep = check(fields)
        if not all(keep):
            alone += [i for i, k in zip(index, keep) if not k]
            index = [i for i, k in zip(index, keep) if k]
            fields = _Fields([points[i] for i in index], defaults)
    if not index:
        return [], sorted(alone)
    sizes = {name: fields.ints(name) for name in SIZE_FIELDS}
    sizes["kv_heads"] = np.where(sizes["kv_heads"] == 0, sizes["heads"], sizes["kv_heads"])  # not given: the heads
    sizes["kv_len"] = np.where(sizes["kv_len"] == 0, sizes["seq_len"], sizes["kv_len"])  # not given: the queries
    solo = ~_valid(**sizes)  # bad sizes go alone, so Workload names the bad value
    groups = []
    for positions in _split_by(fields.codes(_NAME_FIELDS)):
        plan = _plan(tuple(fields[name][positions[0]] for name in _NAME_FIELDS))
        if plan is None:
            solo[positions] = True
            continue
        positions = positions[~solo[positions]]
        split, kernels = plan.split({name: column[positions] for name, column in sizes.items()})
        solo[positions[split]] = True
        groups += [(plan, positions[members]) for members in kernels]
    index = np.array(index, dtype=np.int64)
    groups.sort(key=lambda group: group[1][0])
    return ([(plan, index[members].tolist(), {name: column[members] for name, column in sizes.items()})
             for plan, members in groups], sorted(alone + index[solo].tolist()))


class _Fields(dict):
    """The fields of many points as ``_merged`` has them (the point's value unless it is None, else the call's
    default, else ``_UNGIVEN``'s), a column (list) a field, read on first use. One field of every point is one
    pass in C (a map); one that no point gives holds one value for every point, and is not read (not
    ``varying``)."""

    def __init__(self, points: list[dict], defaults: dict):
        super().__init__()
        self.points, self.defaults = points, defaults
        self.given = set().union(*points)  # the fields some point gives
        self.varying = set()  # the fields read from the points (or from one that is)
        self._types, self._ints = {}, {}
        self._same = {}  # field -> the field whose column it is (a value head dim not given: the head dim)

    def __missing__(self, name: str) -> list:
        default = self.defaults.get(name, _UNGIVEN[name])
        if name in self.given:
            column = list(map(dict.get, self.points, repeat(name)))
            self._types[name] = types = set(map(type, column))
            if _NONE in types:  # not given, or None
                column = [default if value is None else value for value in column]
                self._types.pop(name, None)
            self.varying.add(name)
        else:
            column = [default] * len(self.points)
        if name == "v_head_dim":  # not given (or 0): the head dim
            if name in self.varying:
                column = [v or d for v, d in zip(column, self["head_dim"])]
                self._types.pop(name, None)
            elif not default:
                column, self._same[name] = self["head_dim"], "head_dim"
                if "head_dim" in self.varying:
                    self.varying.add(name)
        self[name] = column
        return column

    def source(self, name: str) -> str:
        """The field whose column is this one's (itself, or the head dim for a value head dim not given)."""
        self[name]  # read: reading tells
        return self._same.get(name, name)

    def types(self, name: str) -> set:
        """The types of a field's values."""
        name = self.source(name)
        if name not in self._types:
            column = self[name]
            self._types[name] = set(map(type, column if name in self.varying else column[:1]))
        return self._types[name]

    def ints(self, name: str):
        """A field of ints as an int64 column (OverflowError if one is out of its range)."""
        name = self.source(name)
        if name not in self._ints:
            column = self[name]
            self._ints[name] = np.array(column, dtype=np.int64) if name in self.varying \
                else np.full(len(column), column[0], dtype=np.int64)
        return self._ints[name]

    def codes(self, names: tuple):
        """Each point's code by its values of these fields (equal values, equal codes: ``_combined``)."""
        ids = []
        for name in dict.fromkeys(map(self.source, names)):
            if name in self.varying:  # ints already checked and converted (sizes, head dims) are their own ids
                ids.append(self._ints[name] if name in self._ints and self._ints[name].min() >= 0 else _ids(self[name]))
        return _combined(ids, len(self.points))


def _unmasked(fields: _Fields) -> list[bool]:
    """Whether each point has neither a mask nor an estimate (see ``_masked``)."""
    columns = [fields[name] for name in ("causal", "sparsity", "pattern", "estimate")]
    if fields.given.isdisjoint(_MASKING):  # the same for every point
        return [not _has_mask(*(column[0] for column in columns))] * len(fields.points)
    return [not masked for masked in map(_has_mask, *columns)]


def _typed(fields: _Fields) -> list[bool]:
    """Whether each point's sizes and head dims are ints that numpy takes as they are (int64) and its tile an int or
    None: one look at each field's types (and its int64 column) when all are."""
    keep = [True] * len(fields.points)
    for name in (*SIZE_FIELDS, "head_dim", "v_head_dim"):
        if not _int64s(fields, name):
            keep = [k and type(v) is int and v in _INT64 for k, v in zip(keep, fields[name])]
    if not fields.types("block_size") <= {int, _NONE}:
        keep = [k and (b is None or type(b) is int) for k, b in zip(keep, fields["block_size"])]
    return keep


def _int64s(fields: _Fields, name: str) -> bool:
    """Whether a field's values are all ints (not bools) within int64's range."""
    if fields.types(name) != {int}:
        return False
    try:
        fields.ints(name)
    except OverflowError:
        return False
    return True


def _valid(batch, heads, kv_heads, seq_len, kv_len):
    """Which points (columns of sizes) have positive sizes and heads a multiple of their KV heads."""
    positive = (batch > 0) & (heads > 0) & (kv_heads > 0) & (seq_len > 0) & (kv_len > 0)
    return positive & (heads % np.where(positive, kv_heads, 1) == 0)


def _plan(names: tuple):
    """``_column_plan`` of these names, None if its value head dim is no multiple of HEAD_DIM_MULTIPLE or a name
    is unhashable (such points are evaluated alone, which names the bad value)."""
    if names[4] % HEAD_DIM_MULTIPLE:
        return None
    try:
        return _column_plan(*names)
    except TypeError:
        return None


def _ids(values: list):
    """Each value's id, 0, 1, ... in order of first appearance (equal values, equal ids; an unhashable value one of
    its own): two passes in C."""
    try:
        ids = {value: k for k, value in enumerate(dict.fromkeys(values))}
        return np.fromiter(map(ids.__getitem__, values), dtype=np.int64, count=len(values))
    except TypeError:
        ids = {}
        return np.array([ids.setdefault(value if _hashable(value) else object(), len(ids)) for value in values],
                        dtype=np.int64)


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _combined(ids: list, n: int):
    """One code per point from several columns of ids (non-negative ints, ``_ids``): equal ids in every column,
    equal codes; below n (renumbered where the columns' ids together would reach past it)."""
    codes, span = np.zeros(n, dtype=np.int64), 1
    for column in ids if n else ():
        width = int(column.max()) + 1
        codes, span = codes * width + column, span * width
        if span > n:
            codes = np.unique(codes, return_inverse=True)[1].reshape(-1)
            span = int(codes.max()) + 1
    return codes


def _split_by(codes) -> list:
    """The positions of each code (non-negative ints: ``_combined``), in input order, the codes in increasing order
    (``_column_groups`` puts the groups back in order of first appearance)."""
    if not len(codes):
        return []
    order = np.argsort(codes.astype(np.min_scalar_type(codes.max())), kind="stable")  # a radix sort below 2**16
    counts = np.bincount(codes)
    return np.split(order, np.cumsum(counts[counts > 0])[:-1])


_SEQ_LEN, _HEAD_DIM, _BATCH, _HEADS = DEFAULTS["seq_len"], DEFAULTS["head_dim"], DEFAULTS["batch"], DEFAULTS["heads"]
_DTYPE, _SCOPE = DEFAULTS["dtype"], DEFAULTS["scope"]
# the value of each field _column_groups reads where neither a point nor the call gives one (0: no KV heads or
# KV length given)
_UNGIVEN = dict(hardware="h100", algorithm=None, baseline=None, head_dim=_HEAD_DIM, v_head_dim=None, dtype=_DTYPE,
                block_size=None, scope=_SCOPE, batch=_BATCH, heads=_HEADS, kv_heads=0, seq_len=_SEQ_LEN, kv_len=0,
                causal=None, sparsity=None, pattern=None, estimate=None)
_INT64 = range(-1 << 63, 1 << 63)
_NAME_FIELDS = ("hardware", "algorithm", "baseline", "head_dim", "v_head_dim", "dtype", "block_size", "scope")


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """What the dense points of one machine, algorithm, baseline, head dims, dtype, tile and scope share:
    ``names`` (the algorithm resolved), the machine's arch, whether the points' layout depends on their sizes
    (FA3's and FA4's), whether the algorithm or its baseline is FA2's or Flash-Decoding's (their one-query GQA
    layout is decided point by point) and the machines of its ``flash2`` calls (their kernel, split-KV or not,
    follows FA2's split heuristic point by point)."""

    names: tuple  # (hardware, algorithm, baseline, head_dim, dtype, block_size, v_head_dim, scope)
    arch: str
    gqa_layouts: bool
    fa2: bool
    split_machines: tuple

    def split(self, sizes: dict) -> tuple:
        """Of points of this plan with these size columns (valid ones, by SIZE_FIELDS name): which go alone (a bool
        column: FA2's one-query calls, FA3's and FA4's decode calls), and the positions of the others by the
        kernel they run (FA2's split-KV kernel or its regular one, FA3's GQA packing, FA4's layout key)."""
        alone = sizes["seq_len"] == 1 if self.fa2 else np.zeros(len(sizes["seq_len"]), dtype=bool)
        together = np.flatnonzero(~alone)
        part = {name: column[together] for name, column in sizes.items()}
        kernels = [self._splits(part, machine) for machine in self.split_machines]
        if self.gqa_layouts:  # None: a decode call, which may split its KV range
            kernels.append(self.layouts(part["seq_len"], part["heads"], part["kv_heads"]))
        groups = []
        ids = [kernel.astype(np.int64) if kernel.dtype == bool else _ids(kernel.tolist()) for kernel in kernels]
        for members in _split_by(_combined(ids, len(together))):
            if self.gqa_layouts and kernels[-1][members[0]] is None:
                alone[together[members]] = True
            else:
                groups.append(together[members])
        return alone, groups

    def _splits(self, sizes: dict, machine: str):
        """Whether FA2's heuristic splits the KV range of each point of these size columns on ``machine``; none
        where a size is out of range (the points then run one by one)."""
        _, _, _, head_dim, dtype, block, v_head_dim, scope = self.names
        wl = workload_columns(head_dim, dtype, block, v_head_dim, scope, **sizes)
        return np.zeros(len(sizes["seq_len"]), dtype=bool) if wl is None else fa2_splits(hardware(machine), wl) > 1

    def layouts(self, seq_len, heads, kv_heads):
        """FA3's GQA packing or FA4's layout key of each point of these size columns, None for a decode call
        (which may split its KV range: evaluated alone)."""
        _, algo, _, head_dim, _, block, v_head_dim, scope = self.names
        if algo == "flash3":
            return fa3_column_pack(self.arch, head_dim, block, seq_len, heads, kv_heads, scope)
        group = heads // kv_heads
        long = seq_len * group > FA4_DECODE_ROWS
        keys = np.full(len(seq_len), None, dtype=object)
        keys[long] = fa4_layout_key(head_dim, v_head_dim, seq_len[long], group[long])
        return keys


@lru_cache(maxsize=1024)
def _column_plan(hw_name, algo, baseline, head_dim: int, v_head_dim: int, dtype, block, scope) -> ColumnPlan | None:
    """The plan of dense points of these names and head dims when they and their baseline run on columns; None
    otherwise (or on bad input)."""
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
                      tuple(machine for family, machine in calls if family == "flash2"))


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
    record = {**to_row(result, base, why), **decisions(spec, result), **column_marks(spec, result, base_spec, base, n)}
    return record, mark_columns(record, spec, result, base_spec, base, n)


def to_row(r: Result, base: Result | None, note: str | None = None) -> dict:
    """The JSON/CSV record of one point (keys as DESIGN.md lists them, plus a few more); ``base`` None: the
    baseline cannot run, ``note`` says why, and the speedup is empty."""
    wl = r.workload
    if base is None:
        return {**to_row(r, r), "baseline": None, "baseline_time_s": None, "speedup": None,
                "baseline_energy_j": None, "note": note}
    return {
        "hardware": r.hardware, "algorithm": r.algorithm,
        "baseline": base.algorithm if base.hardware == r.hardware else f"{base.algorithm}@{base.hardware}",
        "batch": wl.batch, "heads": wl.heads, "kv_heads": wl.kv_heads, "head_dim": wl.head_dim,
        "v_head_dim": wl.v_head_dim,
        "seq_len": wl.seq_len, "kv_len": wl.kv_len, "causal": wl.causal, "dtype": wl.dtype, "scope": wl.scope,
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


def to_rows(tables: list[tuple]) -> tuple[list, list[dict]]:
    """The rows of groups of points evaluated over columns, as (indices, rows) in index order: ``tables`` holds
    each group's point indices (increasing), its record (``_simulate_columns``: ``to_row``'s keys, then its
    extras, values columns or one for every point) and the points that do not fit. Each row copies its group's
    record, in its key order and with the values its points share, then takes its other values from the groups'
    columns joined in index order (so does its utilization): rows and values are made in the order a caller
    frees them in, which costs a third of freeing them interleaved, group by group."""
    if not tables:
        return [], []
    indices = np.concatenate([members for members, _, _ in tables])
    order = np.argsort(indices, kind="stable")  # index order -> position among the groups' points
    counts = [len(members) for members, _, _ in tables]
    group = np.repeat(np.arange(len(tables)), counts)[order].tolist()
    records = [dict(record) for _, record, _ in tables]
    # rebuilt from its plain values, a utilization template is one the garbage collector does not track, nor
    # its copies: it never walks the points' utilizations (it still walks the rows that hold them)
    units = [{unit: value for unit, value in record["utilization"].items()} for record in records]
    for record in records:
        record["utilization"] = None  # set from ``units`` once built
    rows = []  # a chunk of rows, then their utilizations: made together, they are freed together
    for chunk, used_chunk in zip(_filled(records, counts, group, order), _filled(units, counts, group, order)):
        for row, used in zip(chunk, used_chunk):
            row["utilization"] = used
        rows += chunk
    slots = np.empty(len(order), dtype=np.int64)
    slots[order] = np.arange(len(order))  # position among the groups' points -> index order
    for (_, _, unfit), first in zip(tables, np.cumsum([0] + counts).tolist()):
        for slot in slots[first + np.asarray(unfit, dtype=np.int64)].tolist():
            rows[slot]["utilization"] = {}  # a point that does not fit has none
    return indices[order].tolist(), rows


# rows a time that _filled builds: their dicts and values stay in the CPU's caches while it stores a key at a time
# (over all the rows at once, it takes a third longer)
ROW_CHUNK = 256


def _filled(records: list[dict], counts: list[int], group: list[int], order):
    """For each point (``group``: each point's group, in index order) a copy of its group's record, with its value
    from each column of the records (``_columns``: those of the groups, ``counts`` points each, joined; ``order``
    puts them in index order), ROW_CHUNK points at a time (lists). A dict built by copies and stores costs half
    what dict(zip(keys, values)) does, which grows its table as it fills."""
    joined = {name: _unmasked_values(_joined(parts)[order]) for name, parts in _columns(records, counts).items()}
    for start in range(0, len(group), ROW_CHUNK):
        chunk = list(map(dict.copy, map(records.__getitem__, group[start:start + ROW_CHUNK])))
        for name, values in joined.items():
            for row, value in zip(chunk, values[start:start + ROW_CHUNK].tolist()):
                row[name] = value
        yield chunk


def _columns(records: list[dict], counts: list[int]) -> dict:
    """The columns of groups' records (``counts`` points each; the same keys: to_row's, the GPU model's units): for
    each key whose value is a numpy column in some record, its value in every record as a column (one value for
    all repeated). Each such key's value in the records is then set to None, except where every record holds one
    int, bool, str or None for all its points (a size its points share, a bound they all have): each record then
    keeps its value, for the rows to take with it. Floats are never taken as one value (-0.0 == 0.0, but their
    text differs)."""
    columns = {}
    for name in dict.fromkeys(name for record in records for name, value in record.items()
                              if isinstance(value, np.ndarray)):
        values = [record[name] for record in records]
        shared = [_one_value(value) if isinstance(value, np.ndarray) else value for value in values]
        if all(type(value) in _SHAREABLE for value in shared):
            for record, value in zip(records, shared):
                record[name] = value
        else:
            columns[name] = [value if isinstance(value, np.ndarray) else np.full(count, value, dtype=object)
                             for value, count in zip(values, counts)]
            for record in records:
                record[name] = None
    return columns


_SHAREABLE = (int, bool, str, _NONE)  # the values that a record may hold for all its points


def _one_value(column):
    """The one value a column holds for every point, as a Python value: an integer column's, or the one string (or
    None) of an object column; else ``column`` itself (not one value; a masked one never is)."""
    if isinstance(column, np.ma.MaskedArray) or not column.size:
        return column
    first = column.flat[0]
    if column.dtype.kind in "iub":
        return first.item() if (column == first).all() else column
    if column.dtype == object and type(first) in (str, _NONE) and (column == first).all():  # equal, then alike
        return first
    return column


def _joined(columns: list):
    """The groups' columns of one key as one (as objects where their types differ: a float column would turn
    another's ints into floats; masked where one is, ``capacity.mark_columns``)."""
    if len({column.dtype for column in columns}) > 1:
        columns = [column.astype(object) for column in columns]
    if any(isinstance(column, np.ma.MaskedArray) for column in columns):
        return np.ma.concatenate(columns)
    return np.concatenate(columns)


def _unmasked_values(column):
    """A masked column as objects, None where masked; any other as it is. Its values are made here, in the order
    of the column (index order: see ``to_rows``)."""
    if not isinstance(column, np.ma.MaskedArray):
        return column
    values = np.array(column.data, dtype=object)
    values[column.mask] = None
    return values
