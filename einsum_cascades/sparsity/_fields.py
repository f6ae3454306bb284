"""Field numbers of a kernel term row and the tile-state codes (plain constants: no numba needed to read them).

A term row is ``DLO, DHI`` (bounds on d = k - q), ``KLO, KHI``, ``QLO, QHI``, a diagonal period ``AD``,
a column period ``AK``, ``NC`` coins from coin row ``C0``, its class ``CLS`` and a chunk width ``CW``
(see ``_tile_state``).
"""

DLO, DHI, KLO, KHI, QLO, QHI, AD, AK, NC, C0, CLS, CW = range(12)
N_FIELDS = 12
TABLE = -1  # coin threshold of a selection table
EMPTY, PARTIAL, FULL, UNDECIDED = 0, 1, 2, 3
