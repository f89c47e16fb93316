"""rnnbench: measured exploding and vanishing gradients in RNNs, LSTMs and GRUs."""

__version__ = "0.1.0"
