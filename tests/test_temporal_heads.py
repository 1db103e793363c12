"""Temporal heads: every cell and readout, and which of them can tell frame order."""
from __future__ import annotations

import pytest
import torch

from models import MeanPoolHead, RecurrentHead, build_temporal_head


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("readout", ["last", "mean", "attention"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_heads_map_sequences_to_logits(cell, readout, bidirectional):
    head = build_temporal_head(32, 5, cell, hidden_size=16, num_layers=2, bidirectional=bidirectional, readout=readout)
    logits = head(torch.randn(3, 7, 32))
    assert logits.shape == (3, 5)
    logits.sum().backward()
    assert head.rnn.weight_ih_l0.grad is not None


def test_elman_rnn_is_tanh():
    head = RecurrentHead(8, 2, cell="rnn", hidden_size=4)
    assert head.rnn.nonlinearity == "tanh"


def test_recurrent_head_sees_order_and_mean_pool_does_not():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 16)
    reversed_x = x.flip(1)
    recurrent = RecurrentHead(16, 3, "gru", hidden_size=8).eval()
    pooled = MeanPoolHead(16, 3).eval()
    assert not torch.allclose(recurrent(x), recurrent(reversed_x))
    assert torch.allclose(pooled(x), pooled(reversed_x), atol=1e-6)


def test_bidirectional_last_readout_depends_on_every_step():
    head = RecurrentHead(4, 2, "lstm", hidden_size=4, bidirectional=True, dropout=0.0).eval()
    x = torch.randn(1, 5, 4, requires_grad=True)
    head(x).sum().backward()
    assert (x.grad.abs().sum(-1) > 0).all()


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="unknown cell"):
        build_temporal_head(4, 2, cell="transformer")
    with pytest.raises(ValueError, match="unknown readout"):
        build_temporal_head(4, 2, readout="max")


def test_motion_diff_gives_the_head_what_changed_between_frames():
    torch.manual_seed(0)
    head = RecurrentHead(input_dim=4, num_classes=2, cell="gru", hidden_size=8, dropout=0.0, motion="diff").eval()
    assert head.rnn.weight_ih_l0.shape[1] == 8, "features and their change, side by side"
    x = torch.randn(1, 5, 4)
    states = head.states(x)
    # The change is zero at t = 0: the first state equals that of a head fed zeros as the change.
    rnn_input = torch.cat([head.norm(x), torch.zeros_like(x)], dim=-1)[:, :1]
    expected, _ = head.rnn(rnn_input)
    assert torch.allclose(states[:, :1], expected, atol=1e-6)
    # Holding a frame still (same features again) differs from the frame sequence moving on.
    still = torch.cat([x[:, :3], x[:, 2:3]], dim=1)
    moving = torch.cat([x[:, :3], x[:, 1:2]], dim=1)
    assert not torch.allclose(head(still), head(moving))
    with pytest.raises(ValueError, match="motion"):
        RecurrentHead(input_dim=4, num_classes=2, motion="flow")
