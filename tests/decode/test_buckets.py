import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galvasr.config import DecodeConfig
from galvasr.decode.buckets import PaddingReport, bucket_for, bucket_lengths, plan_windows
from galvasr.decode.stage import DecodePlan


@st.composite
def files(draw):
    """(file samples, window samples, context samples), at most ~300 windows a file."""
    window = draw(st.integers(min_value=1, max_value=20_000))
    n = draw(st.integers(min_value=0, max_value=window * 300))
    return n, window, draw(st.integers(min_value=0, max_value=5_000))


@settings(deadline=None)  # timing on a loaded CI machine is no property
@given(files())
def test_owned_ranges_tile_the_file_and_only_the_last_is_shorter(file):
    n, window, context = file
    ws = list(plan_windows(n, window, context))
    assert [w.chunk_index for w in ws] == list(range(len(ws)))
    position = 0
    for w in ws:
        assert w.start_sample == position  # no gap, no overlap
        assert w.num_samples > 0
        position += w.num_samples
    assert position == n
    assert all(w.num_samples == window for w in ws[:-1])
    if ws:
        assert ws[-1].num_samples <= window


@settings(deadline=None)  # timing on a loaded CI machine is no property
@given(files())
def test_context_is_what_the_file_has_up_to_the_configured_amount(file):
    n, window, context = file
    for w in plan_windows(n, window, context):
        assert w.context_before_samples == min(context, w.start_sample)
        end = w.start_sample + w.num_samples
        assert w.context_after_samples == min(context, n - end)
        assert w.first_sample >= 0 and w.first_sample + w.length_samples <= n


edges = st.lists(st.integers(min_value=1, max_value=30_000), max_size=12)


@settings(deadline=None)
@given(files(), edges)
def test_every_chunk_goes_to_the_smallest_bucket_that_fits(file, raw_edges):
    n, window, context = file
    full = window + 2 * context
    lengths = bucket_lengths(window, context, [e for e in raw_edges if e <= full])
    assert list(lengths) == sorted(set(lengths)) and lengths[-1] == full
    for w in plan_windows(n, window, context):
        b = bucket_for(w.length_samples, lengths)
        assert w.length_samples <= lengths[b]
        assert b == 0 or lengths[b - 1] < w.length_samples


def test_edges_longer_than_a_full_chunk_are_refused():
    with pytest.raises(ValueError, match="edges"):
        bucket_lengths(100, 10, [121])
    with pytest.raises(ValueError, match="no bucket"):
        bucket_for(121, (60, 120))


def test_default_plan_a_45_s_file():
    plan = DecodePlan.from_config(DecodeConfig())
    assert plan.lengths[-1] == 34 * 16_000 and len(plan.lengths) == 21
    ws = list(plan_windows(45 * 16_000, plan.window_samples, plan.context_samples))
    # First window: 30 s owned + 2 s after (no audio before it): the 32 s bucket.
    # Last: 2 s before + 15 s owned: the 18 s bucket.
    got = [(w.length_samples, plan.lengths[bucket_for(w.length_samples, plan.lengths)]) for w in ws]
    assert got == [(32 * 16_000, 32 * 16_000), (17 * 16_000, 18 * 16_000)]


def test_padding_report_counts_the_unfilled_samples():
    report = PaddingReport((10, 20))
    report.add(0, 7)
    report.add(1, 20, chunks=1)
    report.add(1, 15)
    d = report.to_dict()
    assert d["total_samples"] == 50 and d["padded_samples"] == 8
    assert d["buckets"]["0"]["padding_fraction"] == pytest.approx(0.3)
    assert report.padding_fraction == pytest.approx(8 / 50)
