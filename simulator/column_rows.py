"""The rows of dense points evaluated over columns (``run_points``), built in input order.

A group of points evaluated together comes back as one record: ``to_row``'s keys, then its extras, each value a
numpy column or one value for every point. The rows of all the groups are made at once, in input order, the order
in which a caller frees them: made group by group and freed interleaved, they cost three times as much to free.
"""

from simulator._numpy import np

_NONE = type(None)


def to_rows(tables: list[tuple]) -> tuple[list, list[dict]]:
    """The rows of groups of points evaluated over columns, as (indices, rows) in index order: ``tables`` holds
    each group's point indices (increasing), its record (``api._simulate_columns``: ``to_row``'s keys, then its
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
