"""Bad input gets one clear line and exit status 2, never a traceback or a half-written model."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from bigmodel.data.images import MAX_IMAGE_PIXELS, image_folder, load_image
from bigmodel.errors import BigModelError


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims width×height but holds no pixels: what a decompression bomb looks like
    from its header, without allocating it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_huge_image_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    png_header_only(path, 20000, 20000)
    with pytest.raises(BigModelError, match=r"huge.png: image is over 32 megapixels .*400000000 pixels.*refused before decoding"):
        load_image(path, 16)
    png_header_only(path, 8000, 6000)  # under Pillow's own bound, over ours
    with pytest.raises(BigModelError, match=r"huge.png: image is 8000×6000 = 48 megapixels; at most 32 megapixels"):
        load_image(path, 16)
    assert MAX_IMAGE_PIXELS == 32_000_000


def test_one_pixel_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(path)
    with pytest.raises(BigModelError, match=r"dot.png: image is 1×1 pixels; at least 8×8"):
        load_image(path, 16)


def test_corrupt_and_truncated_images_are_refused(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"this is not an image at all")
    with pytest.raises(BigModelError, match=r"corrupt.png: not a readable image"):
        load_image(corrupt, 16)
    whole = tmp_path / "whole.png"
    Image.effect_noise((64, 64), 50).convert("RGB").save(whole)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    with pytest.raises(BigModelError, match=r"truncated.png: not a readable image"):
        load_image(truncated, 16)


def test_missing_image_is_named(tmp_path: Path) -> None:
    with pytest.raises(BigModelError, match=r"nothere.png: no such image file"):
        load_image(tmp_path / "nothere.png", 16)
    (tmp_path / "pictures").mkdir()
    with pytest.raises(BigModelError, match=r"pictures: a folder, not an image file"):
        load_image(tmp_path / "pictures", 16)


def test_image_folders_need_two_classes_with_images(tmp_path: Path) -> None:
    (tmp_path / "one" / "cats").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (16, 16)).save(tmp_path / "one" / "cats" / f"{i}.png")
    with pytest.raises(BigModelError, match=r"only one class \(cats\)"):
        image_folder(tmp_path / "one", 16)
    (tmp_path / "one" / "dogs").mkdir()
    with pytest.raises(BigModelError, match=r"dogs: 0 image\(s\)"):
        image_folder(tmp_path / "one", 16)


def test_training_on_a_one_class_folder_fails_cleanly_through_the_cli(tmp_path: Path, cli) -> None:
    (tmp_path / "data" / "cats").mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(tmp_path / "data" / "cats" / "a.png")
    out = tmp_path / "model"
    result = cli("vision", "train", "--data", str(tmp_path / "data"), "--preset", "tiny", "--out", str(out), check=False)
    assert result.returncode == 2 and "only one class" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_classify_a_corrupt_image_through_the_cli(vit_dir, tmp_path: Path, cli) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    result = cli("classify", str(vit_dir), str(bad), check=False)
    assert result.returncode == 2 and "bad.jpg: not a readable image" in result.stderr and "Traceback" not in result.stderr


def test_classify_refuses_an_llm(tmp_path: Path, cli, digit_pngs) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    llm = tmp_path / "tiny-llama"
    LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(llm)
    result = cli("classify", str(llm), str(digit_pngs[0][0]), check=False)
    assert result.returncode == 2 and f"{llm} is an llm model" in result.stderr and "Traceback" not in result.stderr


def test_classify_refuses_a_multimodal_model(tmp_path: Path, cli, digit_pngs) -> None:
    from bigmodel.families.multimodal.clip import train_clip

    clip = tmp_path / "clip"
    train_clip("digits", clip, preset="tiny", steps=1)
    result = cli("classify", str(clip), str(digit_pngs[0][0]), check=False)
    assert result.returncode == 2 and "a vision model is needed" in result.stderr and "is a multimodal model" in result.stderr
