"""Figure 7's images: a target set names its saliency set, the paper profile refuses to
register without the scenes it asks for, and no target set is cut short silently."""

import subprocess

import numpy as np
import pytest
from PIL import Image

from .helpers import REPO

pytestmark = pytest.mark.portable


def _scenes(folder, n):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (80, 96), dtype=np.uint8)).save(folder / f"scene_{i}.png")
    return folder


def _counts():
    from schemas.experiment import Family
    from schemas.reconstruction import TargetSet
    from schemas.registry import ModelConfig, TrainerConfig

    return {t.__name__: len(t()) for t in (ModelConfig, TrainerConfig, Family, TargetSet)}


def test_the_paper_profile_refuses_without_its_scenes_and_stores_nothing(clean, tmp_path, python, worker_env):
    from populate import profiles
    from schemas.registry import RegistrationError
    from schemas.saliency import SaliencyImageSet

    before = _counts()
    with pytest.raises(RegistrationError, match=r"asks for 70 saliency images from set 'imagenet-scenes', which has 0"):
        profiles.register("paper")
    SaliencyImageSet.ingest_folder(_scenes(tmp_path / "scenes", 3), "imagenet-scenes")
    out = subprocess.run([python, "-m", "populate", "register", "paper"], cwd=REPO, env=worker_env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "asks for 70 saliency images from set 'imagenet-scenes', which has 3" in out.stderr
    assert "populate ingest saliency-images FOLDER --name imagenet-scenes" in out.stderr
    assert _counts() == before


def test_a_target_set_names_its_saliency_set_and_is_never_cut_short(clean, tmp_path):
    from populate import demo, profiles
    from schemas.reconstruction import ReconstructionTarget, TargetSet
    from schemas.registry import RegistrationError
    from schemas.saliency import SaliencyImageSet

    demo.ensure_image_set(profiles.profile("tiny")["image_set"])
    SaliencyImageSet.ingest_folder(_scenes(tmp_path / "scenes", 4), "scenes")
    with pytest.raises(RegistrationError, match="names its saliency image set"):
        TargetSet.define("tiny-tin", "natural", "natural", 2)
    with pytest.raises(RegistrationError, match=r"asks for 9 images; saliency image set 'scenes' has 4"):
        TargetSet.define("tiny-tin", "natural", "natural", 9, saliency_set="scenes")
    with pytest.raises(RegistrationError, match=r"asks for 13 images; the test split of 'tiny-tin' has 12"):
        TargetSet.define("tiny-tin", "noisy", "noisy_test", 13)
    assert not TargetSet()
    key = TargetSet.define("tiny-tin", "natural", "natural", 4, saliency_set="scenes")
    ReconstructionTarget.populate(key)
    assert (ReconstructionTarget & key).fetch1("n_images") == 4
    assert sorted((ReconstructionTarget.Image & key).to_arrays("source_index").tolist()) == [0, 1, 2, 3]
    # a row that asks for more than its set has (inserted past the check) fails its make
    TargetSet.insert1({"image_dataset": "tiny-tin", "target_set": "too-many", "kind": "natural", "n_images": 5,
                       "corruption_source": "", "saliency_set": "scenes"})
    result = ReconstructionTarget.populate({"target_set": "too-many"}, suppress_errors=True)
    assert result["success_count"] == 0 and "asks for 5 targets; there are 4 images in saliency set 'scenes'" in str(result["error_list"])
    assert not (ReconstructionTarget & {"target_set": "too-many"})


def test_saliency_images_are_jpeg_or_png_and_a_bomb_leaves_no_rows(clean, tmp_path, python, worker_env):
    from schemas.saliency import SaliencyImageSet

    folder = _scenes(tmp_path / "scenes", 2)
    Image.new("L", (40, 40)).save(folder / "ignored.bmp")  # not a documented format: not imported
    out = subprocess.run([python, "-m", "populate", "ingest", "saliency-images", str(folder), "--name", "two"], cwd=REPO,
                         env=worker_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert len(SaliencyImageSet.Image & {"saliency_set": "two"}) == 2
    Image.new("1", (15000, 15000)).save(folder / "zz_bomb.png")
    out = subprocess.run([python, "-m", "populate", "ingest", "saliency-images", str(folder), "--name", "bombed"], cwd=REPO,
                         env=worker_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "zz_bomb.png" in out.stderr and "Traceback" not in out.stderr
    assert not (SaliencyImageSet & {"saliency_set": "bombed"}) and not (SaliencyImageSet.Image & {"saliency_set": "bombed"})
