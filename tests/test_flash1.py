"""FlashAttention-1's model (simulator/flash1.py) at shapes its tiles leave empty."""


def test_a_random_mask_that_keeps_no_block_reads_no_keys():
    """flash1's 16-row tiles over one key with random_blocks(0.3) and causal keep no block: the ragged last block's
    unread keys were taken off a read of none (-127 keys), its HBM bytes went negative and the blend raised a math
    domain error (a traceback from the CLI). Found by a fuzz audit."""
    from simulator import run_points

    for algo in ("flash1", "flash2"):
        (row,) = run_points([dict(algorithm=algo, seq_len=65, kv_len=1, causal=True, pattern="random_blocks(0.3)")])
        assert row["time_s"] > 0 and row["hbm_bytes"] > 0
