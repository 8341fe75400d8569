"""lib.pdq's multi-index hashing pieces: the chunk radius (pigeonhole) and each chunk's variants."""

from __future__ import annotations

import random
from math import comb

import pytest

from lib.pdq import CHUNK_HEX, CHUNKS, chunk_radius, chunk_variant_arrays, chunk_variants


@pytest.mark.parametrize(("distance", "radius"), [(0, 0), (15, 0), (16, 1), (31, 1), (32, 2), (47, 2), (48, 3)])
def test_the_radius_is_the_least_difference_some_chunk_of_a_match_must_have(distance, radius):
    assert chunk_radius(distance) == radius
    # Every chunk one bit further than the radius adds up to more than the distance.
    assert CHUNKS * (radius + 1) > distance


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_each_chunk_has_every_value_within_the_radius_and_no_other(radius):
    value = f"{random.Random(radius).getrandbits(256):064x}"
    variants = chunk_variants(value, radius=radius)

    assert len(variants) == CHUNKS
    for index, chunk in enumerate(variants):
        own = value[index * CHUNK_HEX : (index + 1) * CHUNK_HEX]
        assert chunk[0] == own
        assert len(chunk) == len(set(chunk)) == sum(comb(16, k) for k in range(radius + 1))
        assert all(len(v) == CHUNK_HEX and (int(v, 16) ^ int(own, 16)).bit_count() <= radius for v in chunk)


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_the_array_literals_hold_the_same_variants_in_the_same_order(radius):
    rng = random.Random(100 + radius)
    # The extremes of a chunk (0000, ffff) and random hashes, upper-case input included.
    for value in ["0" * 64, "f" * 64, "F0" * 32, *(f"{rng.getrandbits(256):064x}" for _ in range(20))]:
        expected = ["{" + ",".join(chunk) + "}" for chunk in chunk_variants(value.lower(), radius=radius)]
        assert chunk_variant_arrays(value, radius=radius) == expected
