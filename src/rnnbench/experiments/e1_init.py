"""E1: gradient propagation at initialisation. Every model variant is probed (no training):
log10 ||dE_T/dh_k|| against the distance T - k, and the fitted decay slope per variant."""

from ..claims import Claim
from ..sections import ProbeSection
from ..verdicts import above, below
from .base import (
    BENGIO_1994,
    HOCHREITER_1991,
    JOZEFOWICZ_2015,
    LE_2015,
    LSTM_1997,
    PASCANU_2013,
    Experiment,
)

SLOPE_TOLERANCE = 1e-3  # decades per step: how close "slope = log10(rho)" must be
AT_INIT = {"step": 0}
LINEAR = {**AT_INIT, "cell": "rnn", "nonlinearity": "linear", "init": "orthogonal"}
ORTHOGONAL_RNN = {**AT_INIT, "cell": "rnn", "init": "orthogonal"}

E1 = Experiment(
    id="e1_init",
    title="E1 Gradient propagation at initialisation",
    summary="E1, gradient propagation at initialisation (no training): profiles of log10 "
    "||dE_T/dh_k|| against distance T-k for every model variant.",
    section=ProbeSection,
    profiles=True,
    claims=(
        Claim(
            "linear_rho_power",
            "BPTT multiplies the gradient by W f' once per step; without a nonlinearity its "
            "norm follows |W|^(t-k)",
            f"{BENGIO_1994}; {PASCANU_2013}; closed form",
            "decay_rates",
            LINEAR,
            "log_rho_deviation",
            "largest |slope - log10(rho)| (decades/step)",
            below(SLOPE_TOLERANCE),
        ),
        Claim(
            "exploding",
            "Exploding gradient: with |W| > 1 the gradient grows without bound over distance",
            f"{BENGIO_1994}; {PASCANU_2013}",
            "decay_rates",
            {**LINEAR, "rho": (">", 1)},
            "decades",
            "smallest gain over the sequence, rho > 1 (decades)",
            above(0),
            reduce="min",
        ),
        Claim(
            "vanishing",
            "Vanishing gradient: with |W| < 1 the gradient of distant steps shrinks towards 0",
            f"{HOCHREITER_1991}; {BENGIO_1994}",
            "decay_rates",
            {**ORTHOGONAL_RNN, "nonlinearity": ["linear", "tanh"], "rho": ("<", 1)},
            "decades",
            "smallest loss over the sequence, rho < 1 (decades; negative = decay)",
            below(0),
            reduce="max",
        ),
        Claim(
            "sigmoid_faster",
            "Gradients vanish faster with the sigmoid nonlinearity (sup f' = 1/4) than with tanh",
            f"{HOCHREITER_1991}; {LSTM_1997}",
            "decay_rates",
            {**ORTHOGONAL_RNN, "nonlinearity": "sigmoid"},
            "slope_difference",
            "sigmoid slope - tanh slope, least negative over rho (decades/step)",
            below(0),
            versus={"nonlinearity": "tanh"},
            pair_on=("task", "seq_len", "hidden_size", "rho"),
            reduce="max",
            labels=("sigmoid", "tanh"),
            sentences={
                "reproduced": "The sigmoid's derivative is at most 1/4, and its gradient vanishes "
                "faster than tanh's at every rho.",
                "not reproduced": "The sigmoid's gradient does not vanish faster than tanh's here.",
                "inconclusive": "Whether the sigmoid's gradient vanishes faster than tanh's at "
                "every rho is not decided by these intervals.",
            },
        ),
        Claim(
            "relu_still_vanishes",
            "Even with ReLU the vanishing gradient problem still exists",
            f"{PASCANU_2013}; {LE_2015}",
            "decay_rates",
            {**ORTHOGONAL_RNN, "nonlinearity": "relu", "rho": ("~=", 1.0)},
            "slope",
            "RNN-ReLU decay slope at rho = 1 (decades/step)",
            below(0),
            reduce="max",
        ),
        Claim(
            "lstm_gradient_survives",
            "LSTM addresses the vanishing gradient: its gradient through time decays more slowly",
            LSTM_1997,
            "decay_rates",
            {**AT_INIT, "cell": "lstm"},
            "best_slope_difference",
            "LSTM slope (best forget bias) - RNN-tanh slope (decades/step)",
            above(0),
            versus={"cell": "rnn", "nonlinearity": "tanh", "init": "default"},
            labels=("LSTM", "RNN-tanh"),
        ),
        Claim(
            "forget_bias",
            "A forget-gate bias of 1 keeps LSTM gradients alive over longer distances",
            JOZEFOWICZ_2015,
            "decay_rates",
            {**AT_INIT, "cell": "lstm", "forget_bias": 1.0},
            "slope_difference",
            "LSTM slope with forget bias 1 - with forget bias 0 (decades/step)",
            above(0),
            versus={"forget_bias": 0.0},
            pair_on=("task", "seq_len", "hidden_size", "init"),
            reduce="min",
            labels=("forget bias 1", "forget bias 0"),
        ),
    ),
)
