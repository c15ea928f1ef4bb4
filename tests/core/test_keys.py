import random

import pytest

from galvasr.keys import (
    AudioIdCollision,
    audio_id,
    audio_id_column,
    check_audio_ids,
    check_spark_ids,
    collision_error,
    xxhash64,
)


@pytest.mark.parametrize(
    ("data", "seed", "expected"),
    [  # reference values of XXH64 (xxhash.com test vectors)
        (b"", 0, 0xEF46DB3751D8E999),
        (b"a", 0, 0xD24EC4F1A98C6E5B),
        (b"abc", 0, 0x44BC2CF5AD770999),
        (b"Nobody inspects the spammish repetition", 0, 0xFBCEA83C8A378BF1),
    ],
)
def test_xxhash64_reference_values(data, seed, expected):
    assert xxhash64(data, seed) == expected


def _names(rng: random.Random, n: int) -> list[tuple[str, str]]:
    alphabet = "abcXYZ019_-./ é漢字\U0001f3b5"
    # Every length from 0 to 70 bytes and more covers each branch of XXH64
    # (the 32-byte stripes, 8-byte words, a 4-byte word, single bytes).
    return [
        (
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))),
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80))),
        )
        for _ in range(n)
    ]


def test_audio_id_equals_spark_xxhash64(spark):
    pairs = _names(random.Random(7), 400) + [("item", "a.mp3"), ("", ""), ("x" * 64, "y" * 33)]
    df = spark.createDataFrame(pairs, "identifier string, audio_file string")
    got = df.select("identifier", "audio_file", audio_id_column("identifier", "audio_file"))
    for identifier, audio_file, spark_id in got.collect():
        assert audio_id(identifier, audio_file) == spark_id, (identifier, audio_file)


def test_audio_id_is_a_signed_bigint_and_order_matters():
    ids = {audio_id(i, f) for i, f in _names(random.Random(1), 1000)}
    assert all(-(2**63) <= i < 2**63 for i in ids)
    assert any(i < 0 for i in ids) and any(i > 0 for i in ids)
    assert audio_id("a", "b") != audio_id("b", "a")
    assert audio_id("ab", "c") != audio_id("a", "bc")


def test_check_audio_ids_names_both_files(spark):
    a, b, c = ("item-a", "one.mp3"), ("item-b", "two.mp3"), ("item-c", "three.mp3")
    clash = audio_id(*a)
    rows = [(clash, *a), (audio_id(*b), *b), (clash, *c), (audio_id(*b), *b)]
    df = spark.createDataFrame(rows, "audio_id long, identifier string, audio_file string")
    with pytest.raises(AudioIdCollision, match="item-a/one.mp3 and item-c/three.mp3") as e:
        check_audio_ids(df)
    assert "two.mp3" not in str(e.value)  # listed twice is not a collision
    check_audio_ids(df.where("identifier != 'item-c'"))
    with pytest.raises(ValueError, match="differs from Spark's xxhash64.*item-b/two.mp3"):
        check_audio_ids(spark.createDataFrame([(1, *b)], df.schema))


def test_collision_error_names_both_files_of_the_smallest_ids():
    a, b, c = ("item-a", "one.mp3"), ("item-b", "two.mp3"), ("item-c", "three.mp3")
    assert collision_error([(1, [a]), (2, [b, b])]) is None  # listed twice is not a collision
    error = collision_error([(9, [c, a]), (2, [b]), (5, [b, a, b])], limit=1)
    assert isinstance(error, AudioIdCollision)
    assert str(error).endswith("audio_id 5: item-a/one.mp3 and item-b/two.mp3")


def test_check_spark_ids_names_a_file_whose_id_is_not_sparks(spark):
    b = ("item-b", "two.mp3")
    schema = "audio_id long, identifier string, audio_file string"
    check_spark_ids(spark.createDataFrame([(audio_id(*b), *b)], schema))
    with pytest.raises(ValueError, match="differs from Spark's xxhash64.*item-b/two.mp3"):
        check_spark_ids(spark.createDataFrame([(audio_id(*b), *b), (1, *b)], schema))
