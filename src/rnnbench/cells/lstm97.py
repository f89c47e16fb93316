"""The LSTM of Hochreiter & Schmidhuber (1997, Neural Computation 9(8), Section 4 and Appendix
A.1), as trained there: no forget gate, c_t = c_{t-1} + i_t g(a_g) (the constant error carousel,
CEC), h_t = o_t h(c_t), with g = 4 sigmoid - 2 in [-2, 2] and h = 2 sigmoid - 1 in [-1, 1]
(eqs. 4, 5) and logistic gates i, o (eq. 3).

Its gradient is the paper's truncated one (Appendix A.1, the derivatives marked "approx_tr"):
the error reaching the net inputs of the cell and of its gates, a_i, a_g, a_o, is not propagated
further back in time, so only c carries error from step to step. The step reads h_{t-1}
detached, so autograd computes exactly that gradient (`truncated = ("h",)`); dE_T/dh_k is 0 for
k < T by construction, and the gradient probe measures c (`probe_state: c`): dE_T/dc_k is
dE_T/dc_T at every k, the CEC's constant error flow.

The paper's gate biases per memory block (Section 5.7, Table 10: input gates -3, -6 in Experiment
4, -2, -4 in 6a; output gates drawn there) are hyperparameters. Its gates are per unit, not shared
by the cells of a block: a block only groups the biases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import MatrixCell, param


@dataclass(frozen=True)
class LSTM97Params:
    block_size: int = param(
        2,
        "memory cells per block: unit j takes the gate biases of block j // block_size (its gates "
        "are its own; Hochreiter & Schmidhuber 1997 share them within a block)",
        min=1,
    )
    input_gate_bias: float = param(
        -3.0,
        "initial input-gate bias of the first block (H&S 1997 Table 10: -3 in Experiment 4, -2 "
        "in 6a); with input_gate_bias_step, both 0: left as the init drew it",
    )
    input_gate_bias_step: float = param(
        -3.0,
        "added per further block: block k's input-gate bias is input_gate_bias + k x this "
        "(Experiment 4: -3, -6; 6a: -2, -4)",
    )
    output_gate_bias: float = param(
        0.0,
        "initial output-gate bias of the first block (Experiments 4 and 6 draw it as every other "
        "weight, Experiment 3 sets -2, -4, -6); with output_gate_bias_step, both 0: as drawn",
    )
    output_gate_bias_step: float = param(
        0.0, "added per further block, as input_gate_bias_step for the output gates"
    )


def _g(a: torch.Tensor) -> torch.Tensor:
    return 4 * torch.sigmoid(a) - 2  # the cell input's squashing, range [-2, 2] (eq. 5)


def _h(c: torch.Tensor) -> torch.Tensor:
    return 2 * torch.sigmoid(c) - 1  # the cell output's squashing, range [-1, 1] (eq. 4)


class LSTM97(MatrixCell):
    name, label = "lstm97", "LSTM (1997)"
    gates, n_states = 3, 2  # gate order i, g, o
    states = ("h", "c")  # c: the cell state, the CEC
    candidate = 1  # the block of the cell input g
    Params = LSTM97Params
    truncated = ("h",)  # h_{t-1} enters a_i, a_g, a_o without gradient (Appendix A.1)
    # measured on the laptop tier's HS97 runs (H = 4, 2 shared cores): 153 s wall for 45,900
    # model-steps, where AUTOGRAD_FACTOR = 8 estimates 505 s; 3 keeps the estimate above
    autograd_factor = 3.0

    def init_biases(self, spec, b):
        """The gate biases of Params, block by block, over the drawn ones (b: (3H,))."""
        h, p = spec.hidden_size, spec.hparams
        block = torch.arange(h, dtype=b.dtype) // p.block_size  # (H,) each unit's block
        for rows, first, step in ((slice(0, h), p.input_gate_bias, p.input_gate_bias_step),
                                  (slice(2 * h, 3 * h), p.output_gate_bias,
                                   p.output_gate_bias_step)):  # fmt: skip
            if first or step:
                b[rows] = first + block * step

    def transcendentals(self, spec):
        return 0, 4  # sigmoid of a_i, a_g, a_o and c; autograd's backward reuses them

    def step(self, model, state, xp_t):
        h, c = state  # (E, B, H) each
        a = xp_t + torch.bmm(h.detach(), model.W.transpose(1, 2))  # (E, B, 3H), truncated
        i, g, o = a.chunk(3, -1)
        c = c + torch.sigmoid(i) * _g(g)  # no forget gate
        return (torch.sigmoid(o) * _h(c), c)
