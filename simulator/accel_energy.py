"""Accelerator energy: per-action energies (the hardware TOML) times action counts, per component.

The counting follows the FuseMax artifact (FPSG-UIUC/micro24-fusemax-artifact,
workspace/src/accel/cascade.py, build_accelergy_buf_counts and build_accelergy_stats_general):
no leakage; a storage level is charged per access of its width (DRAM 64 bits, the global buffer
4096 bits, the staging buffer one 16-bit word), reads as reads and fills plus updates as writes;
a functional unit per action (an Einsum's ops lowered to PE actions by simulator.lowering). The PEs'
register files are not charged: the artifact attaches Timeloop's per-PE counts to a single PE
instance, so they come to about 1/65,536 (2D) and 1/256 (1D) of their traffic.
"""

from simulator.accel_mapping import Accesses

PJ = 1e-12
DRAM_ACCESS_BITS, GB_ACCESS_BITS, STAGING_ACCESS_BITS = 64, 4096, 16  # widths the per-action energies are quoted for
COMPONENTS = ("dram", "global_buffer", "staging_buffer", "array2d", "array1d")


def energy_j(hw, word_bytes: int, traffic: Accesses, ops_by_array: dict[str, dict[str, float]]) -> dict[str, float]:
    """Joules per component: DRAM, global buffer, staging buffer (words moved), 2D and 1D arrays (ops)."""
    e = hw.energy_pj
    bits = 8 * word_bytes
    r, w = traffic.reads, traffic.writes
    out = {"dram": (r.get("dram", 0) + w.get("dram", 0)) * bits / DRAM_ACCESS_BITS * e["dram_per_64bit"] * PJ,
           "global_buffer": (r.get("gb", 0) * e["gb_read_per_4096bit"] + w.get("gb", 0) * e["gb_write_per_4096bit"])
           * bits / GB_ACCESS_BITS * PJ}
    if r.get("stage") or w.get("stage"):
        out["staging_buffer"] = (r.get("stage", 0) * e["staging_read"] + w.get("stage", 0) * e["staging_write"]) \
            * bits / STAGING_ACCESS_BITS * PJ
    for array, ops in ops_by_array.items():
        out[array] = sum(n * e[cls] for cls, n in ops.items()) * PJ
    return out
