"""A LLaVA-style captioner served: /v1/images/caption generates a caption with it, and the
routes that need a dual encoder refuse it with a 400."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import requests
from conftest import Server, make_llm
from PIL import Image

from bigmodel.families.multimodal.captioner import caption_images


@pytest.fixture(scope="module")
def captioner_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("captioner")
    language_model = make_llm(work / "language-model")
    captioner = work / "models" / "captioner"
    subprocess.run([sys.executable, "-m", "bigmodel.cli", "multimodal", "train-captioner", "--language-model", str(language_model),
                    "--data", "shapes", "--preset", "tiny", "--steps", "4", "--out", str(captioner)],
                   check=True, capture_output=True, timeout=600)
    server = Server([str(captioner)], work / "serve.log")
    server.captioner = captioner
    yield server
    server.stop()


def png_file(tmp_path) -> tuple[bytes, object]:
    path = tmp_path / "scene.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(path)
    return path.read_bytes(), path


def test_caption_is_generated_by_the_captioner(captioner_server, tmp_path):
    data, path = png_file(tmp_path)
    response = requests.post(f"{captioner_server.url}/v1/images/caption", data={"model": "captioner"},
                             files={"file": ("scene.png", io.BytesIO(data))}, timeout=120)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "ranking" not in body
    # The same greedy caption as the library gives for the same file.
    assert body["caption"] == caption_images(captioner_server.captioner, [path])[0]["caption"]


def test_retrieve_with_a_captioner_is_a_clear_400(captioner_server, tmp_path):
    data, _ = png_file(tmp_path)
    response = requests.post(f"{captioner_server.url}/v1/retrieve", data={"model": "captioner", "text": "a red circle"},
                             files=[("files", ("scene.png", io.BytesIO(data)))], timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "captioner is a captioner; retrieval needs an image–text dual encoder (CLIP)"
