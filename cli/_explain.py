"""Print ``simulate --explain`` for one result row."""

from dataclasses import fields


def explain_point(row: dict) -> str:
    """The row's ``hardware`` is the machine as given (a TOML's path: simulator.api._as_given), so it loads again."""
    from simulator.api import evaluate, hardware
    from simulator.explain import explain_accel, explain_gpu
    from simulator.workload import Workload

    hw = hardware(row["hardware"])
    if row.get("method") and (calls := _method_calls(row)):
        return _explain_calls(hw, row, *calls)
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
    text += _floor_line(hw, wl, row["algorithm"], result)
    from cli.validate_evidence import evidence_line
    from simulator.api import resolve_algorithm
    from validation.evidence import phase_of, precision_of

    return text + "\n" + evidence_line(hw.name, result.algorithm, resolve_algorithm(hw, row["algorithm"]).family,
                                       phase_of(wl.seq_len), precision_of(wl.dtype))


def _method_calls(row: dict):
    """A method row's several kernel calls (``simulator.methods.method_calls``), or None where it is one call."""
    from simulator.methods import method_calls

    return method_calls(row["method"], row)


def _explain_calls(hw, row: dict, note: str, calls: list[dict]) -> str:
    """Each of a method's kernel calls explained in turn, then their sum and the speedup over the baseline."""
    from simulator.api import evaluate
    from simulator.explain import explain_gpu
    from simulator.workload import Workload

    parts, total = [note], 0.0
    for i, call in enumerate(calls, 1):
        wl = Workload(**{f.name: call[f.name] for f in fields(Workload) if f.name in call})
        result = evaluate(hw, call["algorithm"], wl)
        total += result.time_s
        parts.append(f"\ncall {i} of {len(calls)} ({wl.heads} query heads, {wl.kv_len:,} keys):\n"
                     + explain_gpu(hw, call["algorithm"], wl, result))
    parts.append(f"\ntime = {total * 1e3:.4f} ms, the calls summed")
    if row.get("speedup") is not None:
        parts.append(f"baseline {row['baseline']} (every head, dense): {row['baseline_time_s'] * 1e3:.4f} ms -> "
                     f"speedup {row['speedup']:.2f}x")
    return "\n".join(parts)


def _floor_line(hw, wl, algorithm: str, result) -> str:
    """The call's floor on this GPU (validation.roofline.floor_time_s, at the FLOPs of the scores its mask keeps) and
    the prediction's share of that speed of light; nothing for a cascade, whose work may be other (no floor is
    sure)."""
    from validation.roofline import floor_clock_hz, floor_reason, floor_time_s, l2_held_bytes, reads_every_key

    floor, time_s = floor_time_s(hw, wl, algorithm, result.flops), result.time_s
    if floor is None or not time_s:
        return ""
    seconds, bound = floor
    what = floor_reason(bound, reads_every_key(wl.pattern, wl.sparsity), floor_clock_hz(hw))
    if bound == "hbm" and (held := l2_held_bytes(hw, wl)):  # as floor_time_s takes them
        what += f", less the {held / 2**20:.0f} MiB of L2 a call timed without an L2 flush may find them in"
    return (f"\nfloor: {seconds * 1e3:.4f} ms, which no kernel beats on this GPU ({what}); "
            f"this prediction runs at {seconds / time_s:.0%} of that speed")
