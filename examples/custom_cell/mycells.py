"""A custom cell for rnnbench: the minimal gated unit (MGU; Zhou, Wu, Zhang & Zhou 2016), one
forget gate f shared by the update and the reset:

    f_t = sigmoid(W_f h_{t-1} + U_f x_t + b_f)
    n_t = tanh(W_n (f_t * h_{t-1}) + U_n x_t + b_n)
    h_t = (1 - f_t) * h_{t-1} + f_t * n_t

rnnbench stacks E models: the ensemble holds U (E, 2H, D) and b (E, 2H) and passes this step
xp_t = U x_t + b; the cell owns W (E, 2H, H). Autograd differentiates `step`, for training and
for the gradient-through-time probes.
"""

import torch

from rnnbench.cells import MATRIX_INITS, Cell


class MGU(Cell):
    name = "mgu"  # in variant labels and file names
    label = "MGU"  # in tables, figures and the report
    gates = 2  # blocks of H rows in U x_t + b: f and n
    uses = ("init", "rho")  # the ModelSpec fields that change this cell

    def init_recurrent(self, spec, gen):
        """One model's recurrent weights, float64, from the named init (one per gate block)."""
        h = spec.hidden_size
        return {"W": torch.cat([MATRIX_INITS[spec.init](h, spec.rho, gen) for _ in range(2)])}

    def step(self, model, state, xp_t):
        """state: (h,), h (E, B, H); xp_t (E, B, 2H) -> (h_next,)."""
        h = state[0]
        w_f, w_n = model.W.split(model.spec.hidden_size, 1)  # (E, H, H) each
        x_f, x_n = xp_t.chunk(2, -1)  # (E, B, H) each
        f = torch.sigmoid(x_f + torch.bmm(h, w_f.transpose(1, 2)))
        n = torch.tanh(x_n + torch.bmm(f * h, w_n.transpose(1, 2)))
        return ((1 - f) * h + f * n,)

    def recurrent_matrix(self, model):
        """The candidate's block, whose spectral radius the curves table reports (optional)."""
        return model.W[:, model.spec.hidden_size :]  # (E, H, H)
