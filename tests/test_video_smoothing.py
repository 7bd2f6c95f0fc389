"""One Euro filter: exact values from the closed form, time and scale handling (MediaPipe's rules)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.video.smoothing import OneEuroFilter, OneEuroParams, person_size


def alpha(cutoff: float, rate: float) -> float:
    return 1.0 / (1.0 + rate / (2 * math.pi * cutoff))


def test_step_with_beta_zero_is_a_first_order_low_pass():
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0, d_cutoff=1.0))
    a = alpha(1.0, 30.0)
    out = [float(f.filter(np.array([v]), t / 30)[0]) for t, v in enumerate([0.0, 1.0, 1.0, 1.0])]
    expected = [0.0, a, a + (1 - a) * a, 1 - (1 - a) ** 3]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_variable_frame_rate_uses_each_interval():
    f = OneEuroFilter(OneEuroParams(min_cutoff=2.0, beta=0.0))
    f.filter(np.array([0.0]), 0.0)
    y1 = f.filter(np.array([1.0]), 0.1)[0]  # 10 Hz
    y2 = f.filter(np.array([1.0]), 0.15)[0]  # 20 Hz
    a1, a2 = alpha(2.0, 10.0), alpha(2.0, 20.0)
    assert y1 == pytest.approx(a1, rel=1e-12)
    assert y2 == pytest.approx(a2 + (1 - a2) * a1, rel=1e-12)


def test_speed_term_raises_the_cutoff_exactly():
    p = OneEuroParams(min_cutoff=1.0, beta=2.0, d_cutoff=1.0)
    f = OneEuroFilter(p)
    f.filter(np.array([0.0]), 0.0)
    y = f.filter(np.array([0.5]), 0.1, value_scale=1.0)[0]
    speed = 0.5 * 1.0 * 10.0  # value change x scale x rate
    dx = alpha(1.0, 10.0) * speed  # the speed filter starts from 0 (first speed was 0)
    assert y == pytest.approx(alpha(1.0 + 2.0 * dx, 10.0) * 0.5, rel=1e-12)


def test_scale_normalisation_makes_the_filter_size_invariant():
    rng = np.random.default_rng(0)
    signal = np.cumsum(rng.normal(size=(40, 5, 2)), axis=0)
    times = np.cumsum(rng.uniform(0.02, 0.05, size=40))
    small, big = OneEuroFilter(OneEuroParams(0.5, 3.0)), OneEuroFilter(OneEuroParams(0.5, 3.0))
    for x, t in zip(signal, times, strict=True):
        a = small.filter(x, t, value_scale=1 / 10.0)
        b = big.filter(x * 7.0, t, value_scale=1 / 70.0)
        np.testing.assert_allclose(b, a * 7.0, rtol=1e-9, atol=1e-9)


def test_time_that_does_not_advance_returns_the_value_unfiltered():
    f = OneEuroFilter(OneEuroParams(1.0, 0.0))
    f.filter(np.array([0.0]), 1.0)
    assert f.filter(np.array([5.0]), 1.0)[0] == 5.0
    assert f.filter(np.array([5.0]), 0.5)[0] == 5.0
    assert f.filter(np.array([1.0]), 1.0 + 1 / 30)[0] == pytest.approx(alpha(1.0, 30.0), rel=1e-12)


def test_reset_starts_afresh():
    f = OneEuroFilter(OneEuroParams(1.0, 0.0))
    f.filter(np.array([0.0, 0.0]), 0.0)
    f.filter(np.array([9.0, 9.0]), 0.1)
    f.reset()
    np.testing.assert_array_equal(f.filter(np.array([3.0, 4.0]), 0.2), [3.0, 4.0])


def test_constant_input_stays_exact_and_noise_shrinks():
    f = OneEuroFilter()
    for t in range(30):
        np.testing.assert_allclose(f.filter(np.full((17, 2), 100.0), t / 30), 100.0, rtol=1e-12)
    rng = np.random.default_rng(1)
    g = OneEuroFilter(OneEuroParams(min_cutoff=0.5, beta=0.0))
    noisy = 100 + rng.normal(0, 2.0, size=(300, 2))
    out = np.array([g.filter(x, t / 30) for t, x in enumerate(noisy)])
    assert np.std(out[50:]) < np.std(noisy[50:]) / 3


@pytest.mark.parametrize(("field", "value"), [("min_cutoff", 0.0), ("d_cutoff", -1.0), ("frequency", 0.0),
                                               ("beta", -0.1)])
def test_bad_parameters_are_refused(field, value):
    with pytest.raises(PosekitError, match=field):
        OneEuroParams(**{field: value})


def test_person_size_is_the_mean_side_of_the_confident_keypoints_box():
    xy = np.array([[0, 0], [40, 100], [20, 50], [500, 500]], np.float32)
    scores = np.array([0.9, 0.8, 0.5, 0.1])
    assert person_size(xy, scores, 0.3) == 70.0
    assert person_size(xy, np.zeros(4), 0.3) == 500.0  # too few confident: all keypoints
