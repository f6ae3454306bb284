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
    return text + ("\n" + evidence_line(hw.name, result.algorithm) if hw.kind == "gpu" else "")


def evidence_line(hw_name: str, algorithm: str) -> str:
    """How well the bundled published timings know this family on this GPU model (validation.evidence): the
    points no figure was fitted from, or that there are none."""
    from gpu_models.loader import bundled_names
    from validation.evidence import evidence

    base = hw_name.partition(":")[0]  # NAME:MHZ is the model NAME at a locked clock
    command = f"attnsim validate evidence --hw {base} --algo {algorithm}"
    if base not in bundled_names():
        return (f"published evidence: none for a model of your own ({hw_name}); attnsim validate evidence lists "
                "the bundled models' errors")
    row = next(iter(evidence((base,), (algorithm,))), None)
    if row and row["n"]:
        sets = len(row["sets"])
        return (f"published evidence ({command}): {row['n']} timing{'s' * (row['n'] != 1)} of {algorithm} on {base} "
                f"in {sets} set{'s' * (sets != 1)}, none used in a fit: median |error| "
                f"{row['model_median_abs_error']:.1%}, bias {row['model_median_error']:+.1%}, "
                f"{row['model_within_10pct']} within 10%, worst {row['model_max_abs_error']:.0%}")
    if row:
        return (f"published evidence ({command}): only the {row['fitted_points']} timings of {algorithm} on {base} "
                "that its figures were fitted from, none held out")
    return (f"published evidence: no timing of {algorithm} on {base} in attnsim's sets; the prediction rests on "
            "the kernel's mechanisms and the GPU's figures alone (attnsim validate evidence lists what there is)")
