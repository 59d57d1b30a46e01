"""Auth, caps, path traversal, malformed JSON and wrong content types: each with its exact status
and OpenAI-style error body, against the running server."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from bigmodel.data.images import MIN_IMAGE_SIDE

CHAT = {"model": "general", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}


def error(message: str, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def post(server, auth):
    def post(path: str, **kwargs) -> requests.Response:
        return requests.post(server.url + path, headers={**auth, **kwargs.pop("headers", {})}, timeout=60, **kwargs)

    return post


NO_KEY = error("missing or wrong API key: send 'Authorization: Bearer KEY'", "authentication_error", "invalid_api_key")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="},
                                     {"Authorization": "Bearer test-key-012345678"}])
def test_v1_needs_the_key(server, headers):
    for method, path in (("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/v1/zoo")):
        response = requests.request(method, server.url + path, headers=headers, json=CHAT, timeout=30)
        assert response.status_code == 401, path
        assert response.json() == NO_KEY
        assert response.headers["www-authenticate"] == "Bearer"


def test_health_page_and_metrics_are_open(server):
    for path in ("/healthz", "/", "/metrics", "/static/app.js"):
        assert requests.get(server.url + path, timeout=30).status_code == 200, path


def test_binds_loopback_by_default(server):
    # The fixture gives no --host.
    assert f"on http://127.0.0.1:{server.port} " in server.log.read_text()


def test_body_size_cap(post):
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * (1024 * 1024 + 1)}]}
    response = post("/v1/chat/completions", json=big)
    assert response.status_code == 413
    assert response.json() == error(f"request body is larger than this server's limit of {1024 * 1024} bytes", code="body_too_large")


def test_body_size_cap_without_content_length(post):
    chunks = (b"x" * 65536 for _ in range(20))  # chunked transfer: no Content-Length to refuse by
    response = post("/v1/chat/completions", data=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_max_tokens_cap(post):
    response = post("/v1/chat/completions", json={**CHAT, "max_tokens": 65})
    assert response.status_code == 400
    assert response.json() == error("max_tokens is 65; this server allows at most 64", code="max_tokens_too_large", param="max_tokens")


def test_context_cap(post):
    response = post("/v1/completions", json={"model": "general", "prompt": "In the beginning " * 200, "max_tokens": 64})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("the prompt (") and message.endswith("exceeds general's context of 512 tokens")
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_n_must_be_one(post):
    response = post("/v1/chat/completions", json={**CHAT, "n": 2})
    assert response.status_code == 400
    assert response.json() == error("n is 2; this server returns one choice per request (n = 1)", code="unsupported_n", param="n")


def test_unknown_model_and_wrong_family(post):
    response = post("/v1/chat/completions", json={**CHAT, "model": "gpt-4"})
    assert response.status_code == 404
    assert response.json() == error("the model 'gpt-4' does not exist; GET /v1/models lists them", "not_found_error",
                                    "model_not_found", "model")
    response = post("/v1/chat/completions", json={**CHAT, "model": "vit"})
    assert response.status_code == 400
    assert response.json() == error("model 'vit' is a vision model; this route needs an llm or vertical model",
                                    code="wrong_model_family", param="model")


def test_malformed_json(post):
    response = post("/v1/chat/completions", data=b'{"model": "general",', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == error("malformed JSON: Expecting property name enclosed in double quotes", code="invalid_json")
    response = post("/v1/chat/completions", data=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == error("the body must be a JSON object", code="invalid_body")


def test_invalid_fields(post):
    response = post("/v1/chat/completions", json={**CHAT, "temperature": 3})
    assert response.status_code == 400
    assert response.json() == error("temperature: Input should be less than or equal to 2", code="invalid_value", param="temperature")
    response = post("/v1/chat/completions", json={"model": "general"})
    assert response.status_code == 400
    assert response.json() == error("messages: Field required", code="invalid_value", param="messages")
    response = post("/v1/chat/completions", json={**CHAT, "seed": 10**23})  # beyond any generator's seed: was a 500
    assert response.status_code == 400
    assert response.json() == error("seed: Input should be less than or equal to 4294967295", code="invalid_value", param="seed")


def test_wrong_content_types(post):
    response = post("/v1/chat/completions", data=b"hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json() == error("expected Content-Type: application/json, found text/plain", code="unsupported_media_type")
    response = post("/v1/images/classify", json={"model": "vit"})
    assert response.status_code == 415
    assert response.json() == error("expected Content-Type: multipart/form-data, found application/json", code="unsupported_media_type")


def test_uploads_must_be_images_of_bounded_size(post):
    response = post("/v1/images/classify", data={"model": "vit"}, files={"file": ("notes.png", b"not an image", "image/png")})
    assert response.status_code == 400
    assert response.json() == error("notes.png: not an image (expected PNG, JPEG, GIF, BMP or WEBP)", code="invalid_image", param="file")
    # 5000×5000 pixels in a few kilobytes: refused from its header, never decoded.
    response = post("/v1/images/classify", data={"model": "vit"}, files={"file": ("huge.png", png(5000, 5000, "1"), "image/png")})
    assert response.status_code == 400
    assert response.json() == error(f"huge.png: image is 5000×5000 pixels; at most {4096 * 4096} pixels are accepted",
                                    code="image_too_large", param="file")
    # the loader's own check names the upload too, not the server's temporary file
    response = post("/v1/images/classify", data={"model": "vit"}, files={"file": ("dot.png", png(1, 1), "image/png")})
    assert response.status_code == 400
    assert response.json() == error(f"dot.png: image is 1×1 pixels; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} is needed",
                                    code="invalid_image", param="file")
    response = post("/v1/images/classify", data={"model": "vit"}, files={"file": ("ok.png", png(32, 32), "image/png")})
    assert response.status_code == 200 and len(response.json()["top"]) == 3


@pytest.mark.parametrize("path", ["../", "../../etc/passwd", "/etc/passwd", "inside-llm/../../", "escape", "escape/secret.txt"])
def test_inspect_cannot_leave_its_root(post, path):
    response = post("/v1/inspect", json={"path": path})
    assert response.status_code == 403
    assert response.json() == error(f"path {path!r} is outside the models root", "permission_error", "path_outside_root", "path")


def test_inspect_refuses_a_folder_holding_a_link_out(post):
    response = post("/v1/inspect", json={"path": "models"})
    assert response.status_code == 403
    assert response.json() == error("path 'models' holds a link that leads outside the models root", "permission_error",
                                    "path_outside_root", "path")


def test_inspect_inside_the_root(post):
    response = post("/v1/inspect", json={"path": "inside-llm"})
    assert response.status_code == 200
    [report] = response.json()["reports"]
    assert (report["path"], report["family"], report["architecture"]) == ("inside-llm", "llm", "LlamaForCausalLM")
    response = post("/v1/inspect", json={"path": "missing"})
    assert response.status_code == 404
    assert response.json() == error("no such file or directory under the models root: 'missing'", "not_found_error",
                                    "path_not_found", "path")
