"""schemathesis against the running server's OpenAPI schema: whatever a client sends, never a
500 (bounded: a few generated requests per operation, derandomised). Generated requests name a
served model of the route's family, so they reach past the model look-up into the route's own
checks."""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

EXAMPLES_PER_OPERATION = 15
MODEL_FOR_ROUTE = {"/v1/chat/completions": "general", "/v1/completions": "travel-expert", "/v1/images/classify": "vit",
                   "/v1/images/caption": "clip", "/v1/retrieve": "clip", "/v1/decision/move": "connect4",
                   "/v1/vertical/questions": "travel-expert", "/v1/vertical/compare": "travel-expert"}


def with_served_model(case):
    name = MODEL_FOR_ROUTE.get(case.operation.path)
    if name is not None:
        if isinstance(case.body, dict):
            case.body["model"] = name
        if isinstance(case.query, dict) and "model" in case.query:
            case.query["model"] = name
    return case


def test_never_a_server_error(server, auth):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= set(MODEL_FOR_ROUTE)  # every route is fuzzed
    for operation in operations:

        @given(case=operation.as_strategy().map(with_served_model))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def never_a_500(case):
            case.call_and_validate(headers=auth, checks=[not_a_server_error], timeout=60)

        never_a_500()
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert 'bigmodel_requests_total{route="/v1/decision/move",status="400"}' in metrics  # past the model look-up
