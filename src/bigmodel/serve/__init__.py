"""`bigmodel serve`: one HTTP server for the whole zoo.

- `registry`: loads every model directory once, by family, under its served name.
- `batching`: dynamic batching of decode steps across concurrent LLM requests.
- `app`: the FastAPI application (OpenAI-compatible routes, family routes, the web page).
- `cli`: the `bigmodel serve` command.
"""
