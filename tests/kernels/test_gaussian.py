import math

import sympy
import torch

from icon_registry.kernels import Gaussian

from .helpers import sympy_inputs, torch_inputs, weights


def test_distance_form_torch():
    inputs = torch_inputs(params={"sigma": 0.7})
    w = weights(Gaussian(kind="gaussian", sigma="sigma"), inputs)
    z = inputs.z
    d2 = float(((z[0] - z[3]) ** 2).sum())
    assert math.isclose(float(w.log_weights[0, 3]), -d2 / (2 * 0.7**2), rel_tol=1e-12)
    assert not bool(w.mask[1, 1]) and bool(w.mask[1, 2])


def test_scale_one_is_prop1_form():
    inputs = torch_inputs(params={"sigma": 2.0})
    w = weights(Gaussian(kind="gaussian", sigma="sigma", scale=1.0), inputs, "all")
    d2 = float(((inputs.z[1] - inputs.z[4]) ** 2).sum())
    assert math.isclose(float(w.log_weights[1, 4]), -d2 / 4.0, rel_tol=1e-12)
    assert bool(w.mask[2, 2])


def test_perplexity_calibrates_row_entropy():
    inputs = torch_inputs(n=12, d=4, params={"perplexity": 4.0})
    inputs.x = inputs.z
    w = weights(Gaussian(kind="gaussian", space="x", perplexity="perplexity"), inputs)
    logp = torch.log_softmax(w.log_weights.masked_fill(~w.mask, float("-inf")), 1)
    entropy = -(logp.exp() * logp.masked_fill(~w.mask, 0)).sum(1)
    assert torch.allclose(entropy, torch.full((12,), math.log(4.0), dtype=torch.float64), atol=1e-10)


def test_symbolic():
    inputs = sympy_inputs(params={"sigma": sympy.Symbol("sigma", positive=True)})
    w = weights(Gaussian(kind="gaussian", sigma="sigma"), inputs)
    z, s = inputs.z, sympy.Symbol("sigma", positive=True)
    expected = -sum((z[0, k] - z[1, k]) ** 2 for k in range(2)) / (2 * s**2)
    assert sympy.simplify(w.log_weights[0, 1] - expected) == 0


def test_exactly_one_bandwidth():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one of 'sigma', 'perplexity' and 'temperature'"):
        Gaussian(kind="gaussian", sigma=1.0, perplexity=5.0)


def test_temperature_form():
    inputs = torch_inputs(n=4, d=3, params={"T": 0.7})
    w = weights(Gaussian(kind="gaussian", temperature="T"), inputs)
    d2 = torch.cdist(inputs.z, inputs.z) ** 2
    assert torch.allclose(w.log_weights, -d2 / 0.7)


def _clustered(n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(n // 2, 6)), rng.normal(size=(n - n // 2, 6)) + 8.0])
    return x.astype(np.float32)


def test_calibration_matches_scikit_learns_search():
    """Every row at once (float32, scikit-learn's 1e-5 nats) against scikit-learn's row-by-row
    binary search on the same squared distances; also rows with far, underflowing pairs."""
    import numpy as np
    from sklearn.manifold._utils import _binary_search_perplexity

    from icon_registry.backends import TorchBackend

    x = torch.as_tensor(_clustered(300))
    d2 = TorchBackend.sqdist(x, x)
    log_beta = TorchBackend.calibrate_log_precision(d2, ~torch.eye(300, dtype=torch.bool), 20.0)
    ours = torch.softmax((-d2.double() * log_beta.double().exp()).fill_diagonal_(-math.inf), 1).numpy()
    theirs = _binary_search_perplexity(d2.numpy(), 20.0, 0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-6)
    entropy = -(ours * np.log(np.where(ours > 0, ours, 1))).sum(1)
    np.testing.assert_allclose(entropy, math.log(20.0), atol=3e-5)


def test_nearest_calibrates_on_the_k_nearest_only():
    """nearest=k: each row's support is its k nearest candidates, calibrated there: P equals
    scikit-learn's Barnes-Hut P (NearestNeighbors + _joint_probabilities_nn)."""
    import numpy as np
    from sklearn.manifold._t_sne import _joint_probabilities_nn
    from sklearn.neighbors import NearestNeighbors

    from icon_registry import compile_loss
    from icon_registry.backends import TorchBackend
    from icon_registry.pairs import Inputs

    x = _clustered(200, seed=1)
    k = 15
    loss = compile_loss("tsne", perplexity=5.0, nearest=k)
    xt = torch.as_tensor(x)
    inputs = Inputs(TorchBackend, xt, 200, dict(loss.params), x=xt)
    with torch.no_grad(), TorchBackend.float_dtype(xt.dtype):
        p = loss.entry.p.evaluate(inputs)
        ours = p.prob().double().numpy()
        conditional = loss.entry.p.of.evaluate(Inputs(TorchBackend, xt, 200, dict(loss.params), x=xt))
    assert (conditional.mask.sum(1) == k).all()
    graph = NearestNeighbors(n_neighbors=k).fit(x).kneighbors_graph(mode="distance")
    graph.data **= 2
    theirs = _joint_probabilities_nn(graph, 5.0, 0).toarray()
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-7)
    assert (p.mask.numpy() >= (theirs > 0)).all()  # every pair with mass is in P's support


def test_nearest_needs_a_perplexity():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'nearest' restricts a perplexity calibration"):
        Gaussian(kind="gaussian", sigma=1.0, nearest=5)


def test_a_perplexity_out_of_reach_warns_that_p_is_uniform_whatever_the_data():
    """Over m candidates the entropy is at most log m: from perplexity m on, p is uniform (the
    search's limit), the same for any x. A warning says so; a reachable perplexity gives none."""
    import warnings

    import pytest

    from icon_registry.compiler import compile_loss
    from icon_registry.errors import IconWarning

    z, x = torch.randn(8, 2), torch.randn(8, 5)
    for source in ("objective", "formula"):
        with pytest.warns(IconWarning) as caught:
            compile_loss("tsne", source=source)(z, x=x)
        assert [str(w.message) for w in caught] == [
            "tsne: perplexity 30 is out of reach: a batch of n = 8 gives each point 7 candidates, whose distribution "
            "has perplexity at most 7, so p is uniform over them whatever the data; lower it below 7 or pass a larger "
            "batch"]
        with pytest.warns(IconWarning, match="nearest = 3 gives each point 3 candidates.*or raise nearest"):
            compile_loss("tsne", source=source, perplexity=3.0, nearest=3)(z, x=x)
        with warnings.catch_warnings():
            warnings.simplefilter("error", IconWarning)
            compile_loss("tsne", source=source, perplexity=6.5)(z, x=x)
