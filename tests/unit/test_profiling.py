"""The arithmetic clock counts model passes and optimiser steps, once each, and nothing else.

The assertions are bounds the clock's logic guarantees whatever the machine's speed: time
slept inside a forward pass is at least the sleep; time slept outside is excluded, so the
counted time plus the time slept outside never exceeds the wall time.
"""

import time

import pytest
import torch
from torch import nn

from pipeline.profiling import ArithmeticClock

SLEEP_S = 0.05


class Sleepy(nn.Module):
    def forward(self, x):
        time.sleep(SLEEP_S)
        return x * 2


class Outer(nn.Module):
    """A model whose forward calls a submodule: one interval, not two."""

    def __init__(self):
        super().__init__()
        self.inner = Sleepy()
        self.linear = nn.Linear(3, 3)

    def forward(self, x):
        return self.linear(self.inner(x))


def test_forward_backward_and_step_are_counted_and_the_rest_is_not():
    torch.manual_seed(0)
    model = Outer()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 3)
    started = time.perf_counter()
    with ArithmeticClock() as clock:
        for _ in range(3):
            time.sleep(SLEEP_S)  # "loading": not arithmetic
            loss = model(x).pow(2).sum()
            loss.backward()
            optimizer.step()
    wall = time.perf_counter() - started
    assert clock.seconds >= 3 * SLEEP_S  # the sleeps inside the forward passes
    assert clock.seconds + 3 * SLEEP_S <= wall  # nested modules counted once; outside sleeps excluded


def test_a_forward_pass_that_raises_closes_its_interval_and_the_clock_restores_torch():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("bad input")

    backward = torch.autograd.backward
    with ArithmeticClock() as clock:
        with pytest.raises(ValueError):
            Broken()(torch.zeros(1))
        assert clock._depth == 0
        started = time.perf_counter()
        time.sleep(SLEEP_S)
        outside = time.perf_counter() - started
        before = clock.seconds
    assert clock.seconds == before  # the sleep after the failure was not counted
    assert outside >= SLEEP_S
    assert torch.autograd.backward is backward
    assert not torch.nn.modules.module._global_forward_hooks


def test_clocks_do_not_nest():
    with ArithmeticClock():
        with pytest.raises(RuntimeError, match="do not nest"):
            ArithmeticClock().__enter__()
