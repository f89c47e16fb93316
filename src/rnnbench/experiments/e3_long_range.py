"""E3: vanishing gradients and long-range learning. Each variant trained until solved on adding,
copy and temporal order across T, with an lr sweep and the horizon ladder: success rates against
T, the learnable horizon and the sequences seen until solved."""

from ..claims import Claim
from ..sections import TrainSection
from ..verdicts import above, below
from .base import ARJOVSKY_2016, BENGIO_1994, LE_2015, LSTM_1997, Experiment

TANH_RNN = {"cell": "rnn", "nonlinearity": "tanh", "init": ("!=", "identity")}
IRNN = {"cell": "rnn", "nonlinearity": "relu", "init": "identity"}

E3 = Experiment(
    id="e3_long_range",
    title="E3 Vanishing gradients and long-range learning",
    summary="E3, vanishing gradients and long-range learning: success rate of each model "
    "variant against T on adding, copy and temporal order; the learnable horizon.",
    section=TrainSection,
    claims=(
        Claim(
            "long_range_hard",
            "Vanishing gradients make it hard for RNNs to learn long-range dependencies",
            f"{BENGIO_1994}; {LSTM_1997}",
            "horizons",
            {"cell": "rnn", "nonlinearity": ["tanh", "sigmoid"], "init": ("!=", "identity")},
            "success_short_long",
            "success rate of RNN-tanh/sigmoid at each task's shortest T minus at its longest T",
            above(0),
        ),
        Claim(
            "lstm_longest_horizon",
            "LSTM learns longer dependencies: its horizon exceeds every vanilla RNN's on every "
            "task",
            LSTM_1997,
            "runs",
            {"cell": "lstm"},
            "horizon_difference",
            "LSTM horizon - best vanilla-RNN horizon, smallest over tasks (steps)",
            above(0),
            versus={"cell": "rnn"},
            reduce="min",
            labels=("LSTM", "best RNN"),
        ),
        Claim(
            "irnn_adding",
            "An identity-initialised ReLU RNN (IRNN) learns longer adding problems than a tanh RNN",
            LE_2015,
            "runs",
            {"task": "adding", **IRNN},
            "horizon_difference",
            "IRNN horizon - RNN-tanh horizon on adding (steps)",
            above(0),
            versus=TANH_RNN,
            labels=("IRNN", "RNN-tanh"),
        ),
        Claim(
            "copy_lstm_beats_baseline",
            "LSTM beats the memoryless baseline on the copy task at T = 100",
            ARJOVSKY_2016,
            "runs",
            {"task": "copy", "cell": "lstm", "seq_len": 100},
            "median_loss_ratio",
            "median test cross-entropy / memoryless baseline",
            below(1),
        ),
    ),
)
