"""Re-run the `attnsim calibrate --kernels` command each bundled GPU's fitted figures cite, and check
(or, with --write, rewrite) the bundled TOML's figures against a fresh fit.

    python3 bench/check_calibration.py            # every GPU: fresh fit vs bundled figures
    python3 bench/check_calibration.py --write h100 a100 b200   # rewrite those TOMLs' fitted lines

A fitted figure's source reads "fitted by `attnsim calibrate --kernels FILE ...` (...)"; the files
are relative to the repository root. A GPU whose source names another GPU's fit (H200: the H100's)
is checked against that fit.
"""

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # the cited commands name their files relative to the repository root

from gpu_models import load_hardware  # noqa: E402
from gpu_models.loader import bundled_names  # noqa: E402
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


def main(names: list[str], write: bool) -> int:
    status = 0
    fitted = {}  # a command's fit, once per run: GPUs that take another's fit (the H100's) cite the same command
    for name in names:
        spec = load_hardware(name)
        cited = cited_commands(name)
        for files in {tuple(f) for f in cited.values()}:
            keys = [k for k, f in cited.items() if tuple(f) == files]  # the figures this command fits
            start = time.perf_counter()
            only = tuple(files[1].split(",")) if files[0] == "--only" else None  # `--kernels --only T FILE ...`
            paths = list(files[2:] if only else files)
            if files not in fitted:
                fitted[files] = calibrate_kernels(paths, only=only)  # each file names its own GPU
            toml, fits = fitted[files]
            print(f"{name}: attnsim calibrate --kernels {' '.join(files)}  ({time.perf_counter() - start:.1f} s)")
            print(fit_table(fits))
            for fit in fits:
                for key in (k for k in fit.values if k in keys):
                    fresh, bundled = toml[key]["value"], getattr(spec, key)
                    ok = abs(fresh - bundled) <= TOLERANCE
                    # the source quotes the fit's errors: rewritten with the figure, or alone when they moved
                    stale = _fit_text(spec.sources[key]) != _fit_text(toml[key]["source"])
                    verdict = "DIFFERS" if not ok else "ok, but its source quotes other errors" if stale else "ok"
                    print(f"  {key:<26} bundled {bundled:.4f}  fresh {fresh:.4f}  {verdict}")
                    if write and (not ok or stale):
                        _rewrite(name, key, toml[key])
                    status |= 0 if (ok and not stale) or write else 1
    return status


def _fit_text(source: str) -> str:
    return source.split("fitted by", 1)[-1]


def _rewrite(name: str, key: str, figure: dict) -> None:
    from validation.calibrate import _value

    path = ROOT / "gpu_models" / "specs" / f"{name}.toml"
    lines = path.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = "))
    prefix = lines[i].split('source = "', 1)[1].split("fitted by", 1)[0]  # "the H100 SXM5's fit (...): "
    if "fitted by" not in lines[i]:
        raise SystemExit(f"{name}.{key}: its source cites no fit to rewrite")
    lines[i] = f"{key} = {_value({**figure, 'source': prefix + figure['source']})}"
    path.write_text("\n".join(lines) + "\n")


def fitted_gpus() -> list[str]:
    """The bundled GPUs with a figure whose source cites a calibrate command."""
    return [name for name in bundled_names() if cited_commands(name)]


if __name__ == "__main__":
    GPUS = fitted_gpus()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gpus", nargs="*", metavar="GPU",
                        help=f"bundled GPUs to check (default: all of {', '.join(GPUS)})")
    parser.add_argument("--write", action="store_true", help="rewrite those TOMLs' fitted lines with the fresh fit")
    args = parser.parse_args()
    if bad := [g for g in args.gpus if g not in GPUS]:
        parser.error(f"unknown GPU {bad[0]!r}: allowed {', '.join(GPUS)}")
    raise SystemExit(main(args.gpus or list(GPUS), args.write))
