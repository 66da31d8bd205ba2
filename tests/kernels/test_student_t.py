import math

import sympy

from icon_registry.kernels import StudentT

from .helpers import sympy_inputs, torch_inputs, weights


def test_cauchy_is_tsne_kernel():
    inputs = torch_inputs()
    w = weights(StudentT(kind="student_t", nu=1.0), inputs)
    d2 = float(((inputs.z[0] - inputs.z[1]) ** 2).sum())
    assert math.isclose(float(w.log_weights[0, 1]), -math.log1p(d2), rel_tol=1e-12)


def test_general_nu():
    inputs = torch_inputs(params={"nu": 3.0})
    w = weights(StudentT(kind="student_t", nu="nu"), inputs)
    d2 = float(((inputs.z[2] - inputs.z[4]) ** 2).sum())
    assert math.isclose(float(w.log_weights[2, 4]), -2.0 * math.log1p(d2 / 3.0), rel_tol=1e-12)


def test_symbolic():
    inputs = sympy_inputs()
    w = weights(StudentT(kind="student_t", nu=1.0), inputs)
    z = inputs.z
    d2 = (z[0, 0] - z[1, 0]) ** 2 + (z[0, 1] - z[1, 1]) ** 2
    assert sympy.simplify(sympy.nsimplify(sympy.exp(w.log_weights[0, 1])) - 1 / (1 + d2)) == 0
