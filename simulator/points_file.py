"""``--from FILE.csv|FILE.json``: many points in one call, one row per point."""

import csv
import io
import json
from pathlib import Path

from einsum_cascades.errors import MAX_INPUT_BYTES, UserError
from einsum_cascades.units import integral, parse_count, short_repr
from gpu_models.loader import is_path, split_clock
from simulator.workload import DTYPE_ALIASES

_INT = ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len", "kv_len", "block_size", "page_size",
        "num_splits")
_FLOAT = ("sparsity",)
_BOOL = ("causal", "varlen")
_TEXT = ("hardware", "algorithm", "baseline", "dtype", "pattern", "scope", "estimate", "method")
COLUMNS = _TEXT + _INT + _FLOAT + _BOOL  # every column a point may name
# Columns a results file carries; accepted on input (so results can be fed back) and ignored.
_OUTPUT_ONLY = {"block_density", "time_s", "baseline_time_s", "speedup", "bound", "flops", "tflops", "hbm_bytes",
                "onchip_bytes", "energy_j", "baseline_energy_j", "utilization", "tensor_flops", "exp_ops", "fma_ops",
                "note", "tile", "lowered_pattern", "splits", "fits", "memory_bytes", "baseline_fits", "estimate_s"}
SHORT_ROW = object()  # csv.DictReader's value for a header column the row has no value for
_TRUE, _FALSE = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f", ""}


def read_points(path: str) -> list[dict]:
    """Rows of a CSV or JSON file as point dicts; a bad row is a UserError naming it."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--from {path!r}: no such file")
    raw = _read_json(p) if p.suffix.lower() == ".json" else read_csv(p, "--from ")
    if not raw:
        raise UserError(f"--from {path}: no points (a header line and one row per point, or a JSON list of objects)")
    return [toml_beside(convert_row(row, f"{path} row {i}"), p.parent, f"{path} row {i}")
            for i, row in enumerate(raw, start=1)]


def toml_beside(point: dict, folder: Path, where: str) -> dict:
    """``point`` with a relative hardware TOML path found beside its file (in ``folder``), as a file's own paths
    are; else in the current directory, as they were before. Found in neither: a UserError naming both."""
    name = point.get("hardware")
    machine = split_clock(name)[0] if name else ""
    if not is_path(machine) or Path(machine).expanduser().is_absolute():
        return point  # a bundled model, or a path that names one place
    tried = list(dict.fromkeys((folder / machine, Path(machine))))  # one place when the file is in the cwd
    found = next((path for path in tried if path.exists()), None)
    if found is None:
        places = (f"{tried[0].absolute()} (beside the file, in the current directory)" if len(tried) == 1 else
                  f"{tried[0].absolute()} (beside the file) and {tried[1].absolute()} (the current directory)")
        raise UserError(f"{where}: no such hardware file {machine!r}: tried {places}")
    return {**point, "hardware": str(found) + name.strip()[len(machine):]}  # with its :MHZ, if it has one


def read_text(p: Path, label: str = "") -> str:
    """The file as UTF-8 text (a leading byte-order mark dropped); anything else is a UserError."""
    try:
        if p.stat().st_size > MAX_INPUT_BYTES:
            raise UserError(f"{label}{p}: {p.stat().st_size:,} bytes; at most {MAX_INPUT_BYTES:,}")
        return p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(f"{label}{p}: not UTF-8 text (byte {err.start} is 0x{err.object[err.start]:02x}); "
                        "save it as UTF-8") from None
    except OSError as err:
        raise UserError(f"{label}{p}: cannot read it ({err.strerror})") from None


def read_csv(p: Path, label: str = "") -> list[dict]:
    """Rows of a CSV file with a header line, as dicts of text; a row short of the header's columns holds
    SHORT_ROW for those (``convert_row`` refuses it: a missing cell is never filled in)."""
    try:
        reader = csv.DictReader(io.StringIO(read_text(p, label), newline=""), restval=SHORT_ROW)
        header = [name.strip() for name in reader.fieldnames or ()]
        twice = next((name for i, name in enumerate(header) if name and name in header[:i]), None)
        if twice is not None:  # DictReader would keep the last of them silently
            raise UserError(f"{label}{p}: column {short_repr(twice)} appears twice in the header; give each column once")
        if len(header) == 1 and (sep := next((c for c in ";\t|" if c in header[0]), None)):
            raise UserError(f"{label}{p}: the header is one column, {short_repr(header[0])}: separate the columns "
                            f"with commas, not {sep!r}")
        return list(reader)
    except csv.Error as err:
        raise UserError(f"{label}{p}: not a CSV file ({err})") from None


class _KeyTwice(dict):
    """A JSON object that gives a key twice: json.loads keeps the last value silently, so the object carries the key
    for ``check_ragged`` to refuse it by its row (as ``read_csv`` refuses a header that names a column twice)."""

    twice: str


def json_object(pairs: list) -> dict:
    """``object_pairs_hook`` for json.loads: the object, marked with the first key it gives twice, if any."""
    out = dict(pairs)
    if len(out) < len(pairs):
        keys = [key for key, _ in pairs]
        out = _KeyTwice(out)
        out.twice = next(key for i, key in enumerate(keys) if key in keys[:i])
    return out


def key_twice(obj) -> str | None:
    """The key a JSON object read with ``json_object`` gives twice, or None."""
    return obj.twice if type(obj) is _KeyTwice else None


def check_ragged(row: dict, where: str) -> None:
    """Refuse a CSV row with more or fewer values than the header has columns, or a JSON object giving a key twice."""
    if type(row) is _KeyTwice:
        raise UserError(f"{where}: key {short_repr(row.twice)} appears twice in the object; give each column once")
    for key, value in row.items():
        if key is None:  # csv.DictReader's key for the values beyond the header
            comma = any("(" in str(v) and ")" not in str(v) for v in row.values() if isinstance(v, str))
            raise UserError(f"{where}: more values than the header has columns"
                            + ("; a value with a comma, such as a pattern window(4k,0), needs double quotes"
                               if comma else ""))
        if value is SHORT_ROW:
            raise UserError(f"{where}: fewer values than the header has columns (no value for {key!r})")


def _read_json(p: Path) -> list[dict]:
    try:
        data = json.loads(read_text(p, "--from "), object_pairs_hook=json_object)
    except RecursionError:
        raise UserError(f"--from {p}: JSON nested too deeply") from None
    except json.JSONDecodeError as err:
        raise UserError(f"--from {p}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(f"--from {p}: expected a JSON list of objects, one per point")
    return data


def convert_row(row: dict, where: str, extra: tuple = ()) -> dict:
    """One point's columns converted to Python values; ``extra`` names the caller's own columns, which
    it has taken out already (they only appear in the list of allowed columns of an error)."""
    out = {}
    check_ragged(row, where)
    for key, value in row.items():
        key = key if key in _CONVERTERS else key.strip()  # a padded header
        if key in _OUTPUT_ONLY or value is None or (type(value) is str and key not in _BOOL and not value.strip()):
            continue  # a results column fed back, or an empty cell
        if key not in _CONVERTERS:
            raise UserError(f"{where}: unknown column {short_repr(key)}: allowed {', '.join(COLUMNS + tuple(extra))}")
        convert = _CONVERTERS[key]
        try:
            out[key] = convert(key, value)
        except UserError as err:
            raise UserError(f"{where}: {err}") from None
    return out


def _size(key: str, value):
    return parse_count(value, key)  # 4096.0 too: pandas writes an int column with a blank cell as floats


def _splits(key: str, value):
    """A split count, or 0 for the kernel's split heuristic (num_splits=0, as --num-splits 0); the count's upper
    bound is the workload's (MAX_NUM_SPLITS)."""
    value = integral(value)  # 4.0 and '4.0', as _size takes them
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = str(value).strip()
    # six digits: a count past the workload's bound is refused there, with it; a longer string is no count at all
    if isinstance(value, str) and text.isascii() and text.isdigit() and len(text) <= 6:
        return int(text)
    raise UserError(f"bad {key} {short_repr(value)}: use 0 (the kernel's split heuristic) or a split count, e.g. 4")


def _float(key: str, value):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"bad {key} {value!r}: use a number in [0, 1)") from None


def _text(key: str, value):
    return str(value).strip()


def _bool(key: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UserError(f"bad {key} {value!r}: use true or false")


def _dtype(key: str, value):
    text = str(value).strip()
    return DTYPE_ALIASES.get(text.lower(), text)


_CONVERTERS = {**dict.fromkeys(_INT, _size), **dict.fromkeys(_FLOAT, _float), **dict.fromkeys(_BOOL, _bool),
               **dict.fromkeys(_TEXT, _text), "dtype": _dtype, "num_splits": _splits}
