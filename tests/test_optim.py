"""Ensemble optimizers and clipping against torch.optim and torch.nn.utils on single models."""

import pytest
import torch

from rnnbench.optim import CLIP_MODES, EnsembleOptimizer, clip, grad_norm
from rnnbench.spec import TrainSpec


@pytest.mark.parametrize(
    "name,lr,decay",
    [("sgd", 0.1, 0.99), ("adam", 0.01, 0.99), ("rmsprop", 0.01, 0.99)]
    + [("rmsprop", 1e-3, 0.9)],  # Arjovsky et al.'s (2016) decay
)
@pytest.mark.parametrize("sweep", [False, True])
def test_matches_torch_optim_per_model(name, lr, decay, sweep):
    """Each model follows torch.optim with its own learning rate (sweep: three different ones)."""
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(3, 4, 5, dtype=torch.float64, generator=gen)  # 3 models
    lrs = [lr * 0.1, lr, lr * 3] if sweep else [lr] * 3
    ours = [p.clone()]
    refs = [torch.nn.Parameter(p[e].clone()) for e in range(3)]
    ctor = {
        "sgd": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9),
        "adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr),
        "rmsprop": lambda ps, lr: torch.optim.RMSprop(ps, lr=lr, alpha=decay),
    }[name]
    torch_opts = [ctor([r], lrs[e]) for e, r in enumerate(refs)]
    spec = TrainSpec(optimizer=name, lr=[lr], momentum=0.9, rmsprop_decay=decay)
    opt = EnsembleOptimizer(ours, spec, torch.tensor(lrs, dtype=torch.float64) if sweep else None)
    active = torch.tensor([True, True, True])
    for _ in range(5):
        g = torch.randn(3, 4, 5, dtype=torch.float64, generator=gen)
        opt.step([g.clone()], active)
        for e in range(3):
            refs[e].grad = g[e].clone()
            torch_opts[e].step()
    for e in range(3):
        torch.testing.assert_close(ours[0][e], refs[e].detach(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_lr_decay_matches_torch_step_lr(name):
    """lr_decay_every = k, lr_decay = g: each model follows torch.optim with StepLR(k, g), the
    schedule of cybertronai/schmidhuber-problems (lr halved every 1500 iterations)."""
    gen = torch.Generator().manual_seed(3)
    p = torch.randn(2, 4, dtype=torch.float64, generator=gen)
    ours, lrs = [p.clone()], [0.01, 0.03]
    refs = [torch.nn.Parameter(p[e].clone()) for e in range(2)]
    ctor = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    torch_opts = [ctor[name]([r], lr=lrs[e]) for e, r in enumerate(refs)]
    schedules = [torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5) for o in torch_opts]
    spec = TrainSpec(optimizer=name, momentum=0.0, lr_decay_every=3, lr_decay=0.5)
    opt = EnsembleOptimizer(ours, spec, torch.tensor(lrs, dtype=torch.float64))
    for _ in range(10):
        g = torch.randn(2, 4, dtype=torch.float64, generator=gen)
        opt.step([g.clone()], torch.tensor([True, True]))
        for e in range(2):
            refs[e].grad = g[e].clone()
            torch_opts[e].step()
            schedules[e].step()
    assert schedules[0].get_last_lr()[0] == 0.01 * 0.5**3  # decayed three times: it acted
    for e in range(2):
        torch.testing.assert_close(ours[0][e], refs[e].detach(), rtol=1e-12, atol=1e-14)


def test_taken_models_continue_as_before():
    """An optimizer cut down to some models (a compacted ensemble) updates them exactly as the
    full one does."""
    gen = torch.Generator().manual_seed(2)
    p = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    full = [p.clone()]
    opt = EnsembleOptimizer(
        full, TrainSpec(optimizer="adam"), torch.tensor([1e-2, 2e-2, 3e-2, 4e-2])
    )
    grads = [torch.randn(4, 3, dtype=torch.float64, generator=gen) for _ in range(4)]
    for g in grads[:2]:
        opt.step([g.clone()], torch.ones(4, dtype=torch.bool))
    idx = torch.tensor([1, 3])
    part = [full[0].index_select(0, idx)]
    small = opt.take(idx, part)
    for g in grads[2:]:
        opt.step([g.clone()], torch.ones(4, dtype=torch.bool))
        small.step([g[idx].clone()], torch.ones(2, dtype=torch.bool))
    assert torch.equal(part[0], full[0][idx])


def test_frozen_model_is_untouched_by_nan():
    p = torch.ones(2, 3)
    opt = EnsembleOptimizer([p], TrainSpec(optimizer="adam", lr=[0.1]))
    g = torch.tensor([[float("nan")] * 3, [1.0] * 3])
    opt.step([g], torch.tensor([False, True]))
    assert torch.equal(p[0], torch.ones(3)) and torch.isfinite(p).all()
    assert (p[1] < 1).all()


def test_clip_per_model_matches_torch_utils():
    gen = torch.Generator().manual_seed(1)
    grads = [
        torch.randn(4, 6, 3, dtype=torch.float64, generator=gen) * 5,
        torch.randn(4, 6, dtype=torch.float64, generator=gen) * 5,
    ]
    modes = torch.tensor([CLIP_MODES[m] for m in ("none", "norm", "value", "norm")])
    thresholds = torch.tensor([1.0, 1.0, 0.5, 1e6], dtype=torch.float64)
    originals = [g.clone() for g in grads]
    norm, clipped = clip(grads, modes, thresholds)
    torch.testing.assert_close(norm, grad_norm(originals))
    assert clipped.tolist() == [False, True, True, False]
    for e, mode in enumerate(("none", "norm", "value", "norm")):
        ref = [torch.nn.Parameter(torch.zeros_like(g[e])) for g in originals]
        for r, g in zip(ref, originals, strict=True):
            r.grad = g[e].clone()
        if mode == "norm":
            torch.nn.utils.clip_grad_norm_(ref, thresholds[e].item())
        elif mode == "value":
            torch.nn.utils.clip_grad_value_(ref, thresholds[e].item())
        for r, g in zip(ref, grads, strict=True):
            torch.testing.assert_close(g[e], r.grad, rtol=1e-6, atol=1e-12)
