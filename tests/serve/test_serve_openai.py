"""The official `openai` client against `bigmodel serve`: models, chat (plain and streamed),
completions; then the counts on /metrics."""

from __future__ import annotations

import pytest
import requests
from openai import OpenAI


@pytest.fixture(scope="module")
def client(server, api_key):
    return OpenAI(base_url=server.url + "/v1", api_key=api_key, max_retries=0, timeout=60)


def test_lists_the_models_it_serves(client):
    ids = {model.id for model in client.models.list()}
    assert ids == {"general", "travel-expert", "vit", "clip", "connect4"}


def test_chat_completion(client):
    reply = client.chat.completions.create(model="general", messages=[{"role": "user", "content": "Hello"}],
                                           max_tokens=8, temperature=0, seed=3)
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == "general"
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    again = client.chat.completions.create(model="general", messages=[{"role": "user", "content": "Hello"}],
                                           max_tokens=8, temperature=0, seed=3)
    assert again.choices[0].message.content == choice.message.content


def test_streamed_chat_completion_equals_the_plain_one(client):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "In the beginning"}]
    plain = client.chat.completions.create(model="travel-expert", messages=messages, max_tokens=12, temperature=0.7, seed=5)
    chunks = list(client.chat.completions.create(model="travel-expert", messages=messages, max_tokens=12, temperature=0.7,
                                                 seed=5, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == plain.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_completion_with_stop(client):
    full = client.completions.create(model="general", prompt="In the beginning", max_tokens=16, temperature=0)
    text = full.choices[0].text
    assert full.object == "text_completion"
    stop = text[3:5] if len(text) >= 5 else None
    if stop:  # cut before the first occurrence of a piece of its own continuation
        cut = client.completions.create(model="general", prompt="In the beginning", max_tokens=16, temperature=0, stop=[stop])
        assert cut.choices[0].text == text[: text.find(stop)] and cut.choices[0].finish_reason == "stop"


def test_raw_stream_ends_with_done(server, auth):
    response = requests.post(server.url + "/v1/completions", headers=auth, stream=True, timeout=60,
                             json={"model": "general", "prompt": "And", "max_tokens": 4, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.iter_lines(decode_unicode=True) if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"


def test_metrics_count_requests_latency_and_tokens(server, client):
    client.chat.completions.create(model="general", messages=[{"role": "user", "content": "Hi"}], max_tokens=5, temperature=0)
    text = requests.get(server.url + "/metrics", timeout=10).text
    assert 'bigmodel_requests_total{route="/v1/chat/completions",status="200"}' in text
    assert 'bigmodel_request_seconds_bucket{le="0.005",route="/v1/chat/completions"}' in text
    generated = [line for line in text.splitlines() if line.startswith('bigmodel_tokens_generated_total{model="general"}')]
    assert generated and float(generated[0].split()[-1]) >= 5
