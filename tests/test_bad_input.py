"""Bad files and bad inputs end in a typed error (or a documented conversion), never a crash."""
from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import load_strict, read_tensors
from models.errors import (ArchitectureMismatchError, CheckpointError, InputError,
                           UnsafeCheckpointError)
from models.imageio import read_index_png, to_rgb_array
from models.labelmaps import as_label_tensor


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "payload": _RunsCode(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="needs code to load"):
        read_tensors(path)
    assert not marker.exists()
    raw = tmp_path / "evil.pkl"  # a plain (non-zip) pickle too
    raw.write_bytes(pickle.dumps(_RunsCode(marker)))
    with pytest.raises(CheckpointError):
        read_tensors(raw)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, os.urandom(4096), b"PK\x03\x04junk"])
def test_random_bytes_and_empty_files(tmp_path, content):
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        read_tensors(path)


def test_truncated_checkpoint(tmp_path, reference_dir):
    good = (reference_dir / "pix2pix" / "unet128_batch_ngf16" / "latest_net_G.pth").read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="truncated|not a readable"):
        read_tensors(path)


def test_pickle_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_tensors(path)


def test_missing_file_and_bad_safetensors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        read_tensors(tmp_path / "absent.pth")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="safetensors"):
        read_tensors(bad)


def test_mismatch_lists_keys_and_shapes():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 3, 1))
    state = {"0.weight": torch.zeros(8, 4, 3, 3), "0.bias": torch.zeros(8),
             "1.weight": torch.zeros(3, 8, 1, 1), "2.weight": torch.zeros(1)}
    with pytest.raises(ArchitectureMismatchError) as info:
        load_strict(net, state, "test net")
    text = str(info.value)
    assert "0.weight: file (8, 4, 3, 3) vs network (8, 3, 3, 3)" in text
    assert "1.bias" in text and "2.weight" in text
    assert info.value.missing == ["1.bias"] and info.value.unexpected == ["2.weight"]


@pytest.mark.parametrize("labels,match", [
    (np.full((4, 4), 200), "outside this model's range"),
    (np.full((4, 4), -1), "outside"),
    (np.full((4, 4), 1.5, np.float32), "non-integer"),
    (np.zeros((4, 4), bool), "integer class ids"),
    (np.zeros((8, 8, 3), np.uint8), "must be H x W"),
    (np.zeros((2, 2, 2, 2), np.int64), "must be H x W"),
    (np.zeros((0, 4), np.int64), "empty"),
    ([[1, 2]], "numpy array or a tensor"),
])
def test_bad_label_maps(labels, match):
    with pytest.raises(InputError, match=match):
        as_label_tensor(labels, 184)


def test_whole_number_float_label_maps_are_accepted():
    t = as_label_tensor(np.full((2, 3), 7.0, np.float32), 184)
    assert t.dtype == torch.long and t.shape == (1, 2, 3)


def _png(img: Image.Image) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    buf.seek(0)
    return buf


def test_image_mode_conversions():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[0, 0, 3] = 255  # one opaque red pixel, the rest transparent -> white
    out = to_rgb_array(_png(Image.fromarray(rgba, "RGBA")))
    assert out[0, 0].tolist() == [255, 0, 0] and out[1, 1].tolist() == [255, 255, 255]
    grey = to_rgb_array(_png(Image.fromarray(np.full((2, 2), 100, np.uint8), "L")))
    assert grey.shape == (2, 2, 3) and (grey == 100).all()
    sixteen = to_rgb_array(_png(Image.fromarray(np.full((2, 2), 65535, np.uint16))))
    assert (sixteen == 255).all()
    pal = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    pal.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    assert to_rgb_array(_png(pal)).tolist() == [[[10, 20, 30], [40, 50, 60]]]
    with pytest.raises(InputError, match="not a readable image"):
        to_rgb_array(io.BytesIO(b"not an image"))


def test_index_png_modes():
    pal = Image.fromarray(np.array([[3, 255]], np.uint8), "P")
    pal.putpalette(list(range(256)) * 3)
    assert read_index_png(_png(pal)).tolist() == [[3, 255]]
    assert read_index_png(_png(Image.fromarray(np.array([[7, 8]], np.uint8), "L"))).tolist() == [[7, 8]]
    assert read_index_png(_png(Image.fromarray(np.array([[300]], np.uint16)))).tolist() == [[300]]
    colour = np.zeros((1, 2, 3), np.uint8)
    colour[0, 0] = (255, 0, 0)
    with pytest.raises(InputError, match="colour image, not an index"):
        read_index_png(_png(Image.fromarray(colour, "RGB")))
