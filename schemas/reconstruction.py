"""Constrained reconstructions from conv3_1, their spectral controls, and saliency norm ratios.

``TargetSet`` names what to reconstruct for an image dataset: test images under Gaussian
noise at severity 2 (from the stored TIN-TC set) or a saliency image set resized to 64 px.
``Reconstruction`` is one job per (model, target set, method): every target under every
``NormConstraint`` is optimised in one batch (``pipeline.reconstruction``), each image
independently. ``SpectralControl`` gives each target its reconstruction's amplitude
spectrum; ``SaliencyNormRatio`` measures how much of a reconstruction's (and its control's)
power falls on the salient pixels.
"""

from __future__ import annotations

import time

import datajoint as dj
import numpy as np

from pipeline.device import choose_device

from . import kinds
from .connection import make_schema
from .corruption import CorruptionSet, CorruptionSource  # noqa: F401 (definitions name them)
from .evaluation import ClassifierModel
from .images import ImageDataset
from .registry import RegistrationError
from .saliency import SaliencyImageSet, SaliencyMap, SaliencyModel  # noqa: F401

schema = make_schema("reconstruction")

NOISY = {"corruption": "gaussian_noise", "severity": 2}


@schema
class TargetSet(dj.Manual):
    definition = """
    # images to reconstruct, for the models of an image dataset
    -> ImageDataset
    target_set : varchar(32)            # e.g. noisy-test, saliency
    ---
    kind : enum('noisy_test', 'natural')  # noisy test images, or a saliency image set
    n_images : int32                    # how many (the first n of the source)
    corruption_source = "tin-tc" : varchar(32)  # noisy_test: the dataset's TIN-TC source (gaussian noise, severity 2)
    -> [nullable] SaliencyImageSet      # natural: the saliency images
    """

    @classmethod
    def define(cls, image_dataset: str, target_set: str, kind: str, n_images: int, corruption_source: str = "tin-tc",
               saliency_set: str | None = None) -> dict:
        """Insert (idempotently) a target set, refusing one its source cannot fill.

        A natural set names its saliency set; a request for more images than the source
        holds is an error here, never a silently shorter set later.
        """
        key = {"image_dataset": image_dataset, "target_set": target_set}
        if kind == "natural":
            if not saliency_set:
                raise RegistrationError(f"target set {target_set!r}: a natural target set names its saliency image set")
            have = len(SaliencyImageSet.Image & {"saliency_set": saliency_set})
            source = f"saliency image set {saliency_set!r}"
        elif kind == "noisy_test":
            have = int((ImageDataset.Split & {"image_dataset": image_dataset, "split": "test"}).fetch1("n_images"))
            source = f"the test split of {image_dataset!r}"
        else:
            raise RegistrationError(f"target set {target_set!r}: kind {kind!r} is not noisy_test or natural")
        if have < n_images:
            raise RegistrationError(f"target set {target_set!r} asks for {n_images} images; {source} has {have}")
        row = {**key, "kind": kind, "n_images": n_images, "corruption_source": corruption_source if kind == "noisy_test" else "",
               "saliency_set": saliency_set if kind == "natural" else None}
        if cls & key:
            stored = (cls & key).fetch1()
            if any(stored[k] != v for k, v in row.items()):
                raise RegistrationError(f"target set {target_set!r} of {image_dataset!r} exists with other settings; name a new one")
            return key
        cls.insert1(row)
        return key


def _enough(key: dict, wanted: int, have: int, what: str) -> None:
    """A target set is never cut short silently."""
    if have < wanted:
        raise ValueError(f"target set {key['target_set']!r} of {key['image_dataset']!r} asks for {wanted} targets; "
                         f"there are {have} {what}")


@schema
class ReconstructionTarget(dj.Computed):
    definition = """
    # the 64 x 64 targets of a target set
    -> TargetSet
    ---
    n_images : int32                    # targets
    """

    class Image(dj.Part):
        definition = """
        # one target
        -> master
        target_index : int32            # row in the set
        ---
        image : <npy@artifacts>         # (64, 64) uint8
        source_index : int32            # test-split row (noisy_test) or saliency image id (natural)
        """

    @property
    def key_source(self):
        made = {(r["image_dataset"], r["corruption_source"]) for r in (CorruptionSet & NOISY).proj().to_dicts()}
        ready = [{"image_dataset": t["image_dataset"], "target_set": t["target_set"]} for t in TargetSet.to_dicts()
                 if t["kind"] == "natural" or (t["image_dataset"], t["corruption_source"]) in made]
        return TargetSet.proj() & ready  # a noisy set waits for its TIN-TC images

    def make_fetch(self, key):
        return ((TargetSet & key).fetch1(),)

    def make_compute(self, key, target_set):
        # the pipeline's modules are imported where used here: status, gc and ingest's checks start without torch and scipy
        from pipeline.saliency import resize

        n = int(target_set["n_images"])
        if target_set["kind"] == "noisy_test":
            source = {"image_dataset": key["image_dataset"], "corruption_source": target_set["corruption_source"], **NOISY}
            images = np.asarray((CorruptionSet & source).fetch1("images"))
            _enough(key, n, len(images), "noisy test images")
            rows = [(i, img) for i, img in enumerate(images[:n])]
        else:
            found = (SaliencyImageSet.Image & {"saliency_set": target_set["saliency_set"]}).to_dicts(order_by="image_id")
            _enough(key, n, len(found), f"images in saliency set {target_set['saliency_set']!r}")
            rows = [(r["image_id"], np.clip(np.round(resize(np.asarray(r["image"]))), 0, 255).astype(np.uint8)) for r in found[:n]]
        return ([{**key, "target_index": t, "image": img, "source_index": int(s)} for t, (s, img) in enumerate(rows)],)

    def make_insert(self, key, rows):
        self.insert1({**key, "n_images": len(rows)})
        self.Image.insert(rows)


@schema
class NormConstraint(dj.Lookup):
    definition = """
    # L2 norm bounds of reconstructions, in standardised pixel space (a full 64 x 64 image: about 64)
    norm : float64                      # radius r of ||x|| <= r
    """
    contents = [(5.0,), (10.0,), (15.0,), (30.0,), (60.0,)]


@schema
class ReconstructionMethod(dj.Manual):
    definition = """
    # an optimiser and its settings, for one kind of model (the paper: SGD lr 5 for MTL, Adam lr 0.01 otherwise)
    method : varchar(32)                # e.g. sgd-lr5
    ---
    optimizer : enum('sgd', 'adam')     # torch.optim class
    lr : float64                        # learning rate
    steps : int32                       # optimisation steps per image (paper: 8000)
    layer : enum('conv3_1')             # the layer whose activations are matched
    for_models : enum('mtl', 'baseline_oracle')  # which models it reconstructs from
    reduction = "mean" : enum('sum', 'mean')  # objective stepped on: sum of squared activation errors (the paper's), or their mean
    """




@schema
class Reconstruction(dj.Computed):
    definition = """
    # every target of a set under every norm constraint, reconstructed from one model's conv3_1
    -> ClassifierModel
    -> ReconstructionTarget
    -> ReconstructionMethod
    ---
    n_images : int32                    # targets x norms optimised in the batch
    seconds : float64                   # wall time of the optimisation (s)
    """

    class Image(dj.Part):
        definition = """
        # one reconstruction
        -> master
        -> ReconstructionTarget.Image
        -> NormConstraint
        ---
        reconstruction : <npy@artifacts>  # (64, 64) float32, standardised pixel space
        loss : float64                  # final ||f(x) - f(x0)||^2 at conv3_1
        achieved_norm : float64         # ||x||, at most the constraint
        """

    @property
    def key_source(self):
        parts = []
        for method in ReconstructionMethod.to_dicts():
            models = ClassifierModel & [{"kind": k} for k in kinds.reconstructed_by(method["for_models"])]
            parts.append(models.proj() * ReconstructionTarget.proj() * (ReconstructionMethod & {"method": method["method"]}).proj())
        keys = [k for p in parts for k in p.keys()]
        return ClassifierModel.proj() * ReconstructionTarget.proj() * ReconstructionMethod.proj() & keys

    def make_fetch(self, key):
        return ((ReconstructionMethod & key).fetch1(),)

    def make_compute(self, key, method):
        import torch

        from pipeline import reconstruction as rc
        from pipeline.images.augment import standardise

        device = choose_device()
        model = ClassifierModel().load_model(key).to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        mean, std = (ImageDataset & key).fetch1("pixel_mean", "pixel_std")
        targets = (ReconstructionTarget.Image & key).to_dicts(order_by="target_index")
        norms = NormConstraint.to_arrays("norm", order_by="norm").tolist()
        pairs = [(t, n) for t in targets for n in norms]
        x0 = standardise(torch.from_numpy(np.stack([np.asarray(t["image"]) for t, _ in pairs])), float(mean), float(std)).to(device)
        radii = torch.tensor([n for _, n in pairs], dtype=torch.float32, device=device)
        seeds = [int(t["target_index"]) * 1000 + norms.index(n) for t, n in pairs]
        started = time.monotonic()
        x, losses = rc.reconstruct(model.shared_block, x0, radii, method["optimizer"], float(method["lr"]), int(method["steps"]),
                                   seeds, progress=True, reduction=method["reduction"])
        seconds = time.monotonic() - started
        rows = [{**key, "target_index": t["target_index"], "norm": n, "reconstruction": x[i, 0].cpu().numpy().astype(np.float32),
                 "loss": float(losses[i]), "achieved_norm": float(x[i].norm())} for i, (t, n) in enumerate(pairs)]
        return rows, seconds

    def make_insert(self, key, rows, seconds):
        self.insert1({**key, "n_images": len(rows), "seconds": seconds})
        self.Image.insert(rows)


def _digest(array: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _standardised_target(key) -> np.ndarray:
    mean, std = (ImageDataset & key).fetch1("pixel_mean", "pixel_std")
    image = np.asarray((ReconstructionTarget.Image & key).fetch1("image"), dtype=np.float64)
    return (image / 255.0 - float(mean)) / float(std)


@schema
class SpectralControl(dj.Computed):
    definition = """
    # for each reconstruction, the target carrying the reconstruction's amplitude spectrum
    -> Reconstruction
    """

    class Image(dj.Part):
        definition = """
        # one control image
        -> master
        -> Reconstruction.Image
        ---
        control : <npy@artifacts>       # (64, 64) float32, standardised pixel space
        """

    @staticmethod
    def _images(key) -> list[tuple[int, float, np.ndarray]]:
        return [(int(r["target_index"]), float(r["norm"]), np.asarray(r["reconstruction"], dtype=np.float64))
                for r in (Reconstruction.Image & key).to_dicts(order_by=("target_index", "norm"))]

    def make_fetch(self, key):
        # the reconstructions it is computed from, as (target, norm, SHA-256 of the array):
        # fetched again in make_insert's transaction, so one replaced meanwhile makes the
        # insert fail (digests, because DataJoint's DeepHash of the arrays themselves takes
        # tens of ms each, inside that transaction)
        return ([(t, n, _digest(x)) for t, n, x in self._images(key)],)

    def make_compute(self, key, digests):
        # a reconstruction replaced after make_fetch changes the digests DataJoint fetches
        # again before the insert, which it then refuses
        from pipeline import reconstruction as rc

        rows = []
        for target_index, norm, reconstruction in self._images(key):
            target = _standardised_target({**key, "target_index": target_index})
            control = rc.spectral_control(reconstruction, target)
            rows.append({**key, "target_index": target_index, "norm": norm, "control": control.astype(np.float32)})
        return (rows,)

    def make_insert(self, key, rows):
        self.insert1(key)
        self.Image.insert(rows)


@schema
class SaliencyNormRatio(dj.Computed):
    definition = """
    # how much of each reconstruction's power lies on the salient pixels of its natural target
    -> SpectralControl
    -> SaliencyModel
    ---
    mean_ratio : float64                # mean normalised ratio over images and norms
    """

    class Image(dj.Part):
        definition = """
        # one (image, norm): rho = ||salient(I)||^2 / ||I||^2 and (rho(I_r) - rho(I_o)) / (1 - rho(I_o))
        -> master
        -> Reconstruction.Image
        ---
        rho_original : float64          # rho of the target
        rho_reconstruction : float64    # rho of the reconstruction
        ratio : float64                 # normalised ratio of the reconstruction
        rho_control : float64           # rho of the spectral control
        ratio_control : float64         # normalised ratio of the spectral control
        """

    @property
    def key_source(self):
        natural = {(t["image_dataset"], t["target_set"]): t["saliency_set"] for t in (TargetSet & {"kind": "natural"}).to_dicts()}
        maps = SaliencyMap.to_dicts()
        keys = [{**control, "saliency_model": m["saliency_model"]} for control in SpectralControl.keys() for m in maps
                if natural.get((control["image_dataset"], control["target_set"])) == m["saliency_set"]]
        return SpectralControl.proj() * SaliencyModel.proj() & keys

    def make_fetch(self, key):
        return ((TargetSet & key).fetch1("saliency_set"),)

    def make_compute(self, key, saliency_set):
        from pipeline.reconstruction import norm_ratio, normalised_ratio

        controls = {(r["target_index"], r["norm"]): np.asarray(r["control"]) for r in (SpectralControl.Image & key).to_dicts()}
        rows = []
        for r in (Reconstruction.Image & key).to_dicts(order_by=("target_index", "norm")):
            target_key = {**key, "target_index": r["target_index"]}
            image_id = (ReconstructionTarget.Image & target_key).fetch1("source_index")
            mask = np.asarray((SaliencyMap.Image & {"saliency_set": saliency_set, "saliency_model": key["saliency_model"],
                                                   "image_id": image_id}).fetch1("mask_64"))
            original = _standardised_target(target_key)
            recon, control = np.asarray(r["reconstruction"]), controls[(r["target_index"], r["norm"])]
            rows.append({**key, "target_index": r["target_index"], "norm": r["norm"],
                         "rho_original": norm_ratio(original, mask), "rho_reconstruction": norm_ratio(recon, mask),
                         "ratio": normalised_ratio(recon, original, mask), "rho_control": norm_ratio(control, mask),
                         "ratio_control": normalised_ratio(control, original, mask)})
        return rows, float(np.mean([r["ratio"] for r in rows]))

    def make_insert(self, key, rows, mean_ratio):
        self.insert1({**key, "mean_ratio": mean_ratio})
        self.Image.insert(rows)
