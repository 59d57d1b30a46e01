"""The family routes on the running server: classify, caption, retrieve, a decision move,
student vs professor, the zoo listing."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def call(server, auth):
    def call(method: str, path: str, **kwargs) -> dict:
        response = requests.request(method, server.url + path, headers=auth, timeout=120, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    return call


def test_classify(call):
    result = call("POST", "/v1/images/classify", data={"model": "vit", "top_k": "2"}, files={"file": ("red.png", png((255, 0, 0)))})
    assert [t["label"] for t in result["top"]] != [] and len(result["top"]) == 2
    assert {t["label"] for t in result["top"]} <= {"circle", "square", "triangle"}
    assert result["top"][0]["probability"] >= result["top"][1]["probability"]


def test_caption_ranks_the_candidates(call):
    texts = ["a red circle", "a blue square", "a green triangle"]
    result = call("POST", "/v1/images/caption", data={"model": "clip", "texts": texts}, files={"file": ("red.png", png((255, 0, 0)))})
    assert sorted(r["text"] for r in result["ranking"]) == sorted(texts)
    assert result["caption"] == result["ranking"][0]["text"]
    assert abs(sum(r["probability"] for r in result["ranking"]) - 1) < 1e-3


def test_retrieve_ranks_the_uploads(call):
    files = [("files", ("red.png", png((255, 0, 0)))), ("files", ("blue.png", png((0, 0, 255))))]
    result = call("POST", "/v1/retrieve", data={"model": "clip", "text": "a red circle", "top_k": "2"}, files=files)
    assert sorted(r["image"] for r in result["ranking"]) == ["blue.png", "red.png"]


def test_decision_move(call):
    result = call("POST", "/v1/decision/move", json={"model": "connect4", "position": "/".join(["......."] * 5 + ["...x..."])})
    assert result["over"] is False and result["analysis"]["to_move"] == "o"
    assert result["position"].count("o") == 1 and result["position"].count("x") == 1
    won = "/".join(["......."] * 2 + ["...x..."] * 4)  # four in a column, o having played elsewhere
    won = "/".join(["......."] * 2 + ["...x...", "...xo..", "...xo..", "...xo.."])
    over = call("POST", "/v1/decision/move", json={"model": "connect4", "position": won})
    assert (over["over"], over["winner"], over["analysis"]) == (True, "x", None)


def test_student_vs_professor(call):
    questions = call("GET", "/v1/vertical/questions", params={"model": "travel-expert", "count": 10})
    assert questions["domain"] == "travel" and len(questions["questions"]) == 10
    question = next(q for q in questions["questions"] if q["kind"] == "fact")
    result = call("POST", "/v1/vertical/compare", json={"model": "travel-expert", "question_id": question["id"]})
    assert result["question"] == question["question"] and result["gold"]
    assert [(a["role"], a["model"]) for a in result["answers"]] == [("student", "general"), ("professor", "travel-expert")]
    assert all(a["verdict"] in ("right", "wrong", "abstained") for a in result["answers"])
    student, professor = result["answers"]
    # Only the grounded professor reads passages: at most two, each naming the asked entity (BM25's
    # identifier filter), one of them the asked fact.
    assert student["passages"] == [] and 1 <= len(professor["passages"]) <= 2
    assert any(result["gold"] in text for text in professor["passages"]), professor["passages"]
    # Its decoding is extractive: a span of what it read, or the abstention.
    assert professor["answer"] == "I don't know" or any(professor["answer"] in text for text in professor["passages"])


def test_zoo_draws_lineage_and_games(call):
    zoo = call("GET", "/v1/zoo")
    by_name = {m["name"]: m for m in zoo["models"]}
    assert by_name["travel-expert"]["base"] == "general" and by_name["travel-expert"]["family"] == "vertical"
    assert by_name["connect4"]["game"] == {"name": "connect4", "title": "Connect Four", "rows": 6, "cols": 7}
    assert list(zoo["families"]) == ["llm", "vision", "multimodal", "decision", "vertical", "generative"]


def test_caption_with_a_dual_encoder_needs_candidates(server, auth):
    response = requests.post(server.url + "/v1/images/caption", headers=auth, data={"model": "clip"},
                             files={"file": ("red.png", png((255, 0, 0)))}, timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "clip is a dual encoder: it ranks candidate captions; send them as `texts`"
