"""The one k-nearest-neighbour engine: streamed and k-d tree paths against brute force."""

import numpy as np
import pytest

from idm import neighbours


def _brute(x, data, k, exclude=None):
    d = np.linalg.norm(x[:, None, :] - data[None, :, :], axis=-1)
    if exclude is not None:
        d[np.arange(len(x)), exclude] = np.inf
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, 1), idx


@pytest.mark.parametrize("D", [3, 12])
@pytest.mark.parametrize("method", ["stream", "tree"])
def test_both_paths_match_brute_force(method, D):
    rng = np.random.default_rng(D)
    x, data = rng.standard_normal((200, D)), rng.standard_normal((700, D))
    got = neighbours.knn(x, data, 5, method=method, block_size=96, query_block=64)
    dist, idx = _brute(x, data, 5)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)
    np.testing.assert_array_equal(got.indices, idx)
    assert got.distances.dtype == np.float64


@pytest.mark.parametrize("method", ["stream", "tree"])
def test_exclude_skips_the_query_itself_but_not_its_duplicates(method):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 4))
    x[7] = x[3]  # a duplicate pair
    got = neighbours.knn(x, x, 3, exclude=np.arange(300), method=method)
    dist, _ = _brute(x, x, 3, exclude=np.arange(300))
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)
    assert got.distances[3, 0] == 0.0
    assert got.indices[3, 0] == 7
    assert got.distances[7, 0] == 0.0
    assert got.indices[7, 0] == 3
    assert np.all(got.indices != np.arange(300)[:, None])


def test_tree_and_stream_agree_in_frame_coordinates():
    """The rate app's case (3 to 5 coordinates): the same distances either way."""
    rng = np.random.default_rng(1)
    for D in (3, 4, 5):
        x, data = rng.standard_normal((500, D)), rng.standard_normal((2000, D))
        a = neighbours.knn(x, data, 2, method="tree")
        b = neighbours.knn(x, data, 2, method="stream")
        np.testing.assert_allclose(a.distances, b.distances, rtol=1e-15, atol=0)
        np.testing.assert_array_equal(a.indices, b.indices)
    assert neighbours.TREE_MAX_DIM >= 5  # auto takes the tree there


def test_bad_arguments_are_refused():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="method"):
        neighbours.knn(x, x, 1, method="ball")
    with pytest.raises(ValueError, match="exclude"):
        neighbours.knn(x, x, 1, exclude=np.arange(3))
    with pytest.raises(ValueError, match="at least k"):
        neighbours.knn(x, x, 4, exclude=np.arange(4))
