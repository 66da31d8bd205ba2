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


def test_a_nan_or_negative_code_stays_in_the_support_and_is_never_dropped():
    """The support is where the codes are not 0: a NaN or negative code (a Sinkhorn that overflowed) makes the
    anchor's log-weight NaN, so the loss is NaN as with every teacher entry, not the loss of the other codes."""
    teacher = torch.tensor([[float("nan"), 0.5, 0.5], [-0.2, 1.2, 0.0]], dtype=torch.float64)
    w = weights(TeacherProbabilities(kind="teacher_probabilities"), torch_inputs(n=2, d=3, teacher=teacher), "outputs")
    assert w.mask.tolist() == [[True, True, True], [True, True, False]]
    assert w.log_weights[0, 0].isnan() and w.log_weights[1, 0].isnan()


def test_swav_with_a_nan_row_of_codes_is_nan_from_the_objective_and_the_formula():
    from icon_registry import compile_loss

    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 3, dtype=torch.float64, generator=g)
    codes = torch.softmax(torch.randn(4, 3, dtype=torch.float64, generator=g), 1)
    codes[2] = float("nan")
    for source in ("objective", "formula"):
        assert compile_loss("swav", source=source)(z, teacher=codes).isnan(), source
