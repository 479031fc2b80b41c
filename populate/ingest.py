"""``python -m populate ingest ...``: bring recordings into the database, all or nothing."""

from __future__ import annotations

import json
import time


def ingest_recordings(recordings, name: str, validation_fraction: float = 0.2, split_seed: int = 0) -> dict:
    """Store ``recordings`` as recording set ``name`` and define the neural dataset of the same name."""
    from schemas import recording

    key = recording.ingest(recordings, name, validation_fraction=validation_fraction, split_seed=split_seed)
    dataset = {"neural_dataset": name}  # made in the same transaction
    sessions = len(recording.Session & key)
    units = len(recording.Session.Unit & key)
    return {**key, **dataset, "sessions": sessions, "units": units, "images": len(recording.Stimuli.Image & key)}


def virtual_monkey(args) -> int:
    from pipeline.recordings.virtual_monkey import simulate

    started = time.monotonic()
    recordings = simulate(args.size, seed=args.seed)
    print(f"simulated the {args.size} virtual monkey (seed {args.seed}) in {time.monotonic() - started:.0f} s", flush=True)
    print(json.dumps(ingest_recordings(recordings, args.name)))
    return 0


def monkey(args) -> int:
    from pipeline.recordings.published import read_published

    started = time.monotonic()
    recordings = read_published(args.path, ppd=args.ppd, pixel_range=args.pixel_range)
    print(f"read {len(recordings.sessions)} sessions from {args.path} in {time.monotonic() - started:.0f} s", flush=True)
    print(json.dumps(ingest_recordings(recordings, args.name)))
    return 0


def ingest_tiny_imagenet(path, name: str, validation_fraction: float = 0.1, split_seed: int = 0) -> dict:
    """Read a ``tiny-imagenet-200``-layout folder and store it as image dataset ``name``."""
    from pipeline.images.tin import read_tiny_imagenet
    from schemas import images

    if images.ImageDataset & {"image_dataset": name}:
        raise images.ImageIngestError(f"image dataset {name!r} exists already")
    image_set = read_tiny_imagenet(path, validation_fraction=validation_fraction, split_seed=split_seed)
    key = images.ingest_image_set(image_set, name, path, validation_fraction, split_seed)
    sizes = {split: len(data.labels) for split, data in image_set.splits.items()}
    return {**key, "classes": len(image_set.wnids), **sizes, "pixel_mean": round(image_set.pixel_mean, 4),
            "pixel_std": round(image_set.pixel_std, 4)}


def tiny_imagenet(args) -> int:
    print(json.dumps(ingest_tiny_imagenet(args.path, args.name, args.validation_fraction, args.split_seed)))
    return 0


def tiny_imagenet_c(args) -> int:
    from schemas.corruption import ingest_tiny_imagenet_c
    from schemas.images import ImageDataset, ImageIngestError

    image_dataset = args.image_dataset
    if image_dataset is None:
        names = ImageDataset.to_arrays("image_dataset").tolist()
        if len(names) != 1:
            raise ImageIngestError(f"name the image dataset the set corrupts with --image-dataset (there are {names})")
        image_dataset = names[0]
    print(json.dumps(ingest_tiny_imagenet_c(args.path, args.name, image_dataset)))
    return 0


def saliency_images(args) -> int:
    from schemas.saliency import SaliencyImageSet

    print(json.dumps(SaliencyImageSet.ingest_folder(args.path, args.name)))
    return 0


def add_parser(sub) -> None:
    parser = sub.add_parser("ingest", help="import data (all or nothing)")
    kinds = parser.add_subparsers(dest="kind", required=True)

    p = kinds.add_parser("virtual-monkey", help="simulate the virtual monkey and import it")
    p.add_argument("--name", required=True, help="name of the recording set (and of its neural dataset)")
    p.add_argument("--size", default="demo", choices=("tiny", "demo", "reproduce", "paper"), help="simulator size (default demo)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    p.set_defaults(func=virtual_monkey)

    p = kinds.add_parser("monkey", help="import recordings in the authors' published layout")
    p.add_argument("path", help="folder with neuronal_data/*.pickle and images/<id:06d>.npy")
    p.add_argument("--name", required=True, help="name of the recording set (and of its neural dataset)")
    p.add_argument("--ppd", type=float, default=63.0, help="pixels per degree of the image files (default 63)")
    p.add_argument("--pixel-range", choices=("0-255", "0-1"), default="0-255",
                   help="how the image files store grey levels (default 0-255); data outside it are refused")
    p.set_defaults(func=monkey)

    p = kinds.add_parser("tiny-imagenet", help="import a folder in the tiny-imagenet-200 layout")
    p.add_argument("path", help="folder with wnids.txt, words.txt, train/ and val/")
    p.add_argument("--name", required=True, help="name of the image dataset")
    p.add_argument("--validation-fraction", type=float, default=0.1, help="share of train held out (default 0.1)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the validation split (default 0)")
    p.set_defaults(func=tiny_imagenet)

    p = kinds.add_parser("tiny-imagenet-c", help="import a folder in the released Tiny-ImageNet-C layout")
    p.add_argument("path", help="folder with <corruption>/<severity>/<wnid>/*.JPEG")
    p.add_argument("--name", required=True, help="name of the corruption source, e.g. tiny-imagenet-c")
    p.add_argument("--image-dataset", help="the image dataset whose classes (wnids) it uses (default: the only one)")
    p.set_defaults(func=tiny_imagenet_c)

    p = kinds.add_parser("saliency-images", help="import a folder of natural images (jpg, png) for the saliency analysis")
    p.add_argument("path", help="folder of images; each becomes grayscale, centre-cropped to a square")
    p.add_argument("--name", required=True, help="name of the saliency image set")
    p.set_defaults(func=saliency_images)
