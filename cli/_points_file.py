"""``--from FILE.csv|FILE.json``: many points in one call, one row per point."""

import csv
import io
import json
from pathlib import Path

from einsum_cascades.errors import UserError, read_user_text
from einsum_cascades.units import parse_size, short_repr

_INT = ("batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len", "block_size")
_FLOAT = ("sparsity",)
_BOOL = ("causal",)
_TEXT = ("hardware", "algorithm", "baseline", "dtype", "pattern")
# Columns a results file carries; accepted on input (so results can be fed back) and ignored.
_OUTPUT_ONLY = {"block_density", "time_s", "baseline_time_s", "speedup", "bound", "flops", "tflops", "hbm_bytes",
                "onchip_bytes", "energy_j", "baseline_energy_j", "utilization", "note", "tile", "lowered_pattern", "fits",
                "memory_bytes", "baseline_fits"}
_TRUE, _FALSE = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f", ""}


def read_points(path: str) -> list[dict]:
    """Rows of a CSV or JSON file as point dicts; a bad row is a UserError naming it; no rows is an error too."""
    text = read_user_text(path, "--from")
    raw = _read_json(path, text) if Path(path).suffix.lower() == ".json" else _read_csv(path, text)
    if not raw:
        raise UserError(f"--from {path}: no points (a header line and one row per point, or a JSON list of objects)")
    return [_convert(row, f"{path} row {i}") for i, row in enumerate(raw, start=1)]


def _read_csv(path: str, text: str) -> list[dict]:
    """Rows as dicts; a row with fewer or more cells than the header is an error, never filled in or cut."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise UserError(f"--from {path}: not a CSV file ({err})") from None
    rows = [r for r in rows if r]  # blank lines
    if not rows:
        return []
    header, out = rows[0], []
    for i, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise UserError(f"--from {path} row {i}: {len(row)} cells, the header has {len(header)} columns")
        out.append(dict(zip(header, row)))
    return out


def _read_json(path: str, text: str) -> list[dict]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"--from {path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise UserError(f"--from {path}: JSON nested too deeply") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(f"--from {path}: expected a JSON list of objects, one per point")
    return data


def _convert(row: dict, where: str) -> dict:
    out = {}
    for key, value in row.items():
        convert = _CONVERTERS.get(key)
        if convert is None:  # a padded or unknown header, or a results column fed back
            key = (key or "").strip()
            if key in _OUTPUT_ONLY:
                continue
            convert = _CONVERTERS.get(key, _unknown)
        if value is None or (type(value) is str and key not in _BOOL and not value.strip()):
            continue
        try:
            out[key] = convert(key, value)
        except UserError as err:
            raise UserError(f"{where}: {err}") from None
    return out


def _size(key: str, value):
    return parse_size(value if isinstance(value, (int, str)) else str(value), key)


def _float(key: str, value):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"bad {key} {value!r}: use a number in [0, 1)") from None


def _text(key: str, value):
    return str(value).strip()


def _unknown(key: str, value):
    allowed = ", ".join(_TEXT + _INT + _FLOAT + _BOOL)
    raise UserError(f"unknown column {short_repr(key)}: allowed {allowed}")


def _bool(key: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UserError(f"bad {key} {value!r}: use true or false")


_CONVERTERS = {**dict.fromkeys(_INT, _size), **dict.fromkeys(_FLOAT, _float), **dict.fromkeys(_BOOL, _bool),
               **dict.fromkeys(_TEXT, _text)}
