"""What the ``paper`` profile costs, on paper: jobs, FLOPs and a projection onto a GPU fleet.

No training. The FLOPs come from MACs counted on the pipeline's own networks at full width
(``bench/flops.py``: forward 2 FLOPs per MAC, training 6); the data sizes from the paper
(Tiny ImageNet: 100,000 training images, 10% held out for validation, 10,000 test images;
the recordings: 32 sessions of about 775 trials of 15 images, 80% for training); the
counts of models, epochs and steps from ``populate/profiles.py``.

Epochs are a range, because the paper's stopping rule decides them: at most
``max_epochs`` (200), and at least the rule's own floor, ``1 + max_lr_decays * (patience
+ 1)`` (31 epochs: the first epoch sets the best score, then each of the five reductions
needs ``patience + 1`` epochs without improvement). The authors' code does not publish
typical epoch counts, so both ends are reported.

The projection divides the arithmetic by N GPUs at a model-FLOP utilisation (MFU): the
one ``bench/gpu.py`` measured (``make bench``'s ``bench/results.json``) where it ran on a GPU, else 40%. It is bounded below
by the longest chain of jobs that must run one after another and by the CPUs: TIN-TC
generation and the Oracle's corruption pool (every training image corrupted anew each
epoch) run on the cores beside the GPUs; their CPU-hours come from a corruption
throughput measured here on a few images. The database's share comes from the measured populate
overhead per job and the trivial jobs per second a server answered (README, Performance).

    python bench/paper_cost.py [--gpus 1 4 16] [--mfu 0.4] [--peak-tflops 989] [--cores-per-gpu 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from flops import conv_macs  # noqa: E402

#: H200 (and H100 SXM) dense bf16 peak, TFLOP/s (NVIDIA's data sheet, without sparsity)
H200_BF16_PEAK_TFLOPS = 989.0
DEFAULT_MFU = 0.40
#: README, Performance (make bench, 2026-12-02, 2-core AMD EPYC VM): populate overhead per
#: job (reservation, config fetch, checkpoint, insert) and trivial jobs per second two
#: worker processes got from one server
POPULATE_OVERHEAD_S = 0.086
SERVER_JOBS_PER_S = 627.0

TIN_TRAIN, TIN_VALIDATION_FRACTION, TIN_TEST = 100_000, 0.1, 10_000
SESSIONS, TRIALS_PER_SESSION, IMAGES_PER_TRIAL, RECORDING_TRAIN_FRACTION = 32, 775, 15, 0.8
SALIENCY_SCENES, NOISY_TARGETS = 70, 10
#: CPU cores beside each GPU (the lent H100 and H200 machines have 16 for one GPU)
CORES_PER_GPU = 16


def _counts() -> dict:
    """MACs per 64 px image: the whole VGG-19-BN and its shared block up to conv3_1."""
    import torch

    from pipeline.models.vgg import CONV3_1, VGGClassifier

    torch.manual_seed(0)
    vgg = VGGClassifier(200, width=1.0)
    shape = (1, 64, 64)
    return {"full": conv_macs(vgg, shape), "shared": conv_macs(vgg.features[:CONV3_1], shape)}


def _corruption_seconds_per_image(n_images: int = 4) -> float:
    """CPU-seconds to corrupt one 64 px RGB image, averaged over the TIN-TC corruptions at severity 3."""
    import numpy as np

    from pipeline.corruptions import TIN_TC, corrupt_set

    images = np.random.default_rng(0).integers(0, 256, size=(n_images, 64, 64, 3), dtype=np.uint8)
    started = time.process_time()
    for corruption in TIN_TC:
        corrupt_set(images, corruption, 3, seed=0, workers=1, progress=False)
    return (time.process_time() - started) / (n_images * len(TIN_TC))


def _measured_gpu() -> dict | None:
    """bench/gpu.py's full (not smoke) measurement from ``make bench``'s results file, if any."""
    path = HERE / "results.json"
    try:
        gpu = json.loads(path.read_text())["gpu"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return gpu if isinstance(gpu, dict) and not gpu.get("smoke", True) else None


def plan(epochs: int, macs: dict, spec: dict) -> dict:
    """Per table: jobs, training or inference FLOPs, and its longest single job's FLOPs."""
    from pipeline.training.mtl import parse_batch_ratio

    seeds = len(spec["seeds"])
    train = int(TIN_TRAIN * (1 - TIN_VALIDATION_FRACTION))
    presentations = int(SESSIONS * TRIALS_PER_SESSION * IMAGES_PER_TRIAL * RECORDING_TRAIN_FRACTION)
    full, shared = macs["full"], macs["shared"]
    readout_epochs = spec["oracle_readout"]["trainer"]["max_epochs"]
    ratios = list(dict.fromkeys([spec["mtl"]["batch_ratio"], *spec["mtl"]["sweep"]]))

    # Oracle stage 1: each batch is half clean, half corrupted, plus the corrupted half's second
    # copies, in one forward pass (1.5 images per training image); cross-entropy back through
    # the whole network for the first two, the consistency term back through the shared
    # block for the second copies
    stage1_epoch = train * (1.5 * 2 * full + 4 * full + 0.5 * 4 * shared)
    pool_copies = 2 / spec["oracle_stage1"]["pool_refresh_epochs"]  # corrupted copies per image and epoch

    def mtl_epoch(ratio: str) -> float:
        neural, classification = parse_batch_ratio(ratio)
        return train * 6 * full + train * (neural / classification) * 6 * shared

    # MTL-Monkey and MTL-Shuffled over every ratio, MTL-Oracle at the main ratio; seeds paired with producers
    mtl_models = [(r, seeds) for r in ratios] * 2 + [(spec["mtl"]["batch_ratio"], seeds)]
    classifiers = seeds * 3 + sum(n for _, n in mtl_models)  # Baseline, Oracle stage 1, Oracle, MTL
    reconstructed = seeds * 2 + sum(n for _, n in mtl_models)  # Baseline, Oracle, MTL
    targets = spec["reconstruction"]["noisy_targets"] + spec["reconstruction"]["natural_targets"]
    norms, steps = 5, spec["reconstruction"]["steps"]
    eval_images = TIN_TEST * (1 + 70)
    rows = {
        "Classifier (Baseline)": (seeds, seeds * epochs * train * 6 * full, epochs * train * 6 * full),
        "Classifier (Oracle stage 1, 1.5 passes per image)": (
            seeds, seeds * epochs * stage1_epoch, epochs * stage1_epoch),
        "OracleStage2 (frozen up to conv3_1)": (
            seeds, seeds * epochs * train * (2 * shared + 6 * (full - shared)), epochs * train * (2 * shared + 6 * (full - shared))),
        "MonkeyPredictor": (seeds, seeds * epochs * presentations * 6 * shared, epochs * presentations * 6 * shared),
        "OracleReadout (frozen core, fixed epochs)": (
            seeds, seeds * readout_epochs * presentations * 2 * shared, readout_epochs * presentations * 2 * shared),
        "PredictedResponses": (3 * seeds, 2 * seeds * (TIN_TRAIN + TIN_TEST) * 2 * shared, (TIN_TRAIN + TIN_TEST) * 2 * shared),
        "MTLModel": (sum(n for _, n in mtl_models), sum(n * epochs * mtl_epoch(r) for r, n in mtl_models),
                     max(epochs * mtl_epoch(r) for r, _ in mtl_models)),
        "Evaluation (clean + 70 TIN-TC sets)": (classifiers, classifiers * eval_images * 2 * full, eval_images * 2 * full),
        # frozen weights: a forward pass and the gradient with respect to the input only
        "Reconstruction (forward and input gradient to conv3_1)": (
            reconstructed * 2, reconstructed * targets * norms * steps * 4 * shared,
            max(spec["reconstruction"]["noisy_targets"], spec["reconstruction"]["natural_targets"]) * norms * steps * 4 * shared),
    }
    # the chain of jobs that must run one after another (each on one GPU): the Oracle's two
    # stages, its readout, its responses, an MTL-Oracle model, its evaluation; or the
    # predictor, its responses, the slowest sweep model, its evaluation
    chain = {
        "oracle": rows["Classifier (Oracle stage 1, 1.5 passes per image)"][2] + rows["OracleStage2 (frozen up to conv3_1)"][2]
        + rows["OracleReadout (frozen core, fixed epochs)"][2] + rows["PredictedResponses"][2]
        + epochs * mtl_epoch(spec["mtl"]["batch_ratio"]) + eval_images * 2 * full,
        "monkey": rows["MonkeyPredictor"][2] + rows["PredictedResponses"][2] + rows["MTLModel"][2] + eval_images * 2 * full,
    }
    # CorruptionSet, SaliencyMap, ReconstructionTarget, SpectralControl, SaliencyNormRatio,
    # NeuralEvaluation (predictors, readouts, MTL heads), Robustness and its regressions
    other_jobs = 70 + 1 + 2 + 2 * reconstructed + reconstructed + (seeds * 2 + sum(n for _, n in mtl_models)) + 10
    return {"rows": rows, "chain_flops": max(chain.values()), "jobs": sum(r[0] for r in rows.values()) + other_jobs,
            "cpu_images": {"TIN-TC generation": TIN_TEST * 70,
                           "Oracle stage 1 corruption pool": int(seeds * epochs * train * pool_copies)}}


def main(gpus=(1, 4, 16), mfu: float | None = None, peak_tflops: float = H200_BF16_PEAK_TFLOPS,
         cores_per_gpu: int = CORES_PER_GPU, corruption_s_per_image: float | None = None) -> dict:
    from populate.profiles import PAPER_BUDGET, profile

    spec = profile("paper")
    macs = _counts()
    measured = _measured_gpu()
    if mfu is not None:
        mfu_source = "given on the command line"
    elif measured is not None:
        # gpu.py's MFU is against the bf16 GEMM rate it measured on that GPU
        mfu, peak_tflops = float(measured["training"]["mfu"]), float(measured["training"]["peak_gemm_tflops"])
        mfu_source = f"measured by bench/gpu.py on {measured['device']}"
    else:
        mfu, mfu_source = DEFAULT_MFU, "assumed: bench/gpu.py has not run on a GPU here"
    floor = 1 + PAPER_BUDGET["max_lr_decays"] * (PAPER_BUDGET["patience"] + 1)
    per_image_s = _corruption_seconds_per_image() if corruption_s_per_image is None else corruption_s_per_image
    rate = peak_tflops * 1e12 * mfu
    out = {"macs_per_image": macs, "mfu": mfu, "mfu_source": mfu_source, "peak_tflops": peak_tflops,
           "corruption_cpu_s_per_image": round(per_image_s, 4), "epochs": {}}
    print(f"VGG-19-BN at 64 px: {macs['full'] / 1e9:.2f} GMAC forward, {macs['shared'] / 1e9:.2f} GMAC up to conv3_1")
    print(f"GPU: {peak_tflops:.0f} TFLOP/s bf16 peak at MFU {mfu:.0%} ({mfu_source})")
    for label, epochs in (("floor of the stopping rule", floor), ("maximum", PAPER_BUDGET["max_epochs"])):
        p = plan(epochs, macs, spec)
        total = sum(flops for _, flops, _ in p["rows"].values())
        chain_s = p["chain_flops"] / rate
        cpu_hours = {k: n * per_image_s / 3600 for k, n in p["cpu_images"].items()}
        print(f"\n{epochs} epochs per model ({label}): {p['jobs']} jobs, {total / 1e18:.1f} EFLOP")
        print(f"  {'table':60} {'jobs':>6} {'PFLOP':>10} {'GPU-hours':>10}")
        for table, (jobs, flops, _) in p["rows"].items():
            print(f"  {table:60} {jobs:>6} {flops / 1e15:>10.0f} {flops / rate / 3600:>10.1f}")
        for name, hours in cpu_hours.items():
            print(f"  CPU: {name}: {hours:.1f} CPU-hours ({p['cpu_images'][name]:,} images)")
        # an Oracle stage-1 job waits for its corruption pool, made on the cores beside its GPU
        pool_s = p["cpu_images"]["Oracle stage 1 corruption pool"] / len(spec["seeds"]) * per_image_s / cores_per_gpu
        stage1_gpu_s = p["rows"]["Classifier (Oracle stage 1, 1.5 passes per image)"][2] / rate
        chain_s += max(0.0, pool_s - stage1_gpu_s)
        cpu_s = sum(cpu_hours.values()) * 3600
        print(f"  an Oracle stage-1 job: {stage1_gpu_s / 3600:.2f} h of GPU arithmetic, {pool_s / 3600:.2f} h of corruption "
              f"on its {cores_per_gpu} cores")
        fleet = {}
        gpu_jobs = sum(jobs for jobs, _, _ in p["rows"].values())
        mean_job_s = total / rate / gpu_jobs
        for n in gpus:
            bounds = {"GPU arithmetic": total / rate / n, "CPU corruption": cpu_s / (n * cores_per_gpu), "longest chain": chain_s}
            bound = max(bounds, key=bounds.get)
            wall_s = bounds[bound]
            db_busy = (n / mean_job_s) / SERVER_JOBS_PER_S  # share of the server's job capacity in use
            fleet[n] = {"wall_hours": round(wall_s / 3600, 1), "bound": bound, "database_load": round(db_busy, 6),
                        **{f"{k} hours": round(v / 3600, 2) for k, v in bounds.items()}}
            print(f"  {n:>3} GPU(s): {wall_s / 3600:8.1f} h wall, bound by {bound} (GPU {bounds['GPU arithmetic'] / 3600:.1f} h, "
                  f"CPU {bounds['CPU corruption'] / 3600:.1f} h, chain {chain_s / 3600:.1f} h); database at {db_busy:.2%} "
                  "of its job rate")
        db_fleet = int(mean_job_s * SERVER_JOBS_PER_S)
        overhead_share = POPULATE_OVERHEAD_S / mean_job_s
        print(f"  mean GPU job {mean_job_s / 60:.0f} min: populate overhead {overhead_share:.4%} of it; the database "
              f"becomes the bottleneck beyond about {db_fleet:,} GPUs")
        out["epochs"][epochs] = {"label": label, "jobs": p["jobs"], "total_eflop": round(total / 1e18, 2),
                                 "gpu_hours": round(total / rate / 3600, 1), "chain_hours": round(chain_s / 3600, 1),
                                 "cpu_hours": {k: round(v, 1) for k, v in cpu_hours.items()}, "fleet": fleet,
                                 "mean_job_minutes": round(mean_job_s / 60, 1), "database_bottleneck_gpus": db_fleet,
                                 "tables": {t: {"jobs": j, "pflop": round(f / 1e15, 1)} for t, (j, f, _) in p["rows"].items()}}
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--mfu", type=float, default=None, help="model-FLOP utilisation (default: bench/gpu.py's, else 0.4)")
    parser.add_argument("--peak-tflops", type=float, default=H200_BF16_PEAK_TFLOPS)
    parser.add_argument("--cores-per-gpu", type=int, default=CORES_PER_GPU)
    args = parser.parse_args()
    main(tuple(args.gpus), args.mfu, args.peak_tflops, args.cores_per_gpu)
