"""The Keras 2 initializer names "normal" and "uniform" (still accepted by Keras 3) are RandomNormal(0, 0.05) and
RandomUniform(-0.05, 0.05): the same draws as the canonical names, and the documented distributions. Statistics of
784 * 512 = 401,408 draws: the standard error of the mean is 0.05 / sqrt(401408) = 7.9e-5 (bounds at 6 of them) and
of the standard deviation about 0.05 / sqrt(2 * 401408) = 5.6e-5 (bound 1e-3, 18 of them)."""

import numpy as np
import pytest

import fastann
from fastann.layers import Dense
from fastann.models import Sequential


def _kernel(init, seed=11):
    fastann.utils.set_random_seed(seed)
    model = Sequential([Dense(512, input_dim=784, kernel_initializer=init)])
    return model.get_weights()[0].astype(np.float64)


@pytest.mark.parametrize("alias, canonical", [("normal", "random_normal"), ("uniform", "random_uniform")])
def test_alias_draws_exactly_what_the_canonical_name_draws(alias, canonical):
    np.testing.assert_array_equal(_kernel(alias), _kernel(canonical))
    assert fastann.initializers.get(alias) == {"name": canonical}


def test_normal_is_n_0_005():
    w = _kernel("normal")
    assert abs(w.mean()) < 6 * 7.9e-5
    assert abs(w.std() - 0.05) < 1e-3
    assert np.abs(w).max() > 0.15  # not truncated: 3 sigma is passed among 400k draws


def test_uniform_is_u_minus_005_005():
    w = _kernel("uniform")
    assert w.min() >= -0.05 and w.max() <= 0.05
    assert abs(w.mean()) < 6 * 0.05 / np.sqrt(3 * w.size)
    assert abs(w.std() - 0.05 / np.sqrt(3)) < 1e-3
    assert w.max() > 0.0499 and w.min() < -0.0499


def test_unknown_names_still_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"valid initializers: .*\(also uniform, normal\)"):
        fastann.initializers.get("gaussian")
