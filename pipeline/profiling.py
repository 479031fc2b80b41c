"""How much of a job's time is arithmetic: model forward and backward passes and optimiser steps.

:class:`ArithmeticClock` installs torch's global module hooks and wraps ``torch.autograd``'s
``backward`` and ``grad`` while it is active. Time inside the outermost module call (a whole
model's forward pass, not each layer again), inside a backward pass and inside an optimiser
step counts as arithmetic; everything else (loading and decoding data, augmentation, building
models, checkpoints, database round trips) does not. The demo's worker runs under one clock
per table, and ``bench/arithmetic_share.py`` reports the share.

On a GPU the clock synchronises at each boundary, so queued kernels are charged to the
arithmetic that launched them (and the synchronisation costs what it costs: measure on purpose).
"""

from __future__ import annotations

import functools
import threading
import time

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook


class ArithmeticClock:
    """``with ArithmeticClock() as clock: ...`` then ``clock.seconds``: arithmetic seconds inside.

    Only the thread that entered the clock is timed. Clocks do not nest (a second active
    clock is an error: both would patch the same functions).
    """

    _active: ArithmeticClock | None = None

    def __init__(self):
        self.seconds = 0.0
        self._depth = 0  # nesting of module calls, backward passes and steps now running
        self._started = 0.0
        self._thread = None
        self._handles = []
        self._saved = {}

    def _enter(self) -> None:
        if threading.get_ident() != self._thread:
            return
        if self._depth == 0:
            _synchronise()
            self._started = time.perf_counter()
        self._depth += 1

    def _leave(self) -> None:
        if threading.get_ident() != self._thread or self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            _synchronise()
            self.seconds += time.perf_counter() - self._started

    def _timed(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._leave()

        return wrapper

    def __enter__(self) -> ArithmeticClock:
        if ArithmeticClock._active is not None:
            raise RuntimeError("an ArithmeticClock is already running; clocks do not nest")
        self._thread = threading.get_ident()
        modules = torch.nn.modules.module
        self._handles = [
            modules.register_module_forward_pre_hook(lambda module, args: self._enter()),
            # always_call: a forward pass that raises still closes its interval
            modules.register_module_forward_hook(lambda module, args, out: self._leave(), always_call=True),
            register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: self._enter()),
            register_optimizer_step_post_hook(lambda optimizer, args, kwargs: self._leave()),
        ]
        # Tensor.backward calls torch.autograd.backward by attribute, so this covers both
        self._saved = {"backward": torch.autograd.backward, "grad": torch.autograd.grad}
        torch.autograd.backward = self._timed(self._saved["backward"])
        torch.autograd.grad = self._timed(self._saved["grad"])
        ArithmeticClock._active = self
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        torch.autograd.backward = self._saved["backward"]
        torch.autograd.grad = self._saved["grad"]
        self._handles, self._depth = [], 0
        ArithmeticClock._active = None


def _synchronise() -> None:
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
