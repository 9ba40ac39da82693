"""The timing loop both PyTorch peers (lm_peer.py, vision_peer.py) run, so their numbers are taken
the same way as each other's: two untimed warm-up training steps, then `steps` timed ones; one
untimed forward without gradients, then `steps` timed ones."""
import time

import torch


def time_train_and_forward(opt, loss_fn, fwd_fn, steps):
    """Returns (seconds of training, seconds of forwards, the last training loss)."""
    t_train = 0.0
    for s in range(-2, steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        if s >= 0:
            t_train += time.perf_counter() - t0
    t_fwd = 0.0
    with torch.no_grad():
        for s in range(-1, steps):
            t0 = time.perf_counter()
            fwd_fn()
            if s >= 0:
                t_fwd += time.perf_counter() - t0
    return t_train, t_fwd, loss
