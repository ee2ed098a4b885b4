"""LR schedules: the shape a user sees in the LR chart and the area the loss law integrates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator as sim
from simulator import schedules

KINDS = schedules.SCHEDULE_KINDS

peaks = st.floats(1e-6, 1e-2)
warmups = st.one_of(st.just(0.0), st.floats(1e-6, 0.3))
floors = st.floats(0.0, 1.0)  # lr_min as a share of the peak
decays = st.floats(0.01, 1.0)


def test_every_catalogue_schedule_has_a_shape() -> None:
    assert set(sim.SCHEDULES) == set(KINDS)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KINDS), peaks, warmups, floors, decays)
def test_lr_stays_between_min_and_peak_after_warmup(
    kind: str, peak: float, w: float, floor: float, df: float
) -> None:
    lo = peak * floor
    p = np.linspace(w, 1.0, 2001)
    lr = schedules.lr_at(kind, p, w, peak, lo, df)
    tol = 1e-12 * peak
    assert np.all(lr <= peak + tol)
    assert np.all(lr >= lo - tol)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KINDS), peaks, st.floats(1e-4, 0.3), floors, decays)
def test_warmup_rises_monotonically_to_the_peak(
    kind: str, peak: float, w: float, floor: float, df: float
) -> None:
    p = np.linspace(0.0, w, 501)
    lr = schedules.lr_at(kind, p, w, peak, peak * floor, df)
    assert np.all(np.diff(lr) >= 0.0)
    assert lr[0] == 0.0
    assert schedules.lr_at(kind, np.array([w]), w, peak, peak * floor, df)[0] == pytest.approx(peak)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["linear", "cosine", "wsd", "inverse-sqrt"]), peaks, warmups, decays)
def test_decaying_schedules_never_rise_after_warmup(
    kind: str, peak: float, w: float, df: float
) -> None:
    p = np.linspace(w, 1.0, 2001)
    lr = schedules.lr_at(kind, p, w, peak, 0.1 * peak, df)
    assert np.all(np.diff(lr) <= 1e-15 * peak)


def _numeric_area(kind: str, p_end: float, w: float, peak: float, lo: float, df: float) -> float:
    """Trapezoid integral of lr_at(..., warmup_at_peak=True) on a fine grid, kinks included."""
    knots = [0.0, p_end, min(w, p_end), min(max(w, 1e-6), p_end)]
    if kind == "wsd":
        knots.append(min(w + (1.0 - w) * (1.0 - df), p_end))
    if kind == "inverse-sqrt" and lo > 0:
        knots.append(min(max(w, 1e-6) * (peak / lo) * (peak / lo), p_end))
    # Uniform plus geometric points: inverse-sqrt is steep just after a tiny warmup.
    fine = [np.linspace(0.0, p_end, 100_001), np.geomspace(1e-9, p_end, 100_001), knots]
    grid = np.unique(np.concatenate(fine))
    lr = schedules.lr_at(kind, grid, w, peak, lo, df, warmup_at_peak=True)
    return float(np.trapezoid(lr, grid))


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(KINDS), peaks, warmups, st.floats(0.0, 0.9), decays, st.floats(0.001, 1.0))
def test_area_is_the_integral_of_the_lr_with_warmup_at_peak(
    kind: str, peak: float, w: float, floor: float, df: float, p_end: float
) -> None:
    lo = peak * floor
    closed = float(schedules.area(kind, np.array(p_end), w, peak, lo, df))
    numeric = _numeric_area(kind, p_end, w, peak, lo, df)
    assert closed == pytest.approx(numeric, rel=2e-5, abs=1e-9 * peak)


@pytest.mark.parametrize("kind", KINDS)
def test_area_is_cumulative(kind: str) -> None:
    p = np.linspace(0.0, 1.0, 1001)
    a = schedules.area(kind, p, 0.01, 3e-4, 3e-5, 0.1)
    assert a[0] == 0.0
    assert np.all(np.diff(a) > 0.0)


def test_schedule_shapes_end_where_the_recipe_says() -> None:
    peak, lo = 3e-4, 3e-5
    end = np.array([1.0])
    for kind in ("linear", "cosine", "wsd"):
        assert schedules.lr_at(kind, end, 0.01, peak, lo)[0] == pytest.approx(lo)
    assert schedules.lr_at("constant", end, 0.01, peak, lo)[0] == peak
    # WSD holds the peak until its decay phase starts (last 10% of training).
    assert schedules.lr_at("wsd", np.array([0.85]), 0.01, peak, lo, 0.1)[0] == peak
    assert schedules.lr_at("wsd", np.array([0.95]), 0.01, peak, lo, 0.1)[0] < peak


def test_unknown_schedule_is_rejected_with_the_allowed_list() -> None:
    with pytest.raises(ValueError, match="cosine"):
        schedules.lr_at("cyclic", np.array([0.5]), 0.1, 1e-3, 0.0)
    with pytest.raises(ValueError, match="cosine"):
        schedules.area("cyclic", np.array([0.5]), 0.1, 1e-3, 0.0)
