"""The workload options shared by ``simulate`` and ``sweep`` and their cartesian product."""

import itertools
import math

import click

from cli._params import FLOAT_LIST, SIZE, NameListType, SizeListType
from einsum_cascades import cascade_names
from einsum_cascades.errors import UserError
from gpu_models.loader import bundled_names
from simulator.algorithms import ACCEL_FAMILIES, completions, mappings
from simulator.api import ALGORITHMS
from simulator.gpu_kernels import GPU_FAMILIES
from simulator.estimate import ESTIMATES
from simulator.methods import METHODS
from simulator.presets import MODELS
from simulator.workload import MAX_NUM_SPLITS, MAX_SIZES

class AlgoListType(NameListType):
    """``--algo``: names as NameListType, completed with the families, the bundled cascades and, after a
    cascade's '@', its mappings."""

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        return [CompletionItem(prefix + n) for n in completions(ALGORITHMS, last)]

    def convert(self, value, param, ctx):
        return [_known_case(name) for name in super().convert(value, param, ctx)]


def _known_case(name: str) -> str:
    """A family, bundled cascade or mapping named in another case (FLASH3, Attention-1pass@Flash3) as attnsim spells
    it, as --hw takes H100; a .cascade file's path and a TOML's keep theirs."""
    base, at, mapping = name.partition("@")
    known = set(ALGORITHMS) | set(cascade_names())
    if base.lower() in known and base not in known:
        base = base.lower()
    if at and mapping.lower() in set(ALGORITHMS) | set(bundled_names()) | set(mappings("gpu")) | set(
            mappings("accelerator")) and not mapping.lower().endswith(".toml"):
        mapping = mapping.lower()
    return base + at + mapping


# option name -> (list-capable, help)
_OPTIONS = [
    click.option("--hw", "hardware", type=NameListType(bundled_names), default="h100", show_default=True,
                 help=f"Machine: {', '.join(bundled_names())} (attnsim hw list) or a path to a TOML; NAME:MHZ is the GPU with "
                      "its SMs locked at MHZ (nvidia-smi --lock-gpu-clocks: h100:1500, up to its highest clock); comma "
                      "list allowed."),
    click.option("--algo", "algorithm", type=AlgoListType(), default=None,
                 help=f"Kernel family (GPU: {', '.join(GPU_FAMILIES)}; accelerator: {', '.join(ACCEL_FAMILIES)}), or "
                      f"a cascade: bundled ({', '.join(cascade_names())}; attnsim cascade list) or a .cascade file, "
                      f"optionally @MAPPING (GPU: {', '.join(mappings('gpu'))}; accelerator: "
                      f"{', '.join(mappings('accelerator'))}), e.g. attention-3pass@flash3. Comma list allowed. "
                      "Default: the machine's best (flash4 on B200, flash3 on H100/H200, flash2 on A100, fusemax, "
                      "flat); a cascade without @MAPPING runs on that mapping."),
    click.option("--seq-len", type=SizeListType(MAX_SIZES["seq_len"]), default="4k", show_default=True,
                 help="Query length: 4096, 4k, 1m; lists 1k,4k or power-of-two ranges 1k..1m."),
    click.option("--kv-len", type=SizeListType(MAX_SIZES["kv_len"]), default=None,
                 help="Key/value length (default: --seq-len)."),
    click.option("--sparsity", type=FLOAT_LIST, default=None,
                 help="Fraction of empty tiles in [0, 1) (default 0): alone, random empty tiles at the kernel's "
                      "tile size (with --causal, that fraction of the causal tiles); with --pattern, the pattern's "
                      "size is solved to reach it (of all tiles: a causal pattern counts its empty half)."),
    click.option("--pattern", default=None,
                 help="Mask expression: full, causal, window(w), window(l,r), chunked(w), sinks(n), strided(s), "
                      "global(n), random_blocks(d), topk(k), budget(n), vertical_slash(v,s[,place=log|even]), "
                      "window2d(H,W,kh,kw), window3d(T,H,W,kt,kh,kw) (each with optional stride=(...), and NATTEN's tile "
                      "shapes as q_tile=(...),kv_tile=(...)), joined with & and |; per-head groups "
                      "heads(n1: P1, n2: P2, ...) with counts summing to --heads."),
    click.option("--estimate", default=None, shell_complete=lambda ctx, param, incomplete: [
                     e for e in ESTIMATES if e.startswith(incomplete)],
                 help=f"A dynamic sparse method's index-building step, timed with the call (estimate_s, part of "
                      f"time_s and the speedup): {', '.join(ESTIMATES)}."),
    click.option("--block-size", type=SIZE, default=None,
                 help="Tile size of the block-sparse kernel (default: the kernel's own tiles)."),
    click.option("--page-size", type=SIZE, default=None,
                 help="Tokens per page of a paged KV cache the call reads (a serving engine's block size, e.g. "
                      "16; FA2 takes multiples of 256, FA4 128). Default: a contiguous cache, or under --scope "
                      "layer the engine's paged cache. It picks the kernel path: FA2's split-KV kernel, FA3's "
                      "TMA or cp.async loads, FlashInfer's page reads."),
    click.option("--varlen/--no-varlen", default=False,
                 help="The call goes through the variable-length entry point (flash_attn_varlen_func: the batch's "
                      "sequences packed with cu_seqlens, each of --seq-len), as a serving engine's prefill does: "
                      "FA3's varlen scheduler (today's builds: its scheduler kernel and packed GQA; 2024's: one "
                      "CTA per tile, not persistent), no split on a contiguous cache, FA2 without its split-KV "
                      "kernel. flash1, flash2, flash3, flashinfer-prefill and flashinfer-prefill-fa2 only. Default: "
                      "off (--scope layer calls are varlen whatever it says)."),
    click.option("--num-splits", type=SizeListType(MAX_NUM_SPLITS, zero=True,
                                                   why=" (FA3's and FA4's limit; flash-decoding takes 128)"),
                 default=None,
                 help="KV splits the call asks for (flash_attn_with_kvcache(num_splits=N): flash-decoding up to 128, "
                      "flash3 on decode calls, flash4 on any call on Blackwell; 0 asks for the kernel's split "
                      "heuristic, as num_splits=0 does, which FA4's flash_attn_func runs only when asked; 1 alone is FlashInfer's plan(disable_split_kv=True) for "
                      "flashinfer-decode-tc, flashinfer-prefill and flashinfer-prefill-fa2, and its single-request "
                      "kernels called without a tmp buffer). FA3 takes N as a cap "
                      "on each sequence's own count. 1 is what batch-invariant serving sets. Lists 1,4 or ranges "
                      "1..64. Default: the kernel's own choice (its split heuristic; the column splits says what "
                      "it ran)."),
    click.option("--batch", type=SizeListType(MAX_SIZES["batch"]), default=None,
                 help="Batch size (default 1, or the --model's)."),
    click.option("--heads", type=SizeListType(MAX_SIZES["heads"]), default=None,
                 help="Query heads (default 32, or the --model's, or a --method's own model: NSA 64/4)."),
    click.option("--kv-heads", type=SizeListType(MAX_SIZES["kv_heads"]), default=None,
                 help="KV heads for GQA/MQA (default: --heads, or the --model's or --method's)."),
    click.option("--head-dim", type=SizeListType(MAX_SIZES["head_dim"]), default=None,
                 help="Head dimension (default 128, or the --model's)."),
    click.option("--v-head-dim", type=SizeListType(MAX_SIZES["head_dim"]), default=None,
                 help="Value (and output) head dimension, when it differs from --head-dim (MLA prefill: "
                      "--head-dim 192 --v-head-dim 128). Default: --head-dim."),
    click.option("--causal/--no-causal", default=None,
                 help="Causal mask, intersected with --pattern (default: non-causal, or the --model's: LLMs are causal)."),
    click.option("--scope", type=click.Choice(["kernel", "kernel-warm", "layer"]), default="kernel", show_default=True,
                 help="What is timed: the kernel family's kernels as a benchmark that flushes L2 before each call "
                      "times them (kernel: the flush leaves dirty lines the call's reads write back), or as one "
                      "that repeats the call without a flush (kernel-warm), or a serving engine's attention "
                      "layer call (layer: adds the KV-cache append, FA3's scheduler kernel and CUDA-graph "
                      "launches; --explain lists them)."),
    click.option("--dtype", type=click.Choice(["fp16", "bf16", "fp8"], case_sensitive=False), default=None,
                 help="Element type (default: fp16, or the --model's)."),
    click.option("--model", default=None, shell_complete=lambda ctx, param, incomplete: [
                     m for m in MODELS if m.startswith(incomplete)],
                 help=f"Preset: {', '.join(MODELS)} (attnsim model list), or a HuggingFace config.json. Sets "
                      "batch, heads, KV heads and head dim (MLA: its prefill form, e.g. 192/128); LLMs also causal, "
                      "their dtype and a sliding window every layer runs (used when --pattern is not given; where "
                      "the layers mix windowed and full attention, the full layers' call and a note). Options given "
                      "explicitly win."),
    click.option("--method", default=None, shell_complete=lambda ctx, param, incomplete: [
                     m for m in METHODS if m.startswith(incomplete)],
                 help=f"A published sparse method: {', '.join(METHODS)} (attnsim method list). Sets its pattern, "
                      "estimate and kernel, and dense FlashAttention as the baseline; options given explicitly win, "
                      "and any head count, head dim or --model replaces the method's own model whole."),
    click.option("--baseline", default=None, callback=lambda ctx, param, value: value if value is None else
                 _known_case(value),
                 shell_complete=lambda ctx, param, incomplete: completions(ALGORITHMS, incomplete),
                 help="Algorithm to compare against. Default: the dense run of the same algorithm when the "
                      "workload is sparse, else naive (GPU) / unfused (accelerator)."),
]

MAX_POINTS = 1_000_000  # points one call may expand to (about 10 minutes of dense points)
_DEFAULT_SHAPE = dict(batch=1, heads=32, head_dim=128, sparsity=0.0)
_LIST_KEYS = ("hardware", "algorithm", "seq_len", "kv_len", "sparsity", "batch", "heads", "kv_heads", "head_dim",
              "v_head_dim", "num_splits")


def workload_options(func):
    """Decorate a click command with every workload option."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def expand_points(opts: dict, one_baseline: bool = True) -> list[dict]:
    """The cartesian product of the list options, with --method, --model and defaults filled in (explicit options
    win, then the method, then the model); ``one_baseline``: a --sparsity list's dense points take the sparse points'
    baseline (``_dense_at_zero``; not for --from's defaults, which are no points of their own)."""
    from simulator.methods import preset_fields, shape_defaults
    from simulator.presets import model_preset

    for key in ("model", "baseline", "pattern", "estimate", "method"):
        if opts.get(key) is not None and not opts[key].strip():
            raise UserError(f"bad --{key} {opts[key]!r}: empty; leave the option out for the default")
    shape = model_preset(opts["model"]) if opts.get("model") else {}
    if shape:
        from cli._notes import later
        from simulator.presets import config_notes

        for note in config_notes(opts["model"]):
            later(f"--model {opts['model']}: {note}")  # printed once the command has succeeded
    method = opts.get("method")
    own_shape = shape_defaults(method, opts) if method else {}  # the method's model where no shape is given
    preset = {**own_shape, **shape, **(preset_fields(method, opts.get("pattern")) if method else {})}
    fixed = {"causal": _given(opts, preset, "causal", False), "dtype": _given(opts, preset, "dtype", "fp16"),
             "pattern": _given(opts, preset, "pattern", None), "block_size": _given(opts, preset, "block_size", None),
             "baseline": opts["baseline"], "scope": opts.get("scope", "kernel"), "page_size": opts.get("page_size"),
             "varlen": bool(opts.get("varlen")), "estimate": _given(opts, preset, "estimate", None)}
    lists = {}
    for key in _LIST_KEYS:
        value = opts.get(key)
        if value is None:
            value = [preset.get(key, _DEFAULT_SHAPE.get(key))]
        lists[key] = value
    if fixed["pattern"] and 0 in lists["sparsity"] and any(lists["sparsity"]):
        from cli._notes import later

        later(f"--sparsity 0 with --pattern {fixed['pattern']} is the pattern as written, not sized to sparsity 0 as "
              "the other values size it: its own block density is in the block_density column (plot sparsity draws "
              "it at the sparsity it has)")
    count = math.prod(len(v) for v in lists.values())
    if count > MAX_POINTS:
        raise UserError(f"the options expand to {count:,} points; at most {MAX_POINTS:,}: shorten a list or range")
    pairs = _runnable_pairs(lists.pop("hardware"), lists.pop("algorithm"))
    keys = ("hardware", "algorithm") + tuple(lists) + tuple(fixed)
    rest = itertools.product(*lists.values(), *([v] for v in fixed.values()))
    points = [dict(zip(keys, pair + combo)) for pair, combo in itertools.product(pairs, rest)]
    if "kv_heads" in shape:  # the preset's GQA applies where the preset's head count is kept
        for point in points:
            if point["kv_heads"] is None and point["heads"] == shape.get("heads"):
                point["kv_heads"] = shape["kv_heads"]
    if shape and any(point["algorithm"] == "flashmla" for point in points):
        _absorbed(opts, points)
    if method:
        _fill_method(method, points, opts)
    elif one_baseline and opts["baseline"] is None and 0 in lists["sparsity"] and any(lists["sparsity"]):
        _dense_at_zero(points)
    return points


def _dense_at_zero(points: list[dict]) -> None:
    """A --sparsity list from 0: its dense points take the baseline the sparse ones take, the same kernel run dense
    (speedup 1), not the unfused kernel a lone dense point is compared with, so the column keeps one meaning."""
    from simulator.api import default_algorithm, hardware

    for point in points:
        if not point["sparsity"] and not point["pattern"] and not point["estimate"]:
            spec = hardware(point["hardware"])
            if spec.kind == "gpu":  # an accelerator runs no sparse point: its dense one keeps its own baseline
                point["baseline"] = point["algorithm"] or default_algorithm(spec)


def _absorbed(opts: dict, points: list[dict]) -> None:
    """A --model with multi-head latent attention run by flashmla: its absorbed form (one latent KV head, K of the
    latent and RoPE columns, V the latent), where the command line does not set those fields itself."""
    from simulator.presets import absorbed_shape

    absorbed = absorbed_shape(opts["model"])
    if absorbed is None:
        return
    for point in points:
        if point["algorithm"] == "flashmla":
            for key, value in absorbed.items():
                if opts.get(key) is None:
                    point[key] = value


def _fill_method(name: str, points: list[dict], opts: dict) -> None:
    """Per point: the preset's pattern for its heads or length, and dense FlashAttention (the machine's best family,
    at its own tiles) as the baseline unless --baseline names one."""
    from simulator.api import default_algorithm, hardware
    from simulator.methods import MASK_FIELDS, dense_call, fill_pattern, several_calls

    for point in points:
        point["method"] = name
        if dense_call(name, point) or several_calls(name, point):
            # the method's code runs none of its preset's mask here: leave what the user did not give to the API,
            # which tells the preset's values from the user's by their absence (methods.with_method)
            for key in MASK_FIELDS:
                if opts.get(key) is None:
                    point[key] = None
        if point["pattern"] and opts.get("pattern") is None:
            point["pattern"] = fill_pattern(name, point["pattern"], point)
        if point["baseline"] is None:
            point["baseline"] = default_algorithm(hardware(point["hardware"]))


def _given(opts: dict, preset: dict, key: str, default):
    """The command line's value, else the --model preset's, else the default."""
    value = opts.get(key)
    return value if value is not None else preset.get(key, default)


def skips_refused(points: list[dict]) -> bool:
    """Whether the points are a matrix of kernels and shapes: several (machine, kernel) pairs crossed with several
    shapes. As a machine a kernel does not run on is left out of a matrix (``_runnable_pairs``), so is a shape its
    kernel refuses there (a decode kernel at 2k queries, FlashInfer at head dim 96): the cell is left out with a
    note on stderr, and it is an error only if no point runs. A single kernel asked for a shape it refuses, or one
    shape for kernels of which one refuses it, stays an error."""
    if len(points) < 4 or len({(p["hardware"], p["algorithm"]) for p in points}) < 2:
        return False
    keys = [k for k in points[0] if k not in ("hardware", "algorithm", "baseline")]
    first = [points[0].get(k) for k in keys]
    return any([p.get(k) for k in keys] != first for p in points)  # stops at the first other shape


def run_listed(points: list[dict]) -> list[dict]:
    """The rows of the command line's points: all of them, or, in a matrix (``skips_refused``), those whose kernel
    runs their shape, with one note on stderr for the rest; an error if none runs."""
    from simulator.api import rows_of, run_points_or_refusals

    if not skips_refused(points):
        return rows_of(points, {})
    out = run_points_or_refusals(points)
    rows, refused = [r for r in out if isinstance(r, dict)], [r for r in out if isinstance(r, str)]
    if not rows:
        raise UserError(refused[0])
    echo_refused(refused, len(points))
    return rows


def echo_refused(refused: list[str], total: int) -> None:
    """One stderr line, once the command succeeds, for the points of a matrix left out because their kernel refused
    their shape."""
    from cli._notes import later
    from cli._params import option_wording, typed_options

    if refused:
        why = option_wording(refused[0], typed_options(click.get_current_context()))
        later(f"skipping {len(refused)} of {total} points, their kernel refuses their shape: {why}"
              + (" (and others)" if len(set(refused)) > 1 else ""))


def _runnable_pairs(hardware: list, algorithms: list) -> list[tuple]:
    """The (hardware, algorithm) pairs that can run, machine by machine.

    An algorithm that cannot run on a machine it was asked for is an error (DESIGN), except in a
    matrix: a list of machines crossed with a list of algorithms often pairs a kernel with a machine
    it does not run on (flash3 on an A100, fusemax on a GPU); those cells are left out with a note
    on stderr, and it is an error only if no cell can run.
    """
    from simulator.api import hardware as load, unsupported

    _distinct_names(hardware, load)
    reasons = {(h, a): unsupported(load(h), a) for h in hardware for a in algorithms}
    runnable = [pair for pair, why in reasons.items() if why is None]
    matrix = len(hardware) > 1 and len(algorithms) > 1
    if not runnable or (not matrix and len(runnable) < len(reasons)):
        raise UserError(next(why for why in reasons.values() if why))
    from cli._notes import later

    for (h, a), why in reasons.items():
        if why:
            later(f"skipping {a} on {h}: {why}")  # printed once the command succeeds: a failing one prints its error alone
    return runnable


def _distinct_names(hardware: list, load) -> None:
    """Two --hw entries that load machines of one name (two copies of a user's TOML keeping its ``name``; one bearing
    a bundled model's name is refused as it loads) would print notes and labels no reader could tell apart: a
    one-line error naming both."""
    seen = {}
    for given in dict.fromkeys(hardware):
        name = load(given).name
        if name in seen:
            raise UserError(f"--hw {seen[name]} and {given} are both machines named {name!r}: rows of the two could "
                            f"not be told apart; give the TOML a name of its own (its `name` line)")
        seen[name] = given


def default_point(opts: dict) -> dict:
    """Single values from the command line for --from rows: first of each list. A --method is passed on by name, for
    each row that names none to apply itself (a row's own method takes none of the command line's preset), and a
    head count or head dim only where given (or by --model): a method's own model fills a row that names no shape
    (methods.shape_defaults)."""
    from simulator.methods import SHAPE_KEYS

    lists = [f"--{k.replace('_', '-')} {','.join(map(str, v))!r}" for k, v in opts.items()
             if k in _LIST_KEYS and isinstance(v, list) and len(v) > 1]
    if lists:  # refused, not cut to its first value: the file's rows are the points
        raise UserError(f"bad {lists[0]} with --from: one value (a default for the columns the file's rows leave "
                        "out); the rows are the points, so list the values in the file")
    point = {k: v for k, v in expand_points({**opts, "method": None}, one_baseline=False)[0].items() if v is not None}
    if not opts.get("model"):
        point = {k: v for k, v in point.items() if k not in SHAPE_KEYS or opts.get(k) is not None}
    return {**point, **({"method": opts["method"]} if opts.get("method") else {})}
