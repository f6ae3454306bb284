"""Print ``simulate --explain`` for one result row."""

from dataclasses import fields


def explain_point(row: dict, machine: str | None = None) -> str:
    """``machine``: the --hw the row was simulated on as given (a TOML's path), where it differs from the row's
    ``hardware``, the machine's name."""
    from simulator.api import evaluate, hardware
    from simulator.explain import explain_accel, explain_gpu
    from simulator.workload import Workload

    hw = hardware(machine or row["hardware"])
    wl = Workload(**{f.name: row[f.name] for f in fields(Workload) if f.name in row})
    result = evaluate(hw, row["algorithm"], wl)
    text = explain_gpu(hw, row["algorithm"], wl, result) if hw.kind == "gpu" else explain_accel(hw, row["algorithm"], wl, result)
    if row.get("baseline_time_s") is None or row.get("speedup") is None:  # no baseline, or it does not fit: the note says
        text += f"\nbaseline {row.get('baseline') or '-'}: no time, so no speedup" + (
            " (it does not fit in memory)" if row.get("baseline_fits") is False else "")
    else:
        text += f"\nbaseline {row['baseline']}: {row['baseline_time_s'] * 1e3:.4f} ms -> speedup {row['speedup']:.2f}x"
    if hw.kind != "gpu":
        return text
    from simulator.api import resolve_algorithm

    return text + "\n" + evidence_line(hw.name, result.algorithm, resolve_algorithm(hw, row["algorithm"]).family)


def evidence_line(hw_name: str, algorithm: str, family: str | None = None) -> str:
    """How well the bundled published timings know this family on this GPU model (validation.evidence): the
    points no figure was fitted from, or that there are none; for a cascade with none of its own, those of the
    ``family`` it runs on."""
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
            return (f"published evidence: none of {algorithm} itself; of the family it runs on, {family} "
                    f"({_command(base, family)}): {_summary(of_family, family, base)}")
    if row and row["n"]:
        return f"published evidence ({_command(base, algorithm)}): {_summary(row, algorithm, base)}"
    if row:
        return (f"published evidence ({_command(base, algorithm)}): only the {row['fitted_points']} timings of "
                f"{algorithm} on {base} that its figures were fitted from, none held out")
    return (f"published evidence: no timing of {algorithm} on {base} in attnsim's sets; the prediction rests on "
            "the kernel's mechanisms and the GPU's figures alone (attnsim validate evidence lists what there is)")


def _command(base: str, algorithm: str) -> str:
    return f"attnsim validate evidence --hw {base} --algo {algorithm}"


def _summary(row: dict, algorithm: str, base: str) -> str:
    """An evidence row with points, in words."""
    n, sets = row["n"], len(row["sets"])
    return (f"{n} timing{'s' * (n != 1)} of {algorithm} on {base} in {sets} set{'s' * (sets != 1)}, none used in a "
            f"fit: median |error| {row['model_median_abs_error']:.1%}, bias {row['model_median_error']:+.1%}, "
            f"{row['model_within_10pct']} within 10%, worst {row['model_max_abs_error']:.0%}")
