"""What ``--algo`` names: a kernel family or accelerator configuration, or a cascade (bundled name or a
``.cascade`` file) with an optional ``@MAPPING`` (``attention-3pass@flash3``, ``./mine.cascade@flash2``).

A cascade runs on a mapping of the machine: a GPU's fused kernel families (``flash2``, ``flash3``,
``flash4``, ``flash-decoding``) or ``unfused``; an accelerator's configurations (``fusemax``,
``fusemax-arch``, ``fusemax-cascade``, ``flat``, ``unfused``); without ``@MAPPING`` the machine's default.
The built-in families are themselves mappings of library cascades: ``flash3`` is ``attention-1pass@flash3``,
``naive`` is ``attention-3pass@unfused`` on a GPU, ``fusemax`` is ``attention-1pass@fusemax`` and ``flat``
``attention-3pass@flat`` on an accelerator.
"""

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from einsum_cascades.errors import UserError, listed, name_key
from einsum_cascades.library import cascade_version, file_version

ACCEL_FAMILIES = ("unfused", "flat", "fusemax-cascade", "fusemax-arch", "fusemax")  # simulator.accel_model runs them
FUSED_MAPPINGS = ("flash2", "flash3", "flash4", "flash-decoding")
GPU_MAPPINGS = FUSED_MAPPINGS + ("unfused",)
NAIVE_CASCADE = "attention-3pass"  # what standard attention computes, kernel by kernel


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A resolved ``--algo``: the family or configuration that runs, and the cascade it runs (None: its own)."""

    family: str
    cascade: str | None = None
    text: str = ""


def resolve(hw, algo: str, families: tuple, default: str) -> Algorithm:
    """``algo`` as a family and cascade on machine ``hw``; ``families``: every family and configuration name;
    ``default``: the machine's default family. Cached per machine, name and cascade file version."""
    if algo in families:
        return Algorithm(algo, None, algo)
    name = algo.rpartition("@")[0] if "@" in algo else algo
    return _resolve(hw.kind, hw.name, algo, families, default, None if name in _cascade_names() else file_version(name))


@lru_cache(maxsize=256)
def _resolve(kind: str, hw_name: str, algo: str, families: tuple, default: str, _version) -> Algorithm:
    name, at, mapping = algo.rpartition("@") if "@" in algo else (algo, "", "")
    if not _is_cascade(name) and (name.endswith(".cascade") or "/" in name or os.sep in name):
        if not os.path.isfile(name):  # a path, not a family misspelt: what is wrong with it (none there, a directory)
            from einsum_cascades import load_cascade

            load_cascade(name)
        raise UserError(f"cascade file {name!r}: --algo takes a cascade file whose name ends in .cascade")
    if not _is_cascade(name):
        if at and name in families:  # flash2@nosuch: a family and an '@' past which no machine is named
            raise UserError(f"bad {algo!r}: {mapping!r} after '@' is no machine (attnsim hw list, or a TOML path) and "
                            f"{name} takes no mapping: write {name}@MACHINE for a baseline on another machine")
        hint = suggest(algo, families)
        raise UserError(f"unknown algorithm {algo!r}{f' (did you mean {hint}?)' if hint else ''}: allowed "
                        f"{', '.join(families)}, a bundled cascade ({', '.join(_cascade_names())}) or a .cascade "
                        "file, optionally @MAPPING")
    _check_attention(name)
    if at and not mapping:
        raise UserError(f"bad algorithm {algo!r}: nothing after '@': give a mapping ({', '.join(mappings(kind))}) "
                        f"or leave out the '@' for {default}")
    mapping = mapping or default
    if kind != "gpu":
        if mapping not in ACCEL_FAMILIES:
            what = "a GPU mapping" if mapping in families or mapping in GPU_MAPPINGS else "not a mapping"
            raise UserError(f"bad mapping {mapping!r} in {algo!r}: {what}; {hw_name} is an accelerator: allowed "
                            f"{', '.join(ACCEL_FAMILIES)}")
        return Algorithm(mapping, name, algo)
    if mapping not in GPU_MAPPINGS:
        what = ("an accelerator configuration" if mapping in ACCEL_FAMILIES
                else "a kernel family that runs its own attention" if mapping in families else "not a mapping")
        raise UserError(f"bad mapping {mapping!r} in {algo!r}: {what}; {hw_name} is a GPU: allowed "
                        f"{', '.join(GPU_MAPPINGS)}")
    if mapping == "unfused":
        if Path(name).stem != NAIVE_CASCADE and name != NAIVE_CASCADE:
            raise UserError(f"{algo!r}: the unfused GPU mapping runs standard attention's kernels, the "
                            f"{NAIVE_CASCADE} cascade (naive); map {name!r} onto {', '.join(FUSED_MAPPINGS)}")
        return Algorithm("naive", None, algo)
    return Algorithm(mapping, name, algo)


def mappings(kind: str) -> tuple:
    """The mappings a cascade takes on a machine of ``kind`` ("gpu" or "accelerator")."""
    return GPU_MAPPINGS if kind == "gpu" else ACCEL_FAMILIES


def completions(families: tuple, incomplete: str) -> list[str]:
    """``--algo`` values starting with ``incomplete``: families, bundled cascades, and after a cascade's '@'
    (a bundled one or a file) its mappings on either kind of machine."""
    name, at, mapping = incomplete.rpartition("@")
    if at:
        return [f"{name}@{m}" for m in dict.fromkeys(GPU_MAPPINGS + ACCEL_FAMILIES) if m.startswith(mapping)]
    return [n for n in (*families, *_cascade_names()) if n.startswith(incomplete)]


def _cascade_names() -> tuple[str, ...]:
    from einsum_cascades.library import _names

    return _names()


def _is_cascade(name: str) -> bool:
    return name in _cascade_names() or (name.endswith(".cascade") and Path(name).is_file())


def _check_attention(name: str) -> None:
    """A cascade must compute one attention output from Q, K and V over query rank p and key rank m."""
    from einsum_cascades import load_cascade
    from einsum_cascades.passes import families

    cascade = load_cascade(name)  # refuses a tensor no line computes and Q, K or V misread
    fam = families(cascade)
    if set(cascade.inputs) != {"Q", "K", "V"} or len(cascade.outputs) != 1 or not {"p", "m"} <= set(fam.values()):
        raise UserError(f"cascade {name!r} does not produce an attention output from Q, K, V: it reads "
                        f"{listed(cascade.inputs)}, writes {listed(cascade.outputs)}, and its ranks are "
                        f"{listed(sorted(fam))} (attnsim maps query rank p and key rank m, or their "
                        "partitions p1, p0 and m1, m0)")
    if (passes := cascade.passes().get("p", 1)) > 1:
        raise UserError(_query_passes_error(name, cascade, passes))


def _query_passes_error(name: str, cascade, passes: int) -> str:
    """Why a cascade with passes over the queries cannot be costed: both compilers walk each query tile's keys, so
    a reduction over the queries read back over them (a softmax over p) would be priced as one pass."""
    from einsum_cascades.passes import einsum_passes, families

    fam, level = families(cascade), einsum_passes(cascade, "p")
    first = next(e for e in cascade.einsums if any(fam[v] == "p" for v in e.reduced)
                 and not any(fam[v] == "p" for v in e.out_vars))
    second = next(e for e in cascade.einsums if level[e.output] == 2)
    return (f"cascade {name!r}: {passes} passes over the query rank p are not modelled ({first.output} reduces over "
            f"the queries in '{' '.join(first.text.split())}', so {second.output} needs a second pass over them): "
            "attnsim costs cascades that make one pass over the queries, each query's passes over the keys m "
            "(reductions over m, as a softmax over the keys)")


REFERENCE_NOTE_TOLERANCE = 1e-6  # a user's cascade off its reference by more (float64, small random inputs) says so


def reference_note(cascade_name: str | None) -> str | None:
    """Where a cascade file (not a bundled cascade) does not compute its reference (its '# reference:' line, else
    softmax) on `attnsim cascade check`'s small random inputs: a row's note saying so, since its cost is still
    predicted; None for a bundled cascade, one that matches, and '# reference: none'."""
    if not cascade_name or cascade_name in _cascade_names():
        return None
    from einsum_cascades.library import cascade_version

    return _reference_note(cascade_name, cascade_version(cascade_name))


@lru_cache(maxsize=64)
def _reference_note(cascade_name: str, _version) -> str | None:
    from einsum_cascades import load_cascade
    from einsum_cascades.reference import check, reference_name

    cascade = load_cascade(cascade_name)
    if cascade.reference == "none":
        return None
    used = reference_name(cascade)
    try:
        err = check(cascade, 64, 64, 16)
    except UserError as why:  # an output other than AV[f,p], an index past its rank's extent: said, not priced silently
        return (f"{cascade.name} cannot be checked against its reference, {used} attention ({why}: attnsim cascade "
                f"check {cascade_name}); its cost is predicted as written")
    except (ValueError, FloatingPointError, ZeroDivisionError):
        return None  # what a check cannot run it says itself (attnsim cascade check)
    if err <= REFERENCE_NOTE_TOLERANCE:
        return None
    return (f"{cascade.name} does not compute its reference, {used} attention (max |error| {err:.3g} on random "
            f"inputs: attnsim cascade check {cascade_name}); its cost is predicted as written")


def chunk_error(cascade_name: str, wl) -> str | None:
    """Why a cascade that takes its queries' chunks from the keys' (lightning attention: S[m1,m0,p0] reads the
    queries of key chunk m1) cannot run a workload whose query and key lengths differ (None if it can)."""
    if wl.seq_len != wl.kv_len and _aligned_chunks(cascade_name, cascade_version(cascade_name)):
        return (f"{cascade_name} chunks the queries with the keys (an Einsum over a query of a chunk takes the "
                f"chunk from the keys): it needs --kv-len equal to --seq-len ({wl.seq_len}), got {wl.kv_len}")
    return None


@lru_cache(maxsize=64)
def _aligned_chunks(cascade_name: str, _version) -> bool:
    from einsum_cascades import load_cascade
    from einsum_cascades.passes import families

    cascade = load_cascade(cascade_name)
    fam = families(cascade)
    parts = [v for v, f in fam.items() if f == "p" and v != "p"]
    coarse = [v for v in parts if not v.endswith("0")]
    key_coarse = [v for v, f in fam.items() if f == "m" and v[-1:].isdigit() and not v.endswith("0")]
    return any(set(e.vars) & set(parts) and not set(e.vars) & set(coarse) and set(e.vars) & set(key_coarse)
               for e in cascade.einsums)


# what people call the kernels (FA3, flash_attn, FlashAttention-2, eager attention), letters and digits only,
# lower case (errors.name_key) -> attnsim's family; a suggestion in the error, never taken in its place
_COMMON_NAMES = {
    **dict.fromkeys(("fa1", "flashattention1", "flashattn1"), "flash1"),  # unnumbered FlashAttention: no guess
    **dict.fromkeys(("fa2", "flashattention2", "flashattn", "flashattn2"), "flash2"),
    **dict.fromkeys(("fa3", "flashattention3", "flashattn3", "flashattninterface", "hopper"), "flash3"),
    **dict.fromkeys(("fa4", "flashattention4", "flashattn4", "flashattncute", "cute"), "flash4"),
    **dict.fromkeys(("flashdecoding", "splitkv", "flashattndecode"), "flash-decoding"),
    **dict.fromkeys(("eager", "standard", "vanilla", "pytorch", "torch", "manual"), "naive"),
    "flashinfer": "flashinfer-decode, flashinfer-prefill or another flashinfer-* family",
}


def suggest(algo: str, families: tuple) -> str | None:
    """The family an unknown ``--algo`` most likely means: a common name for it (fa3, FlashAttention-2, eager), or
    the closest family name (difflib), or None."""
    import difflib

    if (common := _COMMON_NAMES.get(name_key(algo))) is not None:
        return common
    close = difflib.get_close_matches(algo.lower(), families, n=1, cutoff=0.75)
    return close[0] if close else None

