"""The memoised partitioner puts every keyed record where aiokafka's default one would."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from streams.partitioning import KeyPartitioner


@given(keys=st.lists(st.binary(max_size=64), min_size=1, max_size=50), count=st.integers(1, 64))
def test_same_partition_as_the_default_partitioner(keys: list[bytes], count: int) -> None:
    partitions = list(range(count))
    ours = KeyPartitioner(max_keys=8)  # small, so the bound is crossed too
    for key in keys + keys:  # the second pass answers from memory
        assert ours(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


JAVA_MURMUR2 = {  # Kafka's UtilsTest.testMurmur2: the Java client's signed 32-bit hashes
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_placement_matches_the_java_client() -> None:
    ours = KeyPartitioner()
    for key, java_hash in JAVA_MURMUR2.items():
        for count in (1, 4, 12):
            # Java's DefaultPartitioner: toPositive(murmur2(key)) % numPartitions
            assert ours(key, list(range(count)), []) == (java_hash & 0x7FFFFFFF) % count


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    ours = KeyPartitioner()
    assert {ours(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert ours(None, [0, 1, 2, 3], []) in {0, 1, 2, 3}


def test_huge_keys_are_placed_like_any_other_but_never_remembered() -> None:
    partitioner = KeyPartitioner()
    partitions = list(range(4))
    for n in range(50):
        key = bytes([n % 256]) * 100_000
        assert partitioner(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)
    assert partitioner._hashes == {}
