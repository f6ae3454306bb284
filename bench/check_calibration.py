"""Re-run the `attnsim calibrate --kernels` command each bundled GPU's fitted figures cite, and check
(or, with --write, rewrite) the bundled TOML's figures against a fresh fit.

    python3 bench/check_calibration.py            # every GPU: fresh fit vs bundled figures
    python3 bench/check_calibration.py --write h100 a100 b200   # rewrite those TOMLs' fitted lines

A fitted figure's source reads "fitted by `attnsim calibrate --kernels FILE ...` (...)"; the files
are relative to the repository root. A GPU whose source names another GPU's fit (H200: the H100's)
is checked against that fit.
"""

import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpu_models import load_hardware  # noqa: E402
from validation.kernel_fit import calibrate_kernels, fit_table  # noqa: E402

COMMAND = re.compile(r"`attnsim calibrate --kernels ([^`]+)`")
TOLERANCE = 5e-4  # the TOML keeps 4 decimals


def cited_commands(name: str) -> dict[str, list[str]]:
    """Fitted figure -> the files its source cites."""
    spec = load_hardware(name)
    out = {}
    for key, source in spec.sources.items():
        if match := COMMAND.search(source):
            out[key] = match.group(1).split()
    return out


def main(argv: list[str]) -> int:
    write = "--write" in argv
    names = [a for a in argv if not a.startswith("--")] or ["a100", "h100", "h200", "b200"]
    status = 0
    for name in names:
        spec = load_hardware(name)
        for files in {tuple(f) for f in cited_commands(name).values()}:
            start = time.perf_counter()
            toml, fits = calibrate_kernels([str(ROOT / f) for f in files], spec.name if name != "h200" else None)
            print(f"{name}: attnsim calibrate --kernels {' '.join(files)}  ({time.perf_counter() - start:.1f} s)")
            print(fit_table(fits))
            for fit in fits:
                for key in fit.values:
                    fresh, bundled = toml[key]["value"], getattr(spec, key)
                    ok = abs(fresh - bundled) <= TOLERANCE
                    print(f"  {key:<26} bundled {bundled:.4f}  fresh {fresh:.4f}  {'ok' if ok else 'DIFFERS'}")
                    if write and not ok:
                        _rewrite(name, key, toml[key])
                    status |= 0 if ok or write else 1
    return status


def _rewrite(name: str, key: str, figure: dict) -> None:
    from validation.calibrate import _value

    path = ROOT / "gpu_models" / "specs" / f"{name}.toml"
    lines = path.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = "))
    lines[i] = f"{key} = {_value(figure)}"
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
