import torch

from icon_registry.kernels import TeacherProbabilities

from .helpers import torch_inputs, weights


def test_given_probabilities_and_their_zeros():
    teacher = torch.tensor([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]], dtype=torch.float64)
    inputs = torch_inputs(n=2, d=3, teacher=teacher)
    w = weights(TeacherProbabilities(kind="teacher_probabilities"), inputs, "outputs")
    assert w.mask.tolist() == [[True, True, False], [True, True, True]]
    assert torch.allclose(w.log_weights[w.mask], teacher[w.mask].log())
    assert TeacherProbabilities(kind="teacher_probabilities").inputs_used() == {"teacher"}
