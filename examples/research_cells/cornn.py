"""coRNN, the coupled oscillatory RNN (Rusch & Mishra 2021, "Coupled oscillatory recurrent
neural network (coRNN): an accurate and (gradient) stable architecture for learning long time
dependencies", ICLR 2021), ported from the authors' code: tk-rusch/coRNN @ afd8174,
adding/model.py, class coRNNCell.

A network of damped, driven oscillators: the second-order ODE
y'' = tanh(W y + W_z y' + V u + b) - gamma y - epsilon y', discretised with the paper's IMEX
scheme (its equation 3, with the explicit damping term the authors' code uses):

    z_n = z_{n-1} + dt (tanh(W y_{n-1} + W_z z_{n-1} + V u_n + b) - gamma y_{n-1} - epsilon z_{n-1})
    y_n = y_{n-1} + dt z_n

The state is (y, z); rnnbench reads out the first, y (named h, as in every cell). V u_n + b is
the ensemble's input projection U x_t + b. The authors' one nn.Linear over [u, z, y] draws every
weight and its bias from U(-k, k), k = 1/sqrt(D + 2H): `init_input` and `init_recurrent` draw
the same, which needs the input size D (`spec.input_size`). The hyperparameters dt, gamma and
epsilon default to the authors' sequential-MNIST setting (sMNIST/sMNIST_task.py: 0.042, 2.7,
4.7); their adding problem uses 0.06, 66 and 15 (adding/adding_task.py). Autograd
differentiates `step`, for training and for the gradient probes.
"""

import math
from dataclasses import dataclass

import torch

from rnnbench.cells import Cell, param, uniform


@dataclass(frozen=True)
class CoRNNParams:
    dt: float = param(0.042, "time step of the discretised ODE (the authors' dt)", gt=0)
    gamma: float = param(2.7, "stiffness of each oscillator's restoring force gamma y", min=0)
    epsilon: float = param(4.7, "damping epsilon z of each oscillator", min=0)


class CoRNN(Cell):
    name = "cornn"  # in variant labels and file names
    label = "coRNN"  # in tables, figures and the report
    n_states = 2
    states = ("h", "z")  # h is the paper's y (positions), z = y' (velocities)
    uses = ()  # no ModelSpec field changes it: its own hyperparameters do
    Params = CoRNNParams

    def init_recurrent(self, spec, gen):
        """W (E, H, H) on y and W_z (E, H, H) on z, as the authors' nn.Linear draws them."""
        h = spec.hidden_size
        k = 1 / math.sqrt(spec.input_size + 2 * h)
        return {"W": uniform((h, h), k, gen), "W_z": uniform((h, h), k, gen)}

    def init_input(self, spec, gen):
        """V (here U) and b with the same bound 1/sqrt(D + 2H)."""
        h = spec.hidden_size
        k = 1 / math.sqrt(spec.input_size + 2 * h)
        return {"U": uniform((h, spec.input_size), k, gen), "b": uniform((h,), k, gen)}

    def step(self, model, state, xp_t):
        """state (y, z), each (E, B, H); xp_t = V u_n + b (E, B, H) -> (y_n, z_n)."""
        y, z = state
        p = model.hparams
        drive = torch.tanh(
            xp_t + torch.bmm(y, model.W.transpose(1, 2)) + torch.bmm(z, model.W_z.transpose(1, 2))
        )
        z = z + p.dt * (drive - p.gamma * y - p.epsilon * z)
        return (y + p.dt * z, z)

    def recurrent_weights(self, hidden):
        return 2 * hidden * hidden  # W and W_z: the memory and FLOP counts
