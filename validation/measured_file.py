"""What ``attnsim validate report FILE`` reads: a validation results file, or a user's own measurements.

A user's file holds measured points from any benchmark: a CSV with a header line, a JSON list of
objects, or ``{"points": [...]}``. Columns are ``attnsim simulate --from``'s (read by the same code,
``simulator.points_file``) plus exactly one of ``measured_ms`` / ``measured_us`` / ``measured_s`` and, optionally, ``device``
and ``kernel`` (free text). It is read into the results file's shape (validation/FORMAT.md), marked
``MEASURED_FORMAT`` so that each row is predicted on its own ``hardware``.
"""

import json
import math
from pathlib import Path

from simulator.points_file import check_ragged, convert_row, read_csv, read_text, toml_beside
from einsum_cascades.errors import UserError
from validation.report import BUILD_KEYS, MEASURED_FORMAT, check_results, measured_s_error, parse_json

SECONDS_PER = {"measured_ms": 1e-3, "measured_us": 1e-6, "measured_s": 1.0}  # the spellings of the measured time
UNIT_NAMES = {"measured_ms": "milliseconds", "measured_us": "microseconds", "measured_s": "seconds"}
LABELS = ("device", "kernel")  # free text, carried into the report
COLUMNS = (*SECONDS_PER, *LABELS)  # the columns a measured file adds to simulate --from's
_TOP_LEVEL = ("points", "source", *BUILD_KEYS)  # the kernel builds it timed: FORMAT.md


def load(path: str) -> dict:
    """The file as a results document; a bad file or row is a one-line UserError naming it."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such results file {path!r}")
    if p.suffix.lower() == ".csv":
        return _measured(path, read_csv(p), None)
    try:
        doc = parse_json(read_text(p), path)
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); "
                        "a CSV of measured points must end in .csv") from None
    if isinstance(doc, dict) and ("format" in doc or isinstance(doc.get("device"), dict)):
        return check_results(doc, path)
    if isinstance(doc, list):
        return _measured(path, doc, None)
    if isinstance(doc, dict) and isinstance(doc.get("points"), list):
        unknown = [k for k in doc if k not in _TOP_LEVEL]
        if unknown:
            raise UserError(f"{path}: unknown top-level key {unknown[0]!r}: a measured-points JSON allows "
                            f"{', '.join(_TOP_LEVEL)} (a results file needs 'format'; see validation/FORMAT.md)")
        builds = {k: doc[k] for k in BUILD_KEYS if doc.get(k) is not None}
        return {**_measured(path, doc["points"], doc.get("source")), **builds}
    raise UserError(f"{path}: expected a JSON list of measured points, {{\"points\": [...]}}, or an attnsim "
                    "validation file (see validation/FORMAT.md)")


def _measured(path: str, rows: list, source) -> dict:
    points = [toml_beside(_point(row, f"{path} row {i}", i), Path(path).parent, f"{path} row {i}")
              for i, row in enumerate(rows, start=1)]
    if not points:
        raise UserError(f"{path}: no measured points (one row or object per point)")
    devices = ", ".join(dict.fromkeys(p["device"] for p in points if p.get("device")))
    return {"format": MEASURED_FORMAT, "file": path, "source": source or f"measured points from {path}",
            "device": {"name": devices or f"{Path(path).name} (no device column)"}, "points": points}


def _point(row, where: str, number: int) -> dict:
    """One row: its simulate columns converted, the time in seconds, the labels; the row number kept."""
    if not isinstance(row, dict):
        raise UserError(f"{where}: a point must be an object of column: value pairs, got {json.dumps(row)[:40]}")
    check_ragged(row, where)
    row = {key.strip() if isinstance(key, str) else key: value for key, value in row.items()}
    given = [k for k in SECONDS_PER if not _blank(row.get(k))]
    if not given and (near := [k for k in row if isinstance(k, str) and k != k.lower() and k.lower() in SECONDS_PER]):
        raise UserError(f"{where}: unknown column {near[0]!r}: the measured time is {near[0].lower()} (column names "
                        "are lower case)")
    if len(given) != 1:
        raise UserError(f"{where}: give exactly one of the columns measured_ms, measured_us, measured_s "
                        f"(this row has {'none' if not given else ' and '.join(given)})")
    seconds = _time(given[0], row[given[0]], where) * SECONDS_PER[given[0]]
    labels = {k: str(row[k]).strip() for k in LABELS if not _blank(row.get(k))}
    point = convert_row({k: v for k, v in row.items() if k not in COLUMNS}, where, extra=COLUMNS)
    if "seq_len" not in point:  # a length no one timed: the other sizes default to simulate's, as FORMAT.md says
        raise UserError(f"{where}: no seq_len{'' if 'seq_len' in row else ' column'}: a measured point needs "
                        "seq_len (the query length it timed) and one measured time; the other sizes default to "
                        "attnsim simulate's (validation/FORMAT.md)")
    return {**point, **labels, "measured_s": seconds, "row": number}


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _time(key: str, value, where: str) -> float:
    """A positive, finite time."""
    try:
        t = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        t = math.nan
    if not (math.isfinite(t) and t > 0):
        raise UserError(f"{where}: bad {key} {value!r}: use a positive number of {UNIT_NAMES[key]}")
    if why := measured_s_error(t * SECONDS_PER[key]):
        raise UserError(f"{where}: bad {key} {value!r}: {why}")
    return t
