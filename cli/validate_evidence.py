"""``attnsim validate evidence``: how well the model knows each kernel family on each GPU, from the bundled
published timings (validation/evidence.py)."""

import json
import sys

import click

from cli._params import NameListType, not_empty
from einsum_cascades.errors import UserError
from einsum_cascades.units import short_repr
from validation.evidence import DECODE_MAX_QUERIES, PHASES, PRECISIONS

FORMATS = ("table", "json", "csv")
CSV_FIELDS = ("hardware", "algorithm", "phase", "precision", "n", "model_median_abs_error", "model_abs_error_q1",
              "model_abs_error_q3", "model_median_error", "model_max_abs_error", "model_within_10pct",
              "roofline_median_abs_error", "sets", "fitted_points", "fitted_sets")


def _bundled():
    from gpu_models.loader import bundled_names

    return bundled_names()


@click.command("evidence", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--hw", "hardware", type=NameListType(_bundled), default=None, callback=not_empty,
              help="Only these bundled hardware models (comma list), e.g. h100,b200. Default: every one with "
                   "published timings.")
@click.option("--algo", "algorithms", type=NameListType(), default=None, callback=not_empty,
              help="Only these kernel families (comma list), e.g. flash3,flashinfer-decode. Default: every one.")
@click.option("--phase", type=click.Choice(PHASES), default=None,
              help=f"Only decode calls (at most {DECODE_MAX_QUERIES} queries a request) or only prefill calls (more): "
                   "the two bind on different units, so evidence for one says little of the other. Default: both.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Only calls of 8-bit (fp8), 16-bit (fp16, bf16) or 32-bit inputs: 8-bit inputs run other kernels. "
                   "Default: every width.")
@click.option("--split", is_flag=True,
              help="A row per phase and input width (decode 16-bit, prefill 8-bit, ...) of each GPU and family, "
                   "instead of one per GPU and family: how the model does in each regime, in one table.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="table (default on a terminal), json (default when piped, as simulate and validate report) or csv.")
def evidence(hardware, algorithms, phase, precision, split, fmt):
    """How far to trust a prediction: the model's errors on the published timings bundled with attnsim.

    Per hardware model and kernel family, over the points of validation/published/ that no bundled figure was
    fitted from (a fitted point shows the fit, not the model's reach): how many, the median |predicted /
    measured - 1|, the bias (the signed median: + the model predicts longer than measured, - shorter), the
    worst, how many fall within 10%, the one-line roofline's median on the same points, and the sets they come
    from; the points a figure was fitted from are counted apart. A family and GPU with no row have no published
    timing: there the prediction rests on the kernel's mechanisms and the GPU's figures alone. --phase and
    --precision keep the calls like yours, as `attnsim simulate --explain` quotes them. Per set and family:
    python3 bench/accuracy.py; point by point: attnsim validate report FILE.

    \b
    Examples:
      attnsim validate evidence
      attnsim validate evidence --hw h100 --algo flash3
      attnsim validate evidence --hw h200 --phase decode
      attnsim validate evidence --hw h100 --algo flash3 --phase prefill --precision 16-bit
      attnsim validate evidence --hw h100,h200 --split
      attnsim validate evidence --algo flashinfer-decode --format json
    """
    bundled = set(_bundled())
    hardware = tuple(h.lower() if h.lower() in bundled else h for h in hardware or ()) or hardware  # as hw show
    rows = select(hardware, algorithms, phase, precision, split)
    fmt = fmt or ("table" if sys.stdout.isatty() else "json")
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
    elif fmt == "csv":
        _csv(rows)
    else:
        _table(rows, hardware, algorithms, calls_words(phase, precision), split, (phase, precision))


def select(hardware, algorithms, phase=None, precision=None, split=False) -> list[dict]:
    """The evidence rows of these bundled hardware models and families (None: all), of one phase's and one input
    width's calls if given, with ``split`` a row per phase and width of each; an unknown name is a one-line error
    naming what is allowed."""
    if split:
        rows = [r for ph in ([phase] if phase else PHASES) for pr in ([precision] if precision else PRECISIONS)
                for r in select(hardware, algorithms, ph, pr)]
        return sorted(rows, key=lambda r: (r["hardware"], r["algorithm"], PHASES.index(r["phase"]),
                                           PRECISIONS.index(r["precision"])))
    from simulator.algorithms import suggest
    from simulator.api import ALGORITHMS
    from validation.evidence import evidence as rows_of

    bundled = set(_bundled())
    for name in hardware or ():
        if name not in bundled:
            base = name.partition(":")[0]
            hint = f" (evidence is per model, whatever clock its sets ran at: use {base})" if base in bundled else ""
            raise UserError(f"unknown hardware model {short_repr(name)}{hint}: the evidence is per bundled model: "
                            f"{', '.join(sorted(bundled))}")
    every = rows_of(phase=phase, precision=precision)
    known = set(ALGORITHMS) | {r["algorithm"] for r in every}
    for name in algorithms or ():
        if name not in known:
            hint = suggest(name, ALGORITHMS)
            raise UserError(f"unknown algorithm {short_repr(name)}{f' (did you mean {hint}?)' if hint else ''}: "
                            f"allowed {', '.join(ALGORITHMS)}")
    return [r for r in every if (not hardware or r["hardware"] in hardware)
            and (not algorithms or r["algorithm"] in algorithms)]


def _csv(rows: list[dict]) -> None:
    import csv

    out = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, lineterminator="\n")
    out.writeheader()
    for r in rows:
        q1, q3 = r["model_abs_error_quartiles"] or (None, None)
        out.writerow({**{k: v for k, v in r.items() if k in CSV_FIELDS}, "model_abs_error_q1": q1,
                      "model_abs_error_q3": q3, "sets": ";".join(r["sets"]), "fitted_sets": ";".join(r["fitted_sets"])})


def _table(rows: list[dict], hardware, algorithms, calls: str = "", split: bool = False,
           selection: tuple = (None, None)) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape

    from cli._fit import print_fitted

    console = Console()
    if not rows:
        console.print(none_line(hardware, algorithms, calls), highlight=False)
        for h, a in ((h, a) for h in (hardware or ()) for a in (algorithms or ())):
            _print_sibling(console, h, a, *selection)
        return
    regime = ["calls"] if split else []
    cells = [[r["hardware"], escape(r["algorithm"])] + ([calls_words(r["phase"], r["precision"])] if split else [])
             + [str(r["n"]), _pct(r["model_median_abs_error"]), _signed(r["model_median_error"]),
                _pct(r["model_max_abs_error"]), f"{r['model_within_10pct']}/{r['n']}" if r["n"] else "-",
                _pct(r["roofline_median_abs_error"]), str(len(r["sets"])), str(r["fitted_points"])] for r in rows]
    print_fitted(("hw", "algorithm", *regime, "points", "median", "bias", "worst", "in 10%", "roofline", "sets",
                  "fitted"),
                 cells, names=("algorithm",), text=("algorithm",),
                 right=("points", "median", "bias", "worst", "in 10%", "roofline", "sets", "fitted"),
                 shared=("hw", "algorithm", *regime),
                 drop=("roofline", "sets", "worst", *(("fitted", "bias") if split else ())),
                 dropped_hint="--format json has every field", console=console, box=box.SIMPLE_HEAD, pad_edge=False,
                 collapse_padding=True, header_style="bold", caption_justify="left",
                 caption=f"points: published timings{_of_calls(calls)} no bundled figure was fitted from; median, "
                         "bias, worst: predicted / measured - 1 on them; fitted: points a figure was fitted from, not "
                         "counted")
    gaps = [(h, a) for h in (hardware or ()) for a in (algorithms or ()) if not any(
        r["hardware"] == h and r["algorithm"] == a for r in rows)]
    for h, a in gaps:
        console.print(none_line((h,), (a,), calls), highlight=False)
        _print_sibling(console, h, a, *selection)


def _print_sibling(console, hw_name: str, algorithm: str, phase: str | None = None,
                   precision: str | None = None) -> None:
    """Where another part of ``hw_name``'s architecture has held-out timings of ``algorithm``, the command that
    lists them (``_same_arch``): of calls like these (``phase``, ``precision``) where it has some, else of any,
    saying so."""
    from gpu_models.loader import bundled_names
    from validation.evidence import evidence

    if hw_name not in bundled_names():
        return
    sibling = _same_arch(hw_name, algorithm, phase, precision)
    if sibling is None:
        return
    name, arch = sibling
    if (phase or precision) and any(r["n"] for r in evidence((name,), (algorithm,), phase, precision)):
        console.print(f"  another {arch} part has some: {_command(name, algorithm, phase, precision)}",
                      highlight=False)
    elif phase or precision:
        console.print(f"  no {arch} part has any of these calls; another has {algorithm} timings of other calls: "
                      f"{_command(name, algorithm)}", highlight=False)
    else:
        console.print(f"  another {arch} part has some: {_command(name, algorithm)}", highlight=False)


def none_line(hardware, algorithms, calls: str = "") -> str:
    """What to say where the bundled sets hold no timing of these families on these GPUs (of these ``calls``:
    ``calls_words``' words, or all)."""
    return "no published " + _rests_on((" or ".join(algorithms) if algorithms else "any family") + _of_calls(calls),
                                       " or ".join(hardware) if hardware else "any GPU")


def calls_words(phase: str | None, precision: str | None) -> str:
    """The calls a selection keeps, in words: 'decode 16-bit', 'prefill', '' (all)."""
    return " ".join(x for x in (phase, precision) if x)


def _of_calls(calls: str) -> str:
    return f" ({calls} calls)" if calls else ""


def _rests_on(what: str, where: str) -> str:
    return (f"timing of {what} on {where} in attnsim's sets; the prediction rests on the kernel's mechanisms and the "
            "GPU's figures alone (attnsim validate evidence lists what there is)")


def evidence_line(hw_name: str, algorithm: str, family: str | None = None, phase: str | None = None,
                  precision: str | None = None) -> str:
    """How well the bundled published timings know this family on this GPU model (validation.evidence): the
    points no figure was fitted from, or that there are none; for a cascade with none of its own, those of the
    ``family`` it runs on. With a ``phase`` and a ``precision`` (a call's: validation.evidence.phase_of,
    precision_of), the points of calls like it, and where the sets hold none, says so before quoting the nearest
    that they do hold (the same phase, then the same precision, then all). A TOML bearing a bundled model's
    name is refused as it loads (gpu_models.loader), so a bundled name here is that model."""
    from gpu_models.loader import bundled_names
    from validation.evidence import evidence

    base = hw_name.partition(":")[0]  # NAME:MHZ is the model NAME at a locked clock
    if base not in bundled_names():
        return (f"published evidence: none for a model of your own ({hw_name}); attnsim validate evidence lists "
                "the bundled models' errors")
    row = next(iter(evidence((base,), (algorithm,))), None)
    if row is None and family and family != algorithm:
        of_family = next(iter(evidence((base,), (family,))), None)
        if of_family and of_family["n"]:
            return (f"published evidence: none of {algorithm} itself; of the family it runs on, "
                    + _narrowed(base, family, phase, precision, lead=f"{family} "))
    if row is None:
        sibling = _same_arch(base, algorithm, phase, precision)
        if sibling is None:
            return f"published evidence: no {_rests_on(algorithm, base)}"
        name, arch = sibling
        return (f"published evidence: no timing of {algorithm} on {base} in attnsim's sets; on {name}, another {arch} "
                "part " + _narrowed(name, algorithm, phase, precision))
    return "published evidence " + _narrowed(base, algorithm, phase, precision)


def _same_arch(base: str, algorithm: str, phase: str | None, precision: str | None) -> tuple[str, str] | None:
    """(name, arch) of the bundled GPU model of ``base``'s architecture (another part with the same SM: the B300's
    GB300, the H800's H100) with the most held-out timings of ``algorithm`` in calls like this one (``phase``,
    ``precision``), else in any; None where no other part of it has any."""
    from gpu_models.loader import bundled_names
    from simulator.api import hardware
    from validation.evidence import evidence

    spec = hardware(base)
    if spec.kind != "gpu":
        return None
    others = [n for n in bundled_names() if n != base and hardware(n).kind == "gpu" and hardware(n).arch == spec.arch]
    for selection in ((phase, precision), (None, None)):
        rows = [r for n in others for r in evidence((n,), (algorithm,), *selection) if r["n"]]
        if rows:
            return max(rows, key=lambda r: (r["n"], r["hardware"]))["hardware"], spec.arch
    return None


def _narrowed(base: str, algorithm: str, phase: str | None, precision: str | None, lead: str = "") -> str:
    """The evidence of the calls like this one (``phase``, ``precision``); where the sets hold none of them held
    out, what they hold of them (fitted points, or none) and then the nearest selection that has some: the same
    phase, the same precision, every call."""
    from validation.evidence import evidence

    wanted = (phase, precision)
    selections = list(dict.fromkeys([wanted, (phase, None), (None, precision), (None, None)]))
    rows = {sel: next(iter(evidence((base,), (algorithm,), *sel)), None) for sel in selections}
    mine, calls = rows[wanted], calls_words(*wanted)
    if mine and mine["n"]:
        return f"{lead}({_command(base, algorithm, *wanted)}): {_summary(mine, algorithm, base, calls)}"
    if wanted == (None, None):
        return f"{lead}({_command(base, algorithm)}): {_fitted_only(mine, algorithm, base, '')}"
    head = _fitted_only(mine, algorithm, base, calls) if mine else f"none of {calls} calls"
    broader = next((sel for sel in selections[1:] if rows[sel] and rows[sel]["n"]), None)
    if broader is not None:
        return (f"{lead}({_command(base, algorithm, *broader)}): {head}; "
                f"{_summary(rows[broader], algorithm, base, calls_words(*broader))}")
    fitted = next((sel for sel in selections[1:] if rows[sel]), None)
    if fitted is None or mine:
        return f"{lead}({_command(base, algorithm)}): {head}"
    tail = _fitted_only(rows[fitted], algorithm, base, calls_words(*fitted))
    return f"{lead}({_command(base, algorithm)}): {head}; {tail}"


def _fitted_only(row: dict, algorithm: str, base: str, calls: str) -> str:
    kind = f"{calls} " if calls else ""
    return (f"only the {row['fitted_points']} {kind}timings of {algorithm} on {base} that its figures were fitted "
            "from, none held out")


def _command(base: str, algorithm: str, phase: str | None = None, precision: str | None = None) -> str:
    return (f"attnsim validate evidence --hw {base} --algo {algorithm}" + (f" --phase {phase}" if phase else "")
            + (f" --precision {precision}" if precision else ""))


def _summary(row: dict, algorithm: str, base: str, calls: str = "") -> str:
    """An evidence row with points, in words (``calls``: which calls it holds, ``calls_words``' words)."""
    n, sets = row["n"], len(row["sets"])
    kind = f"{calls} " if calls else ""
    return (f"{n} {kind}timing{'s' * (n != 1)} of {algorithm} on {base} in {sets} set{'s' * (sets != 1)}, none used "
            f"in a fit: median |error| {row['model_median_abs_error']:.1%}, bias {row['model_median_error']:+.1%}, "
            f"{row['model_within_10pct']} within 10%, worst {row['model_max_abs_error']:.0%}")


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def _signed(x) -> str:
    return "-" if x is None else f"{x:+.1%}"
