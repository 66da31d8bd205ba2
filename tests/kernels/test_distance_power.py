import math

from icon_registry.kernels import DistancePower

from .helpers import torch_inputs, weights


def test_euclidean_power_baek():
    inputs = torch_inputs(params={"n": 3.0})
    w = weights(DistancePower(kind="distance_power", power="n"), inputs)
    d = float(((inputs.z[0] - inputs.z[2]) ** 2).sum()) ** 0.5
    assert math.isclose(float(w.log_weights[0, 2]), -3.0 * math.log(d), rel_tol=1e-12)


def test_squared_is_paper_form():
    inputs = torch_inputs()
    w = weights(DistancePower(kind="distance_power", power=2.0, squared=True), inputs)
    d2 = float(((inputs.z[1] - inputs.z[3]) ** 2).sum())
    assert math.isclose(float(w.log_weights[1, 3]), -2.0 * math.log(d2), rel_tol=1e-12)
