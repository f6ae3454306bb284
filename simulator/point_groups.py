"""Which dense points ``run_points`` evaluates together over columns.

A list of points is read a field at a time (one pass in C over the points for each field some point gives) and
checked a column at a time; the points that share a plan (machine, algorithm, baseline, head dims, dtype, tile,
scope) split by the kernel they run (FA2's split-KV kernel or its regular one, FA3's GQA packing, FA4's layout
key). What cannot run on columns, or would run on columns of its own, goes alone: masked points, bad values, one-
query FA2 calls and FA3/FA4 decode calls.
"""

from dataclasses import dataclass, fields
from itertools import repeat

from simulator._numpy import np

from simulator.columns import SIZE_FIELDS, workload_columns
from simulator.gpu_kernels import fa2_splits, fa4_layout_key
from simulator.splits import fa3_column_pack, fa4_decode
from simulator.workload import HEAD_DIM_MULTIPLE, Workload

DENSE_PATTERNS = (None, "", "none", "dense", "full")  # what Workload reads as "no pattern"
_NONE = type(None)
_MASKING = frozenset(("causal", "sparsity", "pattern", "estimate"))  # the fields has_mask reads


def has_mask(causal, sparsity, pattern, estimate) -> bool:
    """Whether a point with these fields has a mask (causal, a pattern, a sparsity) or an estimate: never evaluated
    over columns."""
    return bool(causal or sparsity or pattern not in DENSE_PATTERNS or estimate)


def column_groups(points: list[dict], defaults: dict, plan) -> tuple[list[tuple], list[int]]:
    """The dense GPU points that can be evaluated together: for each group, in order of first appearance, its plan,
    its points' indices and their size columns (by SIZE_FIELDS name); and the indices of the other points, in
    input order (evaluated one at a time, every masked one among them). The points are read a field at a time
    (``_Fields``) and checked a column at a time: each distinct set of names and head dims is planned once
    (``plan(hardware, algorithm, baseline, head_dim, v_head_dim, dtype, block_size, scope)``: a ``ColumnPlan``, or
    None for points that do not run on columns), and its points are split by kernel (``ColumnPlan.split``)."""
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
        planned = _planned(plan, tuple(fields[name][positions[0]] for name in _NAME_FIELDS))
        if planned is None:
            solo[positions] = True
            continue
        positions = positions[~solo[positions]]
        split, kernels = planned.split({name: column[positions] for name, column in sizes.items()})
        solo[positions[split]] = True
        groups += [(planned, positions[members]) for members in kernels]
    index = np.array(index, dtype=np.int64)
    groups.sort(key=lambda group: group[1][0])
    return ([(planned, index[members].tolist(), {name: column[members] for name, column in sizes.items()})
             for planned, members in groups], sorted(alone + index[solo].tolist()))


class _Fields(dict):
    """The fields of many points as run_points merges them (the point's value unless it is None, else the call's
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
                ints = self._ints.get(name)
                ids.append(ints if ints is not None and ints.min() >= 0 else _ids(self[name]))
        return _combined(ids, len(self.points))


def _unmasked(fields: _Fields) -> list[bool]:
    """Whether each point has neither a mask nor an estimate (``has_mask``)."""
    columns = [fields[name] for name in ("causal", "sparsity", "pattern", "estimate")]
    if fields.given.isdisjoint(_MASKING):  # the same for every point
        return [not has_mask(*(column[0] for column in columns))] * len(fields.points)
    return [not masked for masked in map(has_mask, *columns)]


def _typed(fields: _Fields) -> list[bool]:
    """Whether each point's sizes and head dims are ints that numpy takes as they are (int64) and its tile an int or
    None: one look at each field's types (and its int64 column) when all are."""
    keep = [True] * len(fields.points)
    for name in (*SIZE_FIELDS, "head_dim", "v_head_dim"):
        if not _int64s(fields, name):
            keep = [k and type(v) is int and v in _INT64 for k, v in zip(keep, fields[name])]
    if not fields.types("block_size") <= {int, _NONE}:
        keep = [k and (b is None or type(b) is int) for k, b in zip(keep, fields["block_size"])]
    if fields.types("page_size") != {_NONE}:  # a paged cache: evaluated alone (the column plans read none)
        keep = [k and p is None for k, p in zip(keep, fields["page_size"])]
    if fields.types("varlen") != {bool} or any(fields["varlen"]):  # varlen: evaluated alone (no column plan reads it)
        keep = [k and v is False for k, v in zip(keep, fields["varlen"])]
    if fields.types("num_splits") != {_NONE}:  # a split count: evaluated alone (the column plans take the heuristic's)
        keep = [k and n is None for k, n in zip(keep, fields["num_splits"])]
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


def _planned(plan, names: tuple):
    """``plan`` of these names, None if its value head dim is no multiple of HEAD_DIM_MULTIPLE or a name is
    unhashable (such points are evaluated alone, which names the bad value)."""
    if names[4] % HEAD_DIM_MULTIPLE:
        return None
    try:
        return plan(*names)
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
    (``column_groups`` puts the groups back in order of first appearance)."""
    if not len(codes):
        return []
    order = np.argsort(codes.astype(np.min_scalar_type(codes.max())), kind="stable")  # a radix sort below 2**16
    counts = np.bincount(codes)
    return np.split(order, np.cumsum(counts[counts > 0])[:-1])


_WORKLOAD = {f.name: f.default for f in fields(Workload)}
# the value of each field column_groups reads where neither a point nor the call gives one: a Workload's (0: no KV
# heads or KV length given, None: no value head dim)
_UNGIVEN = dict(hardware="h100", algorithm=None, baseline=None, head_dim=_WORKLOAD["head_dim"], v_head_dim=None,
                dtype=_WORKLOAD["dtype"], block_size=None, scope=_WORKLOAD["scope"], batch=_WORKLOAD["batch"],
                heads=_WORKLOAD["heads"], kv_heads=0, seq_len=_WORKLOAD["seq_len"], kv_len=0, causal=None,
                sparsity=None, pattern=None, estimate=None, page_size=None, varlen=False,
                num_splits=None)
_INT64 = range(-1 << 63, 1 << 63)
_NAME_FIELDS = ("hardware", "algorithm", "baseline", "head_dim", "v_head_dim", "dtype", "block_size", "scope")


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """What the dense points of one machine, algorithm, baseline, head dims, dtype, tile and scope share (api's
    ``_column_plan``): ``names`` (the algorithm resolved), the machine's arch, whether the points' layout depends
    on their sizes (FA3's and FA4's), whether the algorithm or its baseline is FA2's or Flash-Decoding's (their
    one-query GQA layout is decided point by point) and the machines of its ``flash2`` calls (their kernel,
    split-KV or not, follows FA2's split heuristic point by point)."""

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
            kernels.append(self.layouts(part["seq_len"], part["heads"], part["kv_heads"], part["kv_len"]))
        groups = []
        ids = [kernel.astype(np.int64) if kernel.dtype == bool else _ids(kernel.tolist()) for kernel in kernels]
        for members in _split_by(_combined(ids, len(together))):
            if self.gqa_layouts and kernels[-1][members[0]] is None:
                alone[together[members]] = True
            else:
                groups.append(together[members])
        return alone, groups

    def _splits(self, sizes: dict, machine):
        """Whether FA2's heuristic splits the KV range of each point of these size columns on ``machine``; none
        where a size is out of range (the points then run one by one)."""
        _, _, _, head_dim, dtype, block, v_head_dim, scope = self.names
        if v_head_dim is not None and v_head_dim != head_dim:  # FA2 runs the pair zero-padded to the wider
            head_dim = v_head_dim = max(head_dim, v_head_dim)   # (gpu_kernels.padded_head_dim): split as it runs
        wl = workload_columns(head_dim, dtype, block, v_head_dim, scope, **sizes)
        return np.zeros(len(sizes["seq_len"]), dtype=bool) if wl is None else fa2_splits(machine, wl) > 1

    def layouts(self, seq_len, heads, kv_heads, kv_len):
        """FA3's GQA packing or FA4's layout key of each point of these size columns, None for a decode call
        (which may split its KV range: evaluated alone)."""
        _, algo, _, head_dim, _, block, v_head_dim, scope = self.names
        if algo == "flash3":
            return fa3_column_pack(self.arch, head_dim, block, seq_len, heads, kv_heads, kv_len, scope, v_head_dim)
        group = heads // kv_heads
        long = ~fa4_decode(seq_len, group, kv_len, scope == "layer")  # no --page-size in columns
        keys = np.full(len(seq_len), None, dtype=object)
        keys[long] = fa4_layout_key(head_dim, v_head_dim, seq_len[long], group[long])
        return keys
