"""The Tiny ImageNet reader on generated TIN-layout folders, and every bad input it must refuse."""

import numpy as np
import pytest
from PIL import Image

from pipeline.images.demo_set import write_demo_set
from pipeline.images.tin import ImageFormatError, read_tiny_imagenet


@pytest.fixture
def layout(tmp_path):
    return write_demo_set(tmp_path / "tiny-imagenet-200", n_classes=3, train_per_class=20, val_per_class=4, seed=1)


def test_reads_splits_labels_and_stats(layout):
    data = read_tiny_imagenet(layout, validation_fraction=0.1, split_seed=0)
    assert len(data.wnids) == 3 and data.words == ["disc", "ring", "square"]
    sizes = {k: len(v.labels) for k, v in data.splits.items()}
    assert sizes == {"train": 54, "validation": 6, "test": 12}
    for split in data.splits.values():
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (64, 64)
        assert set(split.labels.tolist()) <= {0, 1, 2}
    assert set(data.splits["validation"].files).isdisjoint(data.splits["train"].files)
    assert all(f.startswith("val/images/") for f in data.splits["test"].files)
    assert 0 < data.pixel_mean < 1 and 0 < data.pixel_std < 1
    again = read_tiny_imagenet(layout, validation_fraction=0.1, split_seed=0)
    assert again.splits["validation"].files == data.splits["validation"].files


def test_rgb_and_grayscale_files_both_become_grayscale_and_keep_their_rgb(layout):
    modes = {Image.open(p).mode for p in layout.glob("train/*/images/*.JPEG")}
    assert modes == {"RGB", "L"}  # the generated set mixes both, as the real one does
    data = read_tiny_imagenet(layout)
    for mode in ("RGB", "L"):
        path = next(p for p in sorted(layout.glob("train/*/images/*.JPEG")) if Image.open(p).mode == mode)
        rel = str(path.relative_to(layout))
        split = next(s for s in data.splits.values() if rel in s.files)
        row = split.files.index(rel)
        assert np.array_equal(split.images[row], np.asarray(Image.open(path).convert("L")))
        assert np.array_equal(split.rgb[row], np.asarray(Image.open(path).convert("RGB")))
        if mode == "L":  # a grayscale file is replicated to three channels
            assert (split.rgb[row] == split.rgb[row][..., :1]).all()
        else:  # the demo set's colour is real: channels differ
            assert not (split.rgb[row] == split.rgb[row][..., :1]).all()
    for split in data.splits.values():
        assert split.rgb.shape == split.images.shape + (3,)


def test_luma_is_pils_convert_l_bit_for_bit():
    from pipeline.corruptions import to_gray

    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    colours[0, :, :] = np.arange(256, dtype=np.uint8)[:, None]  # every grey level
    expected = np.asarray(Image.fromarray(colours, mode="RGB").convert("L"))
    assert np.array_equal(to_gray(colours), expected)
    assert np.array_equal(to_gray(colours)[0], np.arange(256))  # grey replicated maps back to itself


def test_an_oversized_header_is_refused_before_decoding(layout):
    victim = sorted(layout.glob("train/*/images/*.JPEG"))[2]
    Image.new("L", (5000, 8)).save(victim, format="JPEG")
    with pytest.raises(ImageFormatError, match=rf"{victim.name}: image is 5000x8 px, more than 4096"):
        read_tiny_imagenet(layout)


def test_truncated_jpeg_is_named(layout):
    victim = sorted(layout.glob("train/*/images/*.JPEG"))[5]
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(ImageFormatError, match=rf"{victim.name}: unreadable or truncated"):
        read_tiny_imagenet(layout)


def test_not_a_jpeg_is_named(layout):
    victim = sorted(layout.glob("val/images/*.JPEG"))[0]
    victim.write_text("not an image")
    with pytest.raises(ImageFormatError, match=victim.name):
        read_tiny_imagenet(layout)


def test_unknown_wnid_in_annotations_is_named(layout):
    annotations = layout / "val" / "val_annotations.txt"
    lines = annotations.read_text().splitlines()
    lines[2] = lines[2].replace(lines[2].split("\t")[1], "n99999999")
    annotations.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImageFormatError, match=r"val_annotations.txt:3: wnid 'n99999999'"):
        read_tiny_imagenet(layout)


def test_unknown_wnid_folder_is_named(layout):
    (layout / "train" / "n12345678" / "images").mkdir(parents=True)
    with pytest.raises(ImageFormatError, match="n12345678"):
        read_tiny_imagenet(layout)


def test_missing_annotations_file_is_named(layout):
    (layout / "val" / "val_annotations.txt").unlink()
    with pytest.raises(ImageFormatError, match=r"val_annotations.txt: file is missing"):
        read_tiny_imagenet(layout)


def test_missing_wnids_is_named(tmp_path):
    with pytest.raises(ImageFormatError, match="wnids.txt"):
        read_tiny_imagenet(tmp_path)


def test_a_file_that_is_not_a_jpeg_is_refused_whatever_its_name(layout):
    victim = sorted(layout.glob("train/*/images/*.JPEG"))[1]
    Image.new("RGB", (64, 64)).save(victim, format="PNG")  # a PNG named .JPEG
    with pytest.raises(ImageFormatError, match=rf"{victim.name}: not a JPEG image"):
        read_tiny_imagenet(layout)


def test_a_decompression_bomb_is_a_one_line_error(tmp_path):
    from pipeline.images.tin import read_picture

    bomb = tmp_path / "bomb.png"
    Image.new("1", (15000, 15000)).save(bomb, format="PNG")  # 225 Mpx in a small file
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(ImageFormatError, match=r"bomb.png: (refused as a decompression bomb|image is 15000x15000 px)"):
        read_picture(bomb, None)
