"""Re-count simulator.flashinfer_tc.PAGED_TILE_INSTRUCTIONS: the SASS instructions a warp of FlashInfer's paged
batch prefill kernel issues per key tile beyond the ragged kernel's (its page arithmetic).

Needs nvcc (13.0 was used), nvdisasm, a FlashInfer checkout (nightly-v0.6.16-20260730 was used: its include/ and
csrc/) and CCCL's headers (cuda/cmath, for fastdiv.cuh); no GPU. It instantiates csrc/batch_prefill_customize_config
.jinja and the paged and ragged kernel_inst templates at fp16, MaskMode::kCausal, CTA_TILE_Q 16/64/128 and head dims
64/128/256, compiles them for sm_90a, and counts each kernel's main loop (the backward branch whose span holds the
HMMAs). Prints the table and the LDGs of page indices a warp issues per tile::

    python3 bench/count_paged_sass.py --flashinfer DIR --cccl DIR/include/cccl [--nvdisasm PATH] [--work DIR]
"""

import argparse
import collections
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HEAD_DIMS = (64, 128, 256)
TILES_Q = (16, 64, 128)
VARIANT = "DefaultAttention<use_custom_mask, USE_SLIDING_WINDOW, USE_LOGITS_SOFT_CAP, false>"
CONFIG = dict(additional_func_params="", additional_params_setter="", variant_name=VARIANT, dtype_q="half",
              dtype_kv="half", dtype_o="half", idtype="int32_t", use_fp16_qk_reduction="false",
              use_logits_soft_cap="false", pos_encoding_mode="PosEncodingMode::kNone", use_sliding_window="false",
              additional_params_decl="uint8_t* maybe_custom_mask; float* maybe_alibi_slopes; double logits_soft_cap; "
                                     "double sm_scale; double rope_rcp_scale; double rope_rcp_theta; "
                                     "uint8_t* maybe_mask_indptr;",
              variant_decl="")
KERNEL = {"paged": ("BatchPrefillWithPagedKVCacheDispatched", "PagedParams"),
          "ragged": ("BatchPrefillWithRaggedKVCacheDispatched", "RaggedParams")}
TRAITS = re.compile(r"KernelTraitsILNS_8MaskModeE\d" + r"ELj(\d+)" * 7)
BRANCH = re.compile(r"BRA(?:\.\w+)?\s+(?:!?U?P\d+,\s*)?(?:`\()?(\.L_x_\d+)")


def sources(work: Path, fi: Path) -> list[Path]:
    """The config header per head dim and one instantiation file per (kind, head dim)."""
    template = (fi / "csrc" / "batch_prefill_customize_config.jinja").read_text()
    files = []
    for d in HEAD_DIMS:
        text = template
        for key, value in {**CONFIG, "head_dim_qk": str(d), "head_dim_vo": str(d)}.items():
            text = text.replace("{{ %s }}" % key, value)
        if "{{" in text:
            sys.exit(f"unfilled template fields: {sorted(set(re.findall(r'{{[^}]*}}', text)))}")
        (work / f"cfg{d}.inc").write_text(text)
        for kind, (fn, params) in KERNEL.items():
            body = "".join(f"template cudaError_t {fn}<{q}, {d}, {d}, PosEncodingMode::kNone, false, MaskMode::kCausal, "
                           f"{VARIANT}, {params}>({params} params, half* tmp_v, float* tmp_s, bool enable_pdl, "
                           f"cudaStream_t stream);\n" for q in TILES_Q)
            path = work / f"{kind}_{d}.cu"
            path.write_text(f'#include <flashinfer/attention/prefill.cuh>\n#include "cfg{d}.inc"\nnamespace flashinfer {{\n'
                            f"constexpr auto use_custom_mask = MaskMode::kCausal == MaskMode::kCustom;\n{body}}}\n")
            files.append(path)
    return files


def compile_and_disassemble(src: Path, fi: Path, cccl: Path, nvdisasm: str) -> str:
    cubin = src.with_suffix(".cubin")
    subprocess.run(["nvcc", "-std=c++17", "-arch=sm_90a", "-cubin", "-O3", "-use_fast_math", "-DNDEBUG",
                    "-DFLASHINFER_ENABLE_F16", "-DFLASHINFER_ENABLE_BF16", f"-I{cccl}", f"-I{fi / 'include'}",
                    f"-I{src.parent}", "--expt-relaxed-constexpr", str(src), "-o", str(cubin)], check=True)
    return subprocess.run([nvdisasm, "-c", str(cubin)], check=True, capture_output=True, text=True).stdout


def loops(sass: str) -> dict:
    """Per kernel (d, CTA_TILE_Q, NUM_MMA_KV): (instructions, opcode counts) of its main loop."""
    out = {}
    for section in re.split(r"\n//--------------------- ", sass)[1:]:
        head = section.split("\n", 1)[0]
        traits = TRAITS.search(head)
        if not traits or "MergeStates" in head:
            continue
        tile_q, _, mma_kv, mma_d = (int(x) for x in traits.groups()[:4])
        ins, labels = [], {}
        for line in section.split("\n"):
            label = re.match(r"^(\.L_x_\d+):", line.strip())
            if label:
                labels[label.group(1)] = len(ins)
                continue
            m = re.search(r"/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
            if m:
                ins.append(m.group(2).strip())
        best = None
        for i, text in enumerate(ins):
            m = BRANCH.search(text)
            if m and labels.get(m.group(1), i) < i:
                body = ins[labels[m.group(1)]:i + 1]
                ops = collections.Counter(re.sub(r"^@!?U?P\w+\s+", "", x).split()[0].split(".")[0] for x in body)
                if ops["HMMA"] and (best is None or (ops["HMMA"], len(body)) > (best[1]["HMMA"], best[0])):
                    best = (len(body), ops)
        if best:
            out[(16 * mma_d, tile_q, mma_kv)] = best
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flashinfer", type=Path, required=True, help="FlashInfer checkout (include/ and csrc/)")
    ap.add_argument("--cccl", type=Path, required=True, help="directory holding cuda/cmath")
    ap.add_argument("--nvdisasm", default="nvdisasm")
    ap.add_argument("--work", type=Path, help="build directory (default: a temporary one)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="paged_sass_"))
    work.mkdir(parents=True, exist_ok=True)
    files = sources(work, args.flashinfer)
    with ThreadPoolExecutor(2) as pool:
        sass = dict(zip(files, pool.map(lambda f: compile_and_disassemble(f, args.flashinfer, args.cccl,
                                                                          args.nvdisasm), files)))
    counts = {kind: {} for kind in KERNEL}
    for path, text in sass.items():
        counts[path.stem.split("_")[0]].update(loops(text))
    print("(head dim, CTA_TILE_Q, NUM_MMA_KV): paged - ragged loop instructions a warp, page-index LDGs")
    for key in sorted(counts["paged"]):
        if key in counts["ragged"]:
            (paged, ops), (ragged, _) = counts["paged"][key], counts["ragged"][key]
            print(f"  {key}: {paged - ragged}  ({paged} against {ragged}; LDG {ops['LDG']})")
    missing = sorted(set(counts["ragged"]) - set(counts["paged"]))
    if missing:
        print(f"  no single loop found in the paged kernel for {missing}")


if __name__ == "__main__":
    main()
