"""A GPU that the machine shows but torch cannot use is an error; PIPELINE_DEVICE=cpu accepts the CPU."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline import device
from pipeline.device import DeviceError, check_gpu_usable, choose_device

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_cuda(monkeypatch):
    """torch as a CPU wheel or with a driver too old: CUDA is not available."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("PIPELINE_DEVICE", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(device.Path, "exists", lambda self: False if str(self) == "/dev/nvidia0" else Path.exists(self))
    return monkeypatch


def test_a_gpu_named_by_cuda_visible_devices_but_unusable_is_an_error_that_says_how_to_fix_it(no_cuda):
    no_cuda.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(DeviceError) as raised:
        choose_device()
    message = str(raised.value)
    assert "CUDA_VISIBLE_DEVICES=0" in message and "PIPELINE_DEVICE=cpu" in message and "torch" in message
    assert "\n" not in message


def test_a_gpu_listed_by_nvidia_smi_but_unusable_is_an_error(no_cuda, tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0000)'\n")
    smi.chmod(0o755)
    no_cuda.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(DeviceError, match=r"nvidia-smi lists GPU 0: NVIDIA H200"):
        check_gpu_usable()


def test_pipeline_device_cpu_accepts_the_cpu_and_hidden_gpus_are_no_gpus(no_cuda):
    no_cuda.setenv("CUDA_VISIBLE_DEVICES", "0")
    no_cuda.setenv("PIPELINE_DEVICE", "cpu")
    assert choose_device() == torch.device("cpu")
    no_cuda.delenv("PIPELINE_DEVICE")
    for hidden in ("", "-1"):
        no_cuda.setenv("CUDA_VISIBLE_DEVICES", hidden)
        no_cuda.setenv("PATH", "/nonexistent")
        assert choose_device() == torch.device("cpu")


def test_a_requested_cuda_device_without_cuda_and_a_misspelt_device_are_errors(no_cuda):
    no_cuda.setenv("PIPELINE_DEVICE", "cuda")
    with pytest.raises(DeviceError, match="'cuda' was requested"):
        choose_device()
    no_cuda.setenv("PIPELINE_DEVICE", "gpu0")
    with pytest.raises(DeviceError, match="PIPELINE_DEVICE='gpu0' is not a device"):
        choose_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine's GPU is usable")
def test_the_worker_refuses_to_start_in_one_line_when_a_gpu_is_visible_but_unusable():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0", "PYTHONPATH": str(ROOT)}
    env.pop("PIPELINE_DEVICE", None)
    out = subprocess.run([sys.executable, "-m", "populate", "worker"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "a GPU is visible (CUDA_VISIBLE_DEVICES=0)" in lines[0] and "PIPELINE_DEVICE=cpu" in lines[0]
