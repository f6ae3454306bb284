"""Simulated rows grouped into plot lines: the data side of the speedup and sparsity plots.

No matplotlib here, so the numbers behind a figure can be tested on their own.
"""

from dataclasses import dataclass

# Workload fields that may vary across the rows of one figure; each one that does splits the lines.
SPLIT_KEYS = ("seq_len", "sparsity", "batch", "heads", "kv_heads", "head_dim", "kv_len", "causal", "pattern",
              "num_splits")
SHORT_NAMES = {"seq_len": "N", "sparsity": "s", "batch": "B", "heads": "H", "kv_heads": "Hkv", "head_dim": "d",
          "kv_len": "Nkv", "causal": "causal", "pattern": "mask", "num_splits": "splits"}


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a machine, an algorithm and fixed values of the split fields, over ``x``."""

    hardware: str
    algorithm: str
    variant: tuple  # ((field, value), ...) of the split fields, in SPLIT_KEYS order
    baselines: tuple  # distinct baseline names of the points, in order
    x: tuple
    speedup: tuple
    block_density: tuple  # fraction of tiles computed, relative to the dense run (1 / the ideal speedup)
    dense_speedup: tuple = ()  # the kernel's own dense run over the baseline (1 where the baseline is that run)

    @property
    def ideal(self) -> tuple:
        """Speedup of a kernel whose time falls exactly with the tiles it skips: 1 / block density, over its own
        dense run; over another baseline, times that run's speedup over it."""
        scale = self.dense_speedup or (1.0,) * len(self.block_density)
        return tuple(k / d for k, d in zip(scale, self.block_density))

    def variant_text(self) -> str:
        return variant_text(self.variant)


def variant_text(variant) -> str:
    """((seq_len, 32768), (sparsity, 0.9)) -> 'N=32k, s=0.9'."""
    from cli.plots.style import size_label

    def show(key, value):
        if key in ("seq_len", "kv_len"):
            return size_label(value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{SHORT_NAMES[k]}={show(k, v)}" for k, v in variant)


def line_series(rows: list[dict], x_key: str) -> list[Series]:
    """Group rows into lines by hardware, algorithm and every other field that varies; sort each by ``x_key``.

    A row's ``dense_block_density`` (the block density of its run without pattern or sparsity; 1 unless
    causal) makes ``block_density`` relative to that dense run, so the ideal speedup stays 1 at sparsity 0.
    """
    split = varying_keys(rows, exclude=x_key)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["hardware"], row["algorithm"], tuple((k, row.get(k)) for k in split))
        groups.setdefault(key, []).append(row)
    out = []
    for (hw, algo, variant), members in groups.items():
        members.sort(key=lambda r: _x(r, x_key))
        out.append(Series(hw, algo, variant, tuple(dict.fromkeys(r["baseline"] for r in members)),
                          tuple(_x(r, x_key) for r in members), tuple(r["speedup"] for r in members),
                          tuple(r["block_density"] / r.get("dense_block_density", 1.0) for r in members),
                          tuple(_dense_speedup(r) for r in members)))
    return out


def _dense_speedup(row: dict) -> float:
    """The row's kernel's dense run over the row's baseline (``sparsity_rows`` gives its time; 1 without it)."""
    dense, base = row.get("dense_time_s"), row.get("baseline_time_s")
    return base / dense if dense and base else 1.0


def _x(row: dict, x_key: str):
    """The row's place on the x axis: its ``x_key`` value, but on a sparsity axis a --pattern at sparsity 0, the
    pattern as written (not sized to 0), at the sparsity it has: 1 - its block density, the fraction of all tiles
    empty, as --sparsity sizes the others (a causal pattern's too: its sized points count the causal half empty)."""
    if x_key == "sparsity" and row.get("pattern") and not row["sparsity"]:
        return 1.0 - row["block_density"]
    return row[x_key]


def sparsity_rows(points: list[dict]) -> list[dict]:
    """Simulate points against the dense run of their own algorithm (unless a baseline is given).

    Each row also gets ``dense_block_density``: the block density of the same point without pattern or
    sparsity (causal kept), which ``line_series`` divides by so the ideal speedup is 1 at sparsity 0; and that
    run's time (``dense_time_s``), which scales the ideal to another baseline than the dense run.
    """
    from simulator.api import default_algorithm, hardware, rows_of
    from simulator.gpu_kernels import within_causal

    points = [dict(p) for p in points]
    for p in points:
        p["algorithm"] = p["algorithm"] or default_algorithm(hardware(p["hardware"]))
        p["baseline"] = p["baseline"] or p["algorithm"]
    rows = rows_of(points, {})
    dense: dict[tuple, float] = {}
    for p, row in zip(points, rows):
        # the dense call: no mask, no method preset to fill one back in, no index-building step, the kernel's own
        # tiles, causal where the mask is (as the row's own dense baseline is: api.dense)
        twin = {**p, "pattern": None, "sparsity": 0.0, "baseline": None, "method": None, "estimate": None,
                "block_size": None, "causal": bool(p.get("causal")) or bool(row.get("pattern") and
                                                                           within_causal(row["pattern"]))}
        key = tuple(sorted(twin.items()))
        if key not in dense:
            twin_row = rows_of([twin], {})[0]
            dense[key] = twin_row["block_density"], twin_row["time_s"]
        row["dense_block_density"], row["dense_time_s"] = dense[key]
    return rows


def plottable(rows: list[dict], field: str) -> tuple[list[dict], str]:
    """The rows that have ``field`` (time_s or speedup), and a note naming the points left out: those whose
    tensors, or whose baseline's, do not fit the machine's memory ('' when none)."""
    kept = [r for r in rows if r.get(field) is not None]
    left = [r for r in rows if r.get(field) is None]
    if not left:
        return kept, ""
    machines: dict[str, list[str]] = {}  # reason -> the machines it holds on, in order
    for r in left:
        what, machine = _why_missing(r)
        names = machines.setdefault(what, [])
        if machine and machine not in names:
            names.append(machine)
    reasons = ", ".join(f"{what} in {', '.join(names)} memory" if names else what for what, names in machines.items())
    return kept, f"{len(left)} of {len(rows)} points left out ({reasons})"


def _why_missing(r: dict) -> tuple[str, str | None]:
    """(the reason, the machine whose memory it is about, or None)."""
    from cli.plots.style import hw_label

    machine = hw_label(r["hardware"])
    if r.get("fits") is False:
        return f"{r['algorithm']} does not fit", machine
    if r.get("baseline_fits") is False:
        return f"baseline {r['baseline']} does not fit", machine
    return (r.get("note") or "no baseline").split(":", 1)[-1].strip(), None


def varying_keys(rows: list[dict], exclude: str) -> list[str]:
    """Split fields with more than one value among the rows (kv_len only where it is not seq_len)."""
    keys = []
    for key in SPLIT_KEYS:
        if key == exclude or (key == "kv_len" and all(r["kv_len"] == r["seq_len"] for r in rows)):
            continue
        if key == "kv_heads" and all(r["kv_heads"] == r["heads"] for r in rows):
            continue
        if len({r.get(key) for r in rows}) > 1:
            keys.append(key)
    return keys


def baseline_text(series: list[Series]) -> str | None:
    """The one baseline all lines share ('naive', 'dense flash2 / dense flash3'), or None when they differ in kind."""
    texts = dict.fromkeys(series_baseline(s) for s in series)
    if len(texts) == 1 or all(t.startswith("dense ") for t in texts):
        return " / ".join(texts)
    return None


def series_baseline(s: Series) -> str:
    """'naive', 'unfused@flat', or 'dense flash2' when the line is compared with its own dense run."""
    return " / ".join(f"dense {b}" if b == s.algorithm else b for b in s.baselines)
