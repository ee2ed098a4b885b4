"""Counter-based random numbers: the draw for step i depends only on (seed, stream, i).

Philox (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3") is a counter-based
generator: setting its counter jumps straight to any position, so the noise of step 700 000
costs the same whether or not steps 0..699 999 were ever drawn, and any slice of a run equals
the same slice of the whole run bit for bit. Each 64-bit output gives two 32-bit uniforms.
"""

from __future__ import annotations

import sys

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Streams (Philox key word 1) so different quantities never share draws.
STREAM_STEP = 1  # two uniforms per step: loss noise, grad noise (Box-Muller)
STREAM_EVENT = 2  # two uniforms per step: spike/divergence hazard, throughput jitter
STREAM_GRID = 3  # one uniform per grid knot: slow loss wobble
_INV_2_32 = 1.0 / 2.0**32


def uniform_pairs(seed: int, stream: int, start: int, stop: int) -> tuple[FloatArray, FloatArray]:
    """Two independent uniforms in (0, 1) for each index in [start, stop).

    Negative indices (a look-back before step 0) are valid: they map to a separate block of
    the counter space.
    """
    n = stop - start
    if n <= 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty
    offset = 1 << 40  # counters for negative indices live far from the positive ones
    first = start + offset
    block = first // 4  # Philox yields four 64-bit words per counter value
    skip = first - block * 4
    gen = np.random.Philox(key=[seed & 0xFFFFFFFFFFFFFFFF, stream], counter=[block, 0, 0, 0])
    raw = gen.random_raw(n + skip)[skip:]
    # The high and low 32-bit halves of each word, read through a uint32 view (no shift or
    # mask pass); which half comes first in memory depends on the machine's byte order.
    words = raw.view(np.uint32)
    first_hi = 1 if sys.byteorder == "little" else 0
    hi = words[first_hi::2].astype(np.float64)
    hi += 0.5
    hi *= _INV_2_32
    lo = words[1 - first_hi :: 2].astype(np.float64)
    lo += 0.5
    lo *= _INV_2_32
    return hi, lo


def normal_pair(u1: FloatArray, u2: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Two independent standard normals from two uniforms (Box-Muller)."""
    r = np.sqrt(-2.0 * np.log(u1))
    theta = 2.0 * np.pi * u2
    return r * np.cos(theta), r * np.sin(theta)
