"""bench/count_paged_sass.py's loop counter on a listing in nvdisasm's format (no nvcc or GPU needed): the main loop
is the back edge whose span holds the HMMAs, five-digit addresses included, predicated branches with a second
predicate too."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("count_paged_sass", ROOT / "bench" / "count_paged_sass.py")
count = importlib.util.module_from_spec(spec)
spec.loader.exec_module(count)

NAME = ("_ZN10flashinfer34BatchPrefillWithPagedKVCacheKernelINS_12KernelTraitsILNS_8MaskModeE1ELj128ELj2ELj4ELj8"
        "ELj8ELj4ELj1ELNS_15PosEncodingModeE0E6__halfS4_S4_fiNS_16DefaultAttentionILb0ELb0ELb0ELb0EEEEE11PagedParams"
        "EEvT0_")


def _listing(body: list[str], address: int = 0x0F000) -> str:
    lines = ["\t.target\tsm_90a\n", f"//--------------------- .text.{NAME} --------------------------",
             f".text.{NAME}:", f"        /*{address:04x}*/                   IMAD.MOV.U32 R1, RZ, RZ, c[0x0][0x28] ;"]
    for i, text in enumerate(body, start=1):
        if text.endswith(":"):
            lines.append(text)
        else:
            lines.append(f"        /*{address + 16 * i:04x}*/                   {text} ;")
    return "\n".join(lines) + "\n"


def test_the_main_loop_is_the_back_edge_holding_the_hmmas():
    body = [".L_x_1:", "LDG.E R2, desc[UR4][R4.64]", "HMMA.16816.F32 R8, R12, R14, R8", "IMAD R3, R2, R5, RZ",
            "@P0 BRA P1, `(.L_x_1)", ".L_x_2:", "FADD R9, R9, R10", "@!P2 BRA `(.L_x_2)", "EXIT"]
    loops = count.loops(_listing(body))
    (length, ops), = loops.values()
    assert list(loops) == [(128, 128, 4)]  # (16 x NUM_MMA_D_QK, CTA_TILE_Q, NUM_MMA_KV) from the template name
    assert length == 4 and ops["HMMA"] == 1 and ops["LDG"] == 1  # the loop without HMMAs is not the main one


def test_a_listing_past_64_kib_of_code_is_read_whole():
    body = [".L_x_9:", "HMMA.16816.F32 R8, R12, R14, R8", "BRA `(.L_x_9)"]
    (length, _), = count.loops(_listing(body, address=0x1FFE0)).values()  # five-digit addresses
    assert length == 2
