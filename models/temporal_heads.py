"""Temporal heads: read a sequence of frame features [B,T,D] and give class logits [B,C].

`RecurrentHead` is the many-to-one recurrent network: an Elman RNN
(h_t = tanh(U x_t + W h_{t-1} + b)), an LSTM or a GRU, whose states are read out by the last
state, their mean, or attention over them, then a linear layer V gives the logits.
`MeanPoolHead` has no recurrence (the order of frames cannot matter); it is the baseline that
shows what the recurrence adds.

With `motion="diff"` the recurrent head reads, beside each frame's features, how they changed
since the frame before (x_t - x_{t-1}, zero at t = 0): actions that share their poses and differ
in how the body moves are told apart by the change, which a frozen per-frame CNN never sees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Type

import torch
from torch import nn

CELLS: Dict[str, Type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
READOUTS = ("last", "mean", "attention")
MOTIONS = ("none", "diff")


@dataclass(frozen=True)
class HeadDefaults:
    """The one place the temporal head's defaults live (the LightningModule's signature reads them)."""

    cell: str = "gru"
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.2
    readout: str = "last"
    motion: str = "none"


HEAD_DEFAULTS = HeadDefaults()


class RecurrentHead(nn.Module):
    """Many-to-one RNN, LSTM or GRU over frame features [B,T,D], read out to class logits [B,C]."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        cell: str = HEAD_DEFAULTS.cell,
        hidden_size: int = HEAD_DEFAULTS.hidden_size,
        num_layers: int = HEAD_DEFAULTS.num_layers,
        bidirectional: bool = HEAD_DEFAULTS.bidirectional,
        dropout: float = HEAD_DEFAULTS.dropout,
        readout: str = HEAD_DEFAULTS.readout,
        motion: str = HEAD_DEFAULTS.motion,
    ):
        super().__init__()
        if motion not in MOTIONS:
            raise ValueError(f"unknown motion {motion!r}; choose one of {', '.join(MOTIONS)}")
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)} (or 'none' for mean pooling)")
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
        self.cell, self.readout, self.bidirectional, self.motion = cell, readout, bidirectional, motion
        # Frozen CNN features have arbitrary scale; normalising them lets one learning rate suit every backbone.
        self.norm = nn.LayerNorm(input_dim)
        self.input_dropout = nn.Dropout(dropout)
        extra = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = CELLS[cell](
            input_dim * (2 if motion == "diff" else 1),
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            **extra,
        )
        out_dim = hidden_size * (2 if bidirectional else 1)
        if readout == "attention":
            self.attention = nn.Sequential(nn.Linear(out_dim, out_dim // 2), nn.Tanh(), nn.Linear(out_dim // 2, 1))
        self.output_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(out_dim, num_classes)  # V

    def states(self, features: torch.Tensor) -> torch.Tensor:
        """features [B,T,D] -> hidden states of the top layer [B,T,H] (H doubled when bidirectional)."""
        x = self.norm(features)
        if self.motion == "diff":
            change = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
            x = torch.cat([x, change], dim=-1)
        outputs, _ = self.rnn(self.input_dropout(x))
        return outputs

    def pool(self, outputs: torch.Tensor) -> torch.Tensor:
        """[B,T,H] -> [B,H] by the configured readout."""
        if self.readout == "mean":
            return outputs.mean(dim=1)
        if self.readout == "attention":
            weights = torch.softmax(self.attention(outputs), dim=1)  # [B,T,1]
            return (weights * outputs).sum(dim=1)
        if self.bidirectional:
            # The forward direction has read everything at t = T-1, the backward one at t = 0.
            half = outputs.shape[-1] // 2
            return torch.cat([outputs[:, -1, :half], outputs[:, 0, half:]], dim=-1)
        return outputs[:, -1]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.output_dropout(self.pool(self.states(features))))


class MeanPoolHead(nn.Module):
    """Average the frame features over time, then a linear layer: blind to frame order."""

    def __init__(self, input_dim: int, num_classes: int, dropout: float = HEAD_DEFAULTS.dropout):
        super().__init__()
        self.norm = nn.LayerNorm(input_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(input_dim, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.norm(features).mean(dim=1)))


def build_temporal_head(
    input_dim: int,
    num_classes: int,
    cell: str = HEAD_DEFAULTS.cell,
    hidden_size: int = HEAD_DEFAULTS.hidden_size,
    num_layers: int = HEAD_DEFAULTS.num_layers,
    bidirectional: bool = HEAD_DEFAULTS.bidirectional,
    dropout: float = HEAD_DEFAULTS.dropout,
    readout: str = HEAD_DEFAULTS.readout,
    motion: str = HEAD_DEFAULTS.motion,
) -> nn.Module:
    """cell: "rnn" (Elman, tanh), "lstm", "gru", or "none" for the order-blind mean-pool baseline;
    motion: "diff" adds each step's feature change to the recurrent head's input."""
    if cell == "none":
        return MeanPoolHead(input_dim, num_classes, dropout)
    return RecurrentHead(input_dim, num_classes, cell, hidden_size, num_layers, bidirectional, dropout, readout,
                         motion)
