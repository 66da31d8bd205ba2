import numpy as np
import pytest
import sympy
import torch

from icon_registry.errors import IconError
from icon_registry.kernels import Logits

from .helpers import sympy_inputs, torch_inputs, weights


def test_student_logits_are_z_over_the_temperature():
    inputs = torch_inputs(n=4, d=3, params={"T": 2.0})
    w = weights(Logits(kind="logits", temperature="T"), inputs, "outputs")
    assert w.mask.shape == (4, 3) and bool(w.mask.all())
    assert torch.equal(w.log_weights, inputs.z / 2.0)


def test_teacher_logits_are_centred_then_scaled():
    teacher, center = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    inputs = torch_inputs(n=4, d=3, teacher=teacher, center=center)
    kernel = Logits(kind="logits", source="teacher", temperature=0.04, center=True)
    w = weights(kernel, inputs, "outputs")
    assert torch.allclose(w.log_weights, (teacher - center) / 0.04, rtol=1e-15)
    assert kernel.inputs_used() == {"teacher", "center"}
    assert Logits(kind="logits").inputs_used() == set()


def test_symbolic_teacher_softmax():
    teacher = np.array([[sympy.Integer(1), sympy.Integer(2)], [sympy.Integer(0), sympy.Integer(3)]], dtype=object)
    inputs = sympy_inputs(n=2, d=2, teacher=teacher, params={"T": sympy.Symbol("T", positive=True)})
    w = weights(Logits(kind="logits", source="teacher", temperature="T"), inputs, "outputs")
    assert w.log_weights[1, 1] == 3 / sympy.Symbol("T", positive=True)


def test_needs_support_outputs():
    inputs = torch_inputs(n=4, d=3)
    with pytest.raises(IconError, match="need support 'outputs'"):
        weights(Logits(kind="logits"), inputs, "others")


def test_missing_teacher_is_named():
    with pytest.raises(IconError, match="argument 'teacher' is required"):
        weights(Logits(kind="logits", source="teacher"), torch_inputs(n=4, d=3), "outputs")
