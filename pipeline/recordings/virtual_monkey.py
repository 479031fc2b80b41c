"""The virtual monkey: a ground-truth V1 population that is "recorded" like the real monkeys.

Neurons are Gabor-like simple and complex cells with divisive normalisation, receptive
fields near the centre of the 64 x 64 model input (14 pixels per degree), and varied
orientation, spatial frequency and phase. Each monkey's neurons are split across its
sessions (one electrode penetration records a subset). Each session shows trials of 15
images for 120 ms each: training trials with random training images and 5 fixed-order test
trials repeated 40-50 times, interleaved at random. Spikes are Poisson in 10 ms bins with
a response latency and a per-trial multiplicative gain (trial-to-trial variability beyond
Poisson). The noise-free rates are kept, so the noise ceiling is known.

Everything is determined by the seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .stimuli import MODEL_PPD, MODEL_PX, crop_and_downscale, natural_images
from .types import Recordings, SessionRecording

FIELD_DEG = 6.7  # the stimulus covers 6.7 degrees of visual angle


@dataclasses.dataclass(frozen=True)
class Size:
    neurons: tuple[int, int]  # neurons of monkey 1 and monkey 2
    sessions: tuple[int, int]  # sessions of monkey 1 and monkey 2
    train_images: int
    test_images: int  # shown in fixed-order test trials of images_per_trial
    train_trials: int  # training trials per session
    test_repeats: tuple[int, int]  # each test trial is repeated this many times (inclusive range)
    stimulus_ppd: float  # resolution at which stimuli are generated before crop-and-downscale
    images_per_trial: int = 15


SIZES = {
    # the paper: 458 neurons, 15 + 17 sessions, 24000 + 75 images, ~1000 trials per session
    "paper": Size((214, 244), (15, 17), 24000, 75, 775, (40, 50), 63.0),
    # a demo that a 2-core CPU trains in minutes
    "demo": Size((40, 40), (2, 2), 3000, 75, 200, (10, 12), 28.0),
    # Figure 3 at CPU scale (make reproduce): twice the demo's training presentations per session
    "reproduce": Size((40, 40), (2, 2), 6000, 75, 400, (10, 12), 28.0),
    # for tests
    "tiny": Size((8, 8), (1, 1), 300, 30, 60, (4, 5), 21.0),
}


@dataclasses.dataclass
class Population:
    """Parameters of the model neurons (one entry per neuron)."""

    monkey: np.ndarray  # index of the monkey (0 or 1)
    complex_cell: np.ndarray  # bool
    centre_px: np.ndarray  # (n, 2) receptive-field centre (x, y) in model pixels
    orientation: np.ndarray  # radians
    spatial_freq_cpd: np.ndarray  # cycles per degree
    phase: np.ndarray  # radians
    sigma_px: np.ndarray  # Gaussian envelope s.d. in model pixels
    baseline_hz: np.ndarray  # spontaneous rate
    max_rate_hz: np.ndarray  # rate added at saturation
    latency_ms: np.ndarray  # response latency
    gain_shape: np.ndarray  # shape of the per-trial Gamma gain (mean 1); smaller = more variable

    @property
    def size(self) -> int:
        return len(self.monkey)


def make_population(rng: np.random.Generator, neurons: tuple[int, int]) -> Population:
    n = sum(neurons)
    sf = np.clip(rng.lognormal(np.log(2.5), 0.45, n), 0.8, 6.0)
    return Population(
        monkey=np.repeat([0, 1], neurons),
        complex_cell=rng.random(n) < 0.5,
        centre_px=np.clip(rng.normal(MODEL_PX / 2, 3.0, (n, 2)), 22, 42),
        orientation=rng.uniform(0, np.pi, n),
        spatial_freq_cpd=sf,
        phase=rng.uniform(0, 2 * np.pi, n),
        # about 1.5 octaves of bandwidth: envelope s.d. ~ 0.5 cycle
        sigma_px=np.clip(0.5 * MODEL_PPD / sf * rng.uniform(0.8, 1.2, n), 1.2, 8.0),
        baseline_hz=rng.lognormal(np.log(4.0), 0.5, n),
        max_rate_hz=rng.lognormal(np.log(45.0), 0.4, n),
        latency_ms=rng.uniform(35, 60, n),
        gain_shape=rng.uniform(4.0, 12.0, n),
    )


def _filters(pop: Population) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Even and odd Gabor filters and normalisation pools, each (neurons, px*px), unit norm."""
    yy, xx = np.mgrid[0:MODEL_PX, 0:MODEL_PX].astype(np.float64)
    dx = xx[None] - pop.centre_px[:, 0, None, None]
    dy = yy[None] - pop.centre_px[:, 1, None, None]
    theta = pop.orientation[:, None, None]
    along = dx * np.cos(theta) + dy * np.sin(theta)
    envelope = np.exp(-(dx**2 + dy**2) / (2 * pop.sigma_px[:, None, None] ** 2))
    freq = (pop.spatial_freq_cpd / MODEL_PPD)[:, None, None]  # cycles per pixel
    phase = pop.phase[:, None, None]
    even = envelope * np.cos(2 * np.pi * freq * along + phase)
    odd = envelope * np.sin(2 * np.pi * freq * along + phase)
    pool = np.exp(-(dx**2 + dy**2) / (2 * (2.5 * pop.sigma_px[:, None, None]) ** 2))

    def flat(f, zero_mean):
        f = f.reshape(len(f), -1)
        if zero_mean:
            f = f - f.mean(axis=1, keepdims=True)
        return f / np.linalg.norm(f, axis=1, keepdims=True)

    pool = pool.reshape(len(pool), -1)
    return flat(even, True), flat(odd, True), pool / pool.sum(axis=1, keepdims=True)


class V1Model:
    """Noise-free rates (spikes/s) of a population for images at model resolution."""

    def __init__(self, pop: Population, calibration_images: np.ndarray):
        self.pop = pop
        self.even, self.odd, self.pool = _filters(pop)
        drive, energy = self._drive(calibration_images)
        # scale the normalisation pool to the drive, per neuron, then place the
        # Naka-Rushton semi-saturation in the upper part of each neuron's range
        self._energy_scale = np.median(drive, axis=0) / np.maximum(np.median(energy, axis=0), 1e-12)
        self._sigma = 0.1 * np.median(drive, axis=0) + 1e-12
        normalised = drive / (self._sigma + self._energy_scale * energy)
        self._d50 = np.percentile(normalised, 75, axis=0) + 1e-12

    def _drive(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = images.reshape(len(images), -1).astype(np.float64) / 255.0
        x = x - x.mean(axis=1, keepdims=True)  # contrast
        linear, quadrature = x @ self.even.T, x @ self.odd.T
        simple = np.maximum(linear, 0.0) ** 2
        complex_ = linear**2 + quadrature**2
        drive = np.where(self.pop.complex_cell[None], complex_, simple)
        energy = (x**2) @ self.pool.T
        return drive, energy

    def rates(self, images: np.ndarray) -> np.ndarray:
        """(images, neurons) rates in spikes/s."""
        out = []
        for start in range(0, len(images), 2048):
            drive, energy = self._drive(images[start : start + 2048])
            d = drive / (self._sigma + self._energy_scale * energy)
            response = d**2 / (d**2 + self._d50**2)
            out.append(self.pop.baseline_hz + self.pop.max_rate_hz * response)
        return np.concatenate(out).astype(np.float32)


def simulate_spikes(
    rng: np.random.Generator,
    trial_rates: np.ndarray,
    latency_ms: np.ndarray,
    baseline_hz: np.ndarray,
    gain_shape: np.ndarray,
    image_duration_ms: float,
    bin_width_ms: float,
    n_bins: int,
) -> np.ndarray:
    """Spike counts (trials, units, bins) for trials of rates (trials, images_per_trial, units).

    Image k is on during [k*d, (k+1)*d); a unit responds to it with its latency, with an onset
    transient, then returns to baseline. Each trial scales a unit's rates by a Gamma gain.
    """
    trials, per_trial, units = trial_rates.shape
    centres = (np.arange(n_bins) + 0.5) * bin_width_ms  # ms from trial start
    rate = np.broadcast_to(baseline_hz[None, :, None], (trials, units, n_bins)).astype(np.float64).copy()
    for k in range(per_trial):
        since = centres[None, :] - (k * image_duration_ms + latency_ms[:, None])  # (units, bins)
        active = (since >= 0) & (since < image_duration_ms)
        profile = active * (1.0 + 0.6 * np.exp(-np.maximum(since, 0) / 20.0))  # transient at onset
        evoked = (trial_rates[:, k, :] - baseline_hz[None, :])[:, :, None]  # (trials, units, 1)
        rate += evoked * profile[None]
    gain = rng.gamma(gain_shape[None, :, None], 1.0 / gain_shape[None, :, None], size=(trials, units, 1))
    return rng.poisson(np.maximum(rate * gain, 0) * bin_width_ms / 1000.0).astype(np.float32)


def simulate(size: str | Size = "demo", seed: int = 0, bin_width_ms: float = 10.0, image_duration_ms: float = 120.0) -> Recordings:
    """Simulate a full set of recordings (deterministic given ``seed``)."""
    spec = SIZES[size] if isinstance(size, str) else size
    if spec.test_images % spec.images_per_trial:
        raise ValueError(f"test_images={spec.test_images} must fill whole test trials of {spec.images_per_trial}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    image_rng, neuron_rng, trial_rng, spike_rng = streams

    n_images = spec.train_images + spec.test_images
    stimulus_px = int(round(FIELD_DEG * spec.stimulus_ppd))
    native = natural_images(image_rng, n_images, stimulus_px)
    images = crop_and_downscale(native, spec.stimulus_ppd)
    image_ids = np.arange(1, n_images + 1)
    roles = ["train"] * spec.train_images + ["test"] * spec.test_images
    train_rows = np.arange(spec.train_images)
    test_rows = np.arange(spec.train_images, n_images)

    pop = make_population(neuron_rng, spec.neurons)
    model = V1Model(pop, images[: min(2000, n_images)])
    rates = model.rates(images)  # (images, neurons)

    per = spec.images_per_trial
    test_trials = test_rows.reshape(-1, per)  # fixed order
    n_bins = int(np.ceil((per * image_duration_ms + 300.0) / bin_width_ms))
    sessions = []
    for monkey in (0, 1):
        neurons = np.flatnonzero(pop.monkey == monkey)
        groups = np.array_split(trial_rng.permutation(neurons), spec.sessions[monkey])
        for number, group in enumerate(groups, start=1):
            group = np.sort(group)
            repeats = trial_rng.integers(spec.test_repeats[0], spec.test_repeats[1] + 1)
            plan = [("train", trial_rng.choice(train_rows, per, replace=False)) for _ in range(spec.train_trials)]
            plan += [("test", rows) for rows in test_trials for _ in range(repeats)]
            order = trial_rng.permutation(len(plan))  # test trials interleaved among training trials
            plan = [plan[i] for i in order]
            rows = np.stack([r for _, r in plan])  # (trials, per)
            trial_rates = rates[rows][:, :, group]  # (trials, per, units)
            spikes = simulate_spikes(
                spike_rng, trial_rates, pop.latency_ms[group], pop.baseline_hz[group], pop.gain_shape[group],
                image_duration_ms, bin_width_ms, n_bins,
            )
            sessions.append(
                SessionRecording(
                    monkey=f"virtual{monkey + 1}",
                    session_id=f"virtual{monkey + 1}-s{number:02d}",
                    unit_ids=np.arange(1, len(group) + 1),
                    electrodes=trial_rng.integers(1, 33, len(group)),
                    depths_um=np.round(trial_rng.uniform(-800, 800, len(group)), 1),
                    trial_types=[t for t, _ in plan],
                    trial_images=[image_ids[r].tolist() for _, r in plan],
                    spikes=spikes,
                    bin_width_ms=bin_width_ms,
                    bin_origin_ms=0.0,
                    image_duration_ms=image_duration_ms,
                    true_rates=np.ascontiguousarray(rates[:, group].T),
                )
            )
    parameters = {"size": size if isinstance(size, str) else dataclasses.asdict(spec), "seed": seed,
                  "stimulus_ppd": spec.stimulus_ppd, "model_ppd": MODEL_PPD, "model_px": MODEL_PX,
                  "bin_width_ms": bin_width_ms, "image_duration_ms": image_duration_ms}
    recordings = Recordings(
        source="virtual",
        description=f"virtual monkey, size {size if isinstance(size, str) else 'custom'}, seed {seed}",
        images=images,
        image_ids=image_ids,
        image_roles=roles,
        sessions=sessions,
        parameters=parameters,
    )
    recordings.validate()
    return recordings
