"""``--from FILE.csv|FILE.json``: many points in one call, one row per point."""

import csv
import json
from pathlib import Path

from einsum_cascades.errors import UserError
from einsum_cascades.units import parse_size

_INT = ("batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len", "block_size")
_FLOAT = ("sparsity",)
_BOOL = ("causal",)
_TEXT = ("hardware", "algorithm", "baseline", "dtype", "pattern")
# Columns a results file carries; accepted on input (so results can be fed back) and ignored.
_OUTPUT_ONLY = {"block_density", "time_s", "baseline_time_s", "speedup", "bound", "flops", "tflops", "hbm_bytes",
                "onchip_bytes", "energy_j", "baseline_energy_j", "utilization"}
_TRUE, _FALSE = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f", ""}


def read_points(path: str) -> list[dict]:
    """Rows of a CSV or JSON file as point dicts; a bad row is a UserError naming it."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--from {path!r}: no such file")
    raw = _read_json(p) if p.suffix.lower() == ".json" else _read_csv(p)
    return [_convert(row, f"{path} row {i}") for i, row in enumerate(raw, start=1)]


def _read_csv(p: Path) -> list[dict]:
    with p.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _read_json(p: Path) -> list[dict]:
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"--from {p}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(f"--from {p}: expected a JSON list of objects, one per point")
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
    raise UserError(f"unknown column {key!r}: allowed {allowed}")


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
