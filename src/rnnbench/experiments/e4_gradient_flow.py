"""E4: gradient flow during training. Gradient-through-time profiles every
train.profile_every steps of training, RNN against LSTM."""

from ..claims import Claim
from ..measures import LAST
from ..sections import TrainSection
from ..verdicts import above
from .base import LSTM_1997, Experiment

E4 = Experiment(
    id="e4_gradient_flow",
    title="E4 Gradient flow during training",
    summary="E4, gradient flow during training: gradient-through-time profiles every "
    "train.profile_every steps, RNN against LSTM.",
    section=TrainSection,
    profiles=True,
    claims=(
        Claim(
            "training_flow",
            "After training, the LSTM still carries gradient further back in time than the RNN",
            LSTM_1997,
            "decay_rates",
            {"step": LAST, "cell": "lstm"},
            "slope_difference",
            "LSTM slope - RNN slope at the last profiled step (decades/step)",
            above(0),
            versus={"cell": "rnn"},
            pair_on=("task", "seq_len", "hidden_size", "clip", "clip_threshold"),
            reduce="min",
            labels=("LSTM", "RNN"),
        ),
    ),
)
