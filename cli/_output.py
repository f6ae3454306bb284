"""Printing results: human units for people, JSON / CSV for scripts."""

import io
import sys


COLUMNS = ("hardware", "algorithm", "baseline", "batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len",
           "causal", "dtype", "pattern", "sparsity", "block_size", "method", "estimate", "estimate_s", "block_density",
           "time_s",
           "baseline_time_s", "speedup",
           "bound", "flops", "tflops", "hbm_bytes", "onchip_bytes", "energy_j", "baseline_energy_j", "utilization",
           "note", "tile", "lowered_pattern", "fits", "memory_bytes", "baseline_fits")


def human_time(s: float | None) -> str:
    """1.5e-6 -> '1.50 us', 0.0123 -> '12.3 ms'; None (no time: the point does not fit) -> '-'."""
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            v = s / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return str(s)


def shape(r: dict) -> str:
    """batch x query heads / KV heads x head dim, and / the value head dim where it differs: '4x16/16x192/128'."""
    dv = r.get("v_head_dim")
    value_dim = f"/{dv}" if dv and dv != r["head_dim"] else ""
    return f"{r['batch']}x{r['heads']}/{r['kv_heads']}x{r['head_dim']}{value_dim}"


def lengths(r: dict) -> str:
    """The query length, / the KV length where it differs, ' varlen' for a variable-length call and the KV splits
    a call asks for (--num-splits), with the count run where that differs (FA3 takes it as a cap): '1/32k',
    '1/32k 4 splits', '1/32k 16 splits (15 run)'."""
    kv = "" if r["kv_len"] == r["seq_len"] else f"/{human_size(r['kv_len'])}"
    n, ran = r.get("num_splits"), r.get("splits")
    asked = f" {n} split{'s' * (n != 1)}" + (f" ({ran} run)" if ran is not None and ran != n else "") if n else ""
    return human_size(r["seq_len"]) + kv + (" varlen" if r.get("varlen") else "") + asked


def human_bytes(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def human_size(n: int) -> str:
    from einsum_cascades.units import format_size

    return format_size(int(n))


def csv_cell(value):
    """Flatten a value for CSV: dicts as unit=fraction pairs, None as empty."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ";".join([f"{k}={v:.4g}" for k, v in value.items()])
    return value


NOTE_KINDS = {"does not fit": "no time", "baseline does not fit": "no speedup", "no baseline": "no speedup"}


def report_unfit(rows: list[dict]) -> None:
    """One point that does not fit the machine's memory is an error; in a list, a note on stderr per kind of
    missing number (the rows stay, with ``fits: false`` or an empty speedup)."""
    from einsum_cascades.errors import UserError

    if len(rows) == 1 and rows[0].get("fits") is False:
        raise UserError(rows[0]["note"])
    echo_notes([r["note"] for r in rows if r.get("note")], len(rows))


def echo_notes(notes: list[str], total: int) -> None:
    """One stderr line per kind of note ('does not fit', 'baseline does not fit', 'no baseline'), with a count."""
    import click

    by_kind: dict[str, list[str]] = {}
    for note in notes:
        by_kind.setdefault(note.split(":", 1)[0], []).append(note)
    for kind, same in by_kind.items():
        what = NOTE_KINDS.get(kind, "see its note")
        count = "this point" if total == 1 else f"{len(same)} of {total} points"
        click.echo(f"attnsim: note: {count} ({what}): {same[0]}" + (" (and others)" if len(set(same)) > 1 else ""),
                   err=True)


INDENT_ROWS = 20  # JSON up to this many rows is indented for reading; longer output has one row per line


def write_rows(rows: list[dict], fmt: str, stream=None) -> None:
    """Write rows as json, csv or a rich table."""
    stream = stream or sys.stdout
    if fmt == "json":
        import json  # json and csv are imported for their formats only: a table never needs them

        if len(rows) <= INDENT_ROWS:
            stream.write(json.dumps(rows, indent=2, default=_json_default) + "\n")
        else:  # the indenting encoder is pure Python: slow for sweeps of many rows
            stream.write("[\n" + ",\n".join(json.dumps(r, default=_json_default) for r in rows) + "\n]\n")
    elif fmt == "csv":
        stream.write(rows_to_csv(rows))
    else:
        from cli._table import print_table

        print_table(rows)


def rows_to_csv(rows: list[dict]) -> str:
    import csv

    buf = io.StringIO()
    keys = list(rows[0]) if rows else list(COLUMNS)
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    if rows:
        writer.writerows(map(CsvCells(keys, rows[0]).cells, rows))
    return buf.getvalue()


class CsvCells:
    """A row's cells in header order: the csv module writes None as an empty cell; dict columns
    (utilization) are flattened by ``csv_cell``. Rows of one output share their columns."""

    def __init__(self, keys: list, first_row: dict):
        self.keys = keys
        self.flatten = [i for i, k in enumerate(keys) if isinstance(first_row.get(k), dict)]

    def cells(self, row: dict) -> list:
        values = list(map(row.get, self.keys))
        for i in self.flatten:
            values[i] = csv_cell(values[i])
        return values


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
