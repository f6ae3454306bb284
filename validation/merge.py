"""Join the results files of one device's run made in parts (``validate run --only PART``) into one file.

Each part is its own process (and may be its own device call), so a kernel that faults the CUDA
context, or a part that runs out of time, costs only that part. The joined file is what
``validate report`` and ``calibrate`` read (validation/FORMAT.md).
"""

from pathlib import Path

from einsum_cascades.errors import UserError
from validation.report import load_results
from validation.runner import FORMAT, PARTS

SAME_DEVICE_KEYS = ("name", "pci_bus_id", "driver", "cc")  # a mismatch means another GPU or setup


def merge(paths: list[str]) -> dict:
    """One results document holding every part of ``paths`` (all from the same device)."""
    if not paths:
        raise UserError("merge needs at least one results file")
    docs = [(Path(p).name, load_results(p)) for p in paths]
    for name, doc in docs:
        if doc.get("format") != FORMAT:
            raise UserError(f"{name}: not a {FORMAT} file (format {doc.get('format')!r})")
    _check_same_device(docs)
    micro = [m for _, d in docs for m in d.get("micro", [])]
    seen = [m["name"] for m in micro]
    dupes = sorted({n for n in seen if seen.count(n) > 1})
    if dupes:
        raise UserError(f"microbenchmark {dupes[0]!r} is in more than one file: merge each part once")
    parts = {p for _, d in docs for p in d.get("parts", PARTS)}
    return {"format": FORMAT, "source": "merged: " + "; ".join(f"{n} ({d.get('source')})" for n, d in docs),
            "complete": all(d.get("complete", True) for _, d in docs), "parts": [p for p in PARTS if p in parts],
            "device": _device(docs), "micro": micro, "points": [p for _, d in docs for p in d["points"]],
            "errors": [e for _, d in docs for e in d.get("errors", [])]}


def _check_same_device(docs) -> None:
    first_name, first = docs[0]
    for name, doc in docs[1:]:
        for key in SAME_DEVICE_KEYS:
            a, b = first["device"].get(key), doc["device"].get(key)
            if a is not None and b is not None and a != b:
                raise UserError(f"{name} was measured on another device than {first_name}: {key} {b!r} != {a!r}")


def _device(docs) -> dict:
    """The device record of the file with the microbenchmarks (calibrate reads its clock), else the first;
    the earliest date and every file's per-stage clocks."""
    base = next((d for _, d in docs if d.get("micro")), docs[0][1])["device"]
    stages = {}
    for _, d in docs:
        stages.update(d["device"].get("clocks_by_stage") or {})
    dates = [d["device"]["date"] for _, d in docs if d["device"].get("date")]
    return {**base, "clocks_by_stage": stages, **({"date": min(dates)} if dates else {})}
