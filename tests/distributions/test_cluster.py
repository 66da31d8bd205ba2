import torch

from .helpers import dist, inputs


def test_rows_and_columns_sum_to_one():
    q = dist({"kind": "cluster", "temperature": 0.5}).evaluate(inputs(n=7)).prob()
    assert torch.allclose(q.sum(1), torch.ones(7, dtype=torch.float64))
    assert torch.allclose(q.sum(0), torch.ones(7, dtype=torch.float64))


def test_hard_assignments_are_uniform_within_cluster():
    z = torch.tensor([[50.0, 0], [50.0, 0], [0, 50.0]], dtype=torch.float64)
    inp = inputs(n=3)
    inp.z = z
    q = dist({"kind": "cluster"}).evaluate(inp).prob()
    assert torch.allclose(q, torch.tensor([[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1.0]], dtype=torch.float64), atol=1e-12)
