import torch

from icon_registry.kernels import CandidatePosition

from .helpers import torch_inputs, weights


def test_positive_is_position_zero():
    inputs = torch_inputs(n=3, neighbors=torch.tensor([[1, 2], [2, 0], [0, 1]]))
    w = weights(CandidatePosition(kind="candidate_position"), inputs, "candidates")
    assert w.mask.tolist() == [[True, False]] * 3
    w1 = weights(CandidatePosition(kind="candidate_position", position=1), inputs, "candidates")
    assert w1.mask.tolist() == [[False, True]] * 3
