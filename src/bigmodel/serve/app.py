"""The FastAPI application: OpenAI-compatible routes for LLM and vertical models, a route per
family, health and metrics, and the web page. The work is done by the families' libraries; the
routes only check input, call them and shape the answers."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import io
import json
import os
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, AsyncIterator, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from bigmodel.errors import BigModelError
from bigmodel.serve import errors
from bigmodel.serve.errors import APIError
from bigmodel.serve.middleware import BodyLimit, Metrics, RecordMetrics
from bigmodel.serve.registry import ServedModel, base_of
from bigmodel.ui import SEED_MAX

STATIC = Path(__file__).parent / "static"
IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp"}
JSON, MULTIPART = "application/json", "multipart/form-data"


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may ask for; bad input past these is a 400/413, never work done."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_tokens: int = 1024  # per completion
    max_prompt_tokens: int = 4096
    max_image_pixels: int = 4096 * 4096  # checked from the file header, before decoding
    max_images: int = 32  # per retrieval request
    max_simulations: int = 4000  # MCTS simulations per move


# --- request bodies ------------------------------------------------------------------------

class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=1_000_000)


class SamplingFields(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields this server has no use for
    model: str = Field(max_length=256)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    n: int = Field(1, ge=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class ChatRequest(SamplingFields):
    messages: list[Message] = Field(min_length=1, max_length=1000)


class CompletionRequest(SamplingFields):
    prompt: str = Field(max_length=1_000_000)


class InspectRequest(BaseModel):
    path: str = Field(min_length=1, max_length=4096)


class MoveRequest(BaseModel):
    model: str = Field(max_length=256)
    position: str = Field(max_length=4096)
    simulations: int | None = Field(None, ge=1)


class CompareRequest(BaseModel):
    model: str = Field(max_length=256, description="A vertical model; its base is asked the same question.")
    question_id: str = Field(max_length=1024)
    max_tokens: int = Field(32, ge=1)


# --- the application ------------------------------------------------------------------------

def create_app(models: dict[str, ServedModel], *, api_key: str | None = None, models_root: Path | None = None,
               limits: Limits = Limits(), metrics: Metrics | None = None) -> FastAPI:
    metrics = metrics or Metrics()
    app = FastAPI(title="bigmodel", version=_version(), description="One server for the whole zoo of large models.",
                  docs_url=None, redoc_url=None)  # their pages load scripts from a CDN; the schema is at /openapi.json
    expected_media = {
        "/v1/chat/completions": JSON, "/v1/completions": JSON, "/v1/inspect": JSON, "/v1/decision/move": JSON,
        "/v1/vertical/compare": JSON, "/v1/images/classify": MULTIPART, "/v1/images/caption": MULTIPART,
        "/v1/retrieve": MULTIPART,
    }
    errors.install(app, expected_media)
    root = models_root.resolve() if models_root is not None else None
    bearer = HTTPBearer(auto_error=False)

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if api_key is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise APIError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", "invalid_api_key")

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorised)])

    def lookup(name: str, families: tuple[str, ...], needed: str) -> ServedModel:
        model = models.get(name)
        if model is None:
            raise APIError(404, f"the model {name!r} does not exist; GET /v1/models lists them", "model_not_found", "model")
        if model.family not in families or model.engine is None:
            raise APIError(400, f"model {name!r} is a {model.family} model; this route needs {needed}", "wrong_model_family", "model")
        return model

    # --- OpenAI-compatible ----------------------------------------------------------------

    @v1.get("/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": m.name, "object": "model", "created": int(m.path.stat().st_mtime), "owned_by": "bigmodel", "family": m.family}
            for m in models.values() if m.engine is not None
        ]}

    @v1.post("/chat/completions")
    async def chat_completions(body: ChatRequest) -> Any:
        model = lookup(body.model, ("llm", "vertical"), "an llm or vertical model")
        from bigmodel.families.llm.generate import chat_prompt

        try:
            prompt_ids = chat_prompt(model.engine.tokenizer, [m.model_dump() for m in body.messages])
        except Exception as err:  # noqa: BLE001 — a template that cannot render these messages
            raise APIError(400, f"cannot render these messages with the model's chat template ({err})", "invalid_messages", "messages")
        return await _complete(model, prompt_ids, body, chat=True)

    @v1.post("/completions")
    async def completions(body: CompletionRequest) -> Any:
        model = lookup(body.model, ("llm", "vertical"), "an llm or vertical model")
        return await _complete(model, list(model.engine.tokenizer(body.prompt)["input_ids"]), body, chat=False)

    async def _complete(model: ServedModel, prompt_ids: list[int], body: SamplingFields, chat: bool) -> Any:
        sampling = _sampling(model, prompt_ids, body, limits)
        request = model.engine.submit(prompt_ids, sampling)
        ident, created = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return StreamingResponse(_stream(model, request, len(prompt_ids), ident, created, chat, include_usage),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        text, event = await _collect(request)
        usage = _usage(len(prompt_ids), event.completion_tokens)
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": event.finish_reason}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": event.finish_reason}
        return {"id": ident, "object": "chat.completion" if chat else "text_completion", "created": created,
                "model": model.name, "choices": [choice], "usage": usage}

    async def _stream(model: ServedModel, request: Any, prompt_tokens: int, ident: str, created: int, chat: bool,
                      include_usage: bool) -> AsyncIterator[str]:
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(text: str | None, finish: str | None, first: bool = False) -> str:
            if chat:
                delta = {"role": "assistant", "content": text} if first else ({"content": text} if text is not None else {})
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            return _sse({"id": ident, "object": kind, "created": created, "model": model.name, "choices": [choice]})

        try:
            if chat:
                yield chunk("", None, first=True)
            while True:
                event = await request.events.get()
                if event.finish_reason == "error":
                    yield _sse(errors.error_body(500, event.error or "decoding failed", "server_error"))
                    break
                if event.text:
                    yield chunk(event.text, None)
                if event.finish_reason is not None:
                    yield chunk(None, event.finish_reason)
                    if include_usage:
                        yield _sse({"id": ident, "object": kind, "created": created, "model": model.name, "choices": [],
                                    "usage": _usage(prompt_tokens, event.completion_tokens)})
                    break
            yield "data: [DONE]\n\n"
        finally:
            request.cancelled = True  # a client that went away stops taking a place in the batch

    # --- family routes ---------------------------------------------------------------------

    @v1.post("/inspect")
    async def inspect(body: InspectRequest) -> dict[str, Any]:
        """What a checkpoint under the models root is (`bigmodel inspect`)."""
        if root is None:
            raise APIError(403, "inspect is disabled: start the server with --models-root DIR", "inspect_disabled")
        target = _confined(root, body.path)
        from bigmodel.taxonomy.inspect import inspect_paths

        reports = await asyncio.to_thread(inspect_paths, [target])
        return {"reports": [{**r.to_json(), "path": str(Path(r.path).resolve().relative_to(root))} for r in reports]}

    @v1.post("/images/classify")
    async def classify(model: str = Form(max_length=256), file: UploadFile = File(), top_k: int = Form(5, ge=1, le=100)) -> dict[str, Any]:
        served = lookup(model, ("vision",), "a vision model")
        with _uploaded([file], limits) as [path]:
            [result] = await _locked(served, served.engine.classify, [path], top_k)
        return {"model": served.name, "top": result["top"]}

    @v1.post("/images/caption")
    async def caption(model: str = Form(max_length=256), file: UploadFile = File(),
                      texts: list[str] | None = Form(None, max_length=256)) -> dict[str, Any]:
        """A caption for the image: generated by a captioner, or the best of the candidate
        `texts` ranked by a CLIP dual encoder (then `texts` is required)."""
        served = lookup(model, ("multimodal",), "a multimodal model")
        if hasattr(served.engine, "caption"):
            with _uploaded([file], limits) as [path]:
                [result] = await _locked(served, served.engine.caption, [path])
            return {"model": served.name, "caption": result["caption"]}
        if not texts:
            raise APIError(400, f"{served.name} is a dual encoder: it ranks candidate captions; send them as `texts`",
                           "texts_required", "texts")
        with _uploaded([file], limits) as [path]:
            ranked = await _locked(served, served.engine.rank_texts, path, texts)
        return {"model": served.name, "caption": ranked[0]["text"], "ranking": ranked}

    @v1.post("/retrieve")
    async def retrieve(model: str = Form(max_length=256), text: str = Form(min_length=1, max_length=10_000),
                       files: list[UploadFile] = File(), top_k: int = Form(5, ge=1, le=100)) -> dict[str, Any]:
        """The uploaded images ranked for a text by a CLIP model (best first)."""
        served = lookup(model, ("multimodal",), "a multimodal (CLIP) model")
        if not hasattr(served.engine, "rank_images"):
            raise APIError(400, f"{served.name} is a captioner; retrieval needs an image–text dual encoder (CLIP)",
                           "wrong_model_type", "model")
        if len(files) > limits.max_images:
            raise APIError(400, f"{len(files)} images; at most {limits.max_images} per request", "too_many_images", "files")
        with _uploaded(files, limits) as paths:
            ranked = await _locked(served, served.engine.rank_images, text, paths, top_k)
        names = {str(p): f.filename for p, f in zip(paths, files)}
        return {"model": served.name, "ranking": [{"image": names[r["image"]], "similarity": r["similarity"]} for r in ranked]}

    @v1.post("/decision/move")
    async def decision_move(body: MoveRequest) -> dict[str, Any]:
        """The model's move in a position; the position after it and whether the game is over."""
        served = lookup(body.model, ("decision",), "a decision model")
        simulations = body.simulations or served.engine.default_simulations
        if simulations > limits.max_simulations:
            raise APIError(400, f"simulations is {simulations}; this server allows at most {limits.max_simulations}",
                           "too_many_simulations", "simulations")
        return await _locked(served, _move, served.engine, body.position, simulations)

    @v1.get("/vertical/questions")
    async def vertical_questions(model: str = Query(max_length=256), count: int = Query(8, ge=1, le=100)) -> dict[str, Any]:
        """Questions from the held-out eval set of a vertical model's domain pack."""
        served = lookup(model, ("vertical",), "a vertical model")
        pack = await asyncio.to_thread(served.pack)
        return {"model": served.name, "domain": pack.name,
                "questions": [{"id": q.id, "question": q.question, "kind": q.kind} for q in pack.eval[:count]]}

    @v1.post("/vertical/compare")
    async def vertical_compare(body: CompareRequest) -> dict[str, Any]:
        """Student vs professor: one domain question to the general base and to its vertical model,
        each answer judged right / wrong / abstained against the pack's answer."""
        from bigmodel.eval.hallucination import judge

        vertical = lookup(body.model, ("vertical",), "a vertical model")
        base = base_of(models, vertical)
        if body.max_tokens > limits.max_tokens:
            raise APIError(400, f"max_tokens is {body.max_tokens}; this server allows at most {limits.max_tokens}",
                           "max_tokens_too_large", "max_tokens")
        pack = await asyncio.to_thread(vertical.pack)
        item = next((q for q in pack.eval if q.id == body.question_id), None)
        if item is None:
            raise APIError(404, f"no question {body.question_id!r} in the eval set of pack {pack.name!r}", "question_not_found", "question_id")
        answers = await asyncio.gather(*(_answer(m, item.question, body.max_tokens) for m in (base, vertical)))
        return {"question": item.question, "id": item.id, "kind": item.kind, "gold": item.answer, "domain": pack.name,
                "answers": [{"role": role, "model": m.name, "answer": a, "verdict": judge(a, item), "passages": passages}
                            for role, m, (a, passages) in zip(("student", "professor"), (base, vertical), answers)]}

    async def _answer(model: ServedModel, question: str, max_tokens: int) -> tuple[str, list[str]]:
        """The model's greedy answer, and the passages it was given (a grounded vertical model's)."""
        from bigmodel.eval.ask import grounded_prompt, question_prompt
        from bigmodel.families.llm.generate import Sampling

        retriever = await asyncio.to_thread(model.retriever)
        passages: list = []
        if retriever:
            found = (await asyncio.to_thread(retriever.search, [question]))[0]
            fit = model.engine.context - min(max_tokens, 16) if model.engine.context else None
            prompt_ids, passages = await asyncio.to_thread(grounded_prompt, model.engine.tokenizer, question, model.chat,
                                                           found, fit, retriever.layout)
        else:
            prompt_ids = await asyncio.to_thread(question_prompt, model.engine.tokenizer, question, model.chat)
        room = model.engine.context - len(prompt_ids) if model.engine.context else max_tokens
        if room < 1:
            raise APIError(400, f"the question is too long for {model.name}'s context of {model.engine.context} tokens", "context_length_exceeded")
        sampling = Sampling(temperature=0, top_p=1, top_k=0, max_new_tokens=min(max_tokens, room), seed=0)
        constraint = retriever.constraints(model.engine.tokenizer, [question], [passages])[0] if retriever else None
        text, _ = await _collect(model.engine.submit(prompt_ids, sampling, constraint))
        return text, [p.text for p in passages]

    @v1.get("/zoo")
    async def zoo() -> dict[str, Any]:
        """The served models as the taxonomy draws them: family, card, inspect's report, lineage."""
        from bigmodel.taxonomy.families import FAMILIES

        entries = []
        for m in models.values():
            entry = {"name": m.name, "family": m.family, "served": m.engine is not None, "chat": m.chat,
                     "card": m.card.to_json() if m.card else None, "report": {**m.report, "path": m.path.name}}
            if m.family == "vertical":
                try:
                    entry["base"] = base_of(models, m).name
                except BigModelError:
                    entry["base"] = None
            if m.family == "decision" and m.engine is not None:
                game = m.engine.game
                entry["game"] = {"name": game.name, "title": game.title, "rows": game.rows, "cols": game.cols}
            entries.append(entry)
        return {"families": {name: FAMILIES[name] for name in ("llm", "vision", "multimodal", "decision", "vertical", "generative")},
                "models": entries}

    app.include_router(v1)

    # --- health, metrics, page -------------------------------------------------------------

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": len(models)}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    app.add_middleware(RecordMetrics, metrics=metrics)  # outermost: counts the 413s too
    app.state.metrics = metrics
    return app


# --- helpers ------------------------------------------------------------------------------------

def _version() -> str:
    from bigmodel import __version__

    return __version__


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}


def _sampling(model: ServedModel, prompt_ids: list[int], body: SamplingFields, limits: Limits) -> Any:
    from bigmodel.families.llm.generate import Sampling

    if body.n != 1:
        raise APIError(400, f"n is {body.n}; this server returns one choice per request (n = 1)", "unsupported_n", "n")
    if body.max_tokens is not None and body.max_tokens > limits.max_tokens:
        raise APIError(400, f"max_tokens is {body.max_tokens}; this server allows at most {limits.max_tokens}",
                       "max_tokens_too_large", "max_tokens")
    if len(prompt_ids) > limits.max_prompt_tokens:
        raise APIError(400, f"the prompt is {len(prompt_ids)} tokens; this server accepts at most {limits.max_prompt_tokens}",
                       "prompt_too_long", "messages" if isinstance(body, ChatRequest) else "prompt")
    context = model.engine.context
    max_tokens = body.max_tokens or (min(limits.max_tokens, context - len(prompt_ids)) if context else limits.max_tokens)
    if context and len(prompt_ids) + max_tokens > context:
        raise APIError(400, f"the prompt ({len(prompt_ids)} tokens) plus max_tokens ({max_tokens}) exceeds "
                            f"{model.name}'s context of {context} tokens", "context_length_exceeded")
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > 4 or any(not s or len(s) > 256 for s in stop):
        raise APIError(400, "stop takes at most 4 strings, each 1 to 256 characters", "invalid_stop", "stop")
    return Sampling(temperature=body.temperature, top_p=body.top_p, top_k=0,
                    max_new_tokens=max_tokens, stop=tuple(stop), seed=body.seed if body.seed is not None else 0)


async def _collect(request: Any) -> tuple[str, Any]:
    pieces = []
    while True:
        event = await request.events.get()
        if event.finish_reason == "error":
            raise APIError(500, event.error or "decoding failed", "server_error")
        pieces.append(event.text)
        if event.finish_reason is not None:
            return "".join(pieces), event


async def _locked(model: ServedModel, fn: Any, *args: Any) -> Any:
    """A blocking family call in a worker thread, one at a time per model."""
    def call() -> Any:
        with model.lock:
            return fn(*args)

    return await asyncio.to_thread(call)


def _confined(root: Path, requested: str) -> Path:
    """`requested` (relative to the root, or absolute) if it and every link under it stay
    inside `root`; path traversal and symlinks that lead out are refused."""
    if "\x00" in requested:
        raise APIError(400, "path contains a NUL character", "invalid_path", "path")
    target = (root / requested).resolve()
    if not target.is_relative_to(root):
        raise APIError(403, f"path {requested!r} is outside the models root", "path_outside_root", "path")
    if not target.exists():
        raise APIError(404, f"no such file or directory under the models root: {requested!r}", "path_not_found", "path")
    if target.is_dir():
        for folder, dirs, files in os.walk(target):
            for name in dirs + files:
                entry = Path(folder) / name
                if entry.is_symlink() and not entry.resolve().is_relative_to(root):
                    raise APIError(403, f"path {requested!r} holds a link that leads outside the models root",
                                   "path_outside_root", "path")
    return target


class _uploaded:
    """Uploaded images checked (an image format, at most `max_image_pixels` by the header,
    before any decoding) and written to temporary files for the families' loaders. A loader's
    complaint about one of them (too small, truncated) names the upload, not the temporary file."""

    def __init__(self, files: list[UploadFile], limits: Limits) -> None:
        self.files, self.limits = files, limits
        self.folder: tempfile.TemporaryDirectory | None = None
        self.labels: dict[str, str] = {}  # temporary file -> the upload's name

    def __enter__(self) -> list[Path]:
        from PIL import Image

        self.folder = tempfile.TemporaryDirectory(prefix="bigmodel-upload-")
        paths = []
        for number, upload in enumerate(self.files):
            data = upload.file.read()
            label = upload.filename or f"file {number + 1}"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(io.BytesIO(data)) as image:  # reads the header only
                        kind, (width, height) = image.format, image.size
            except Exception:  # noqa: BLE001 — PIL signals "not an image" through many types
                raise APIError(400, f"{label}: not an image (expected PNG, JPEG, GIF, BMP or WEBP)", "invalid_image", "file") from None
            if kind not in IMAGE_FORMATS:
                raise APIError(400, f"{label}: {kind} images are not accepted (expected PNG, JPEG, GIF, BMP or WEBP)", "invalid_image", "file")
            if width * height > self.limits.max_image_pixels:
                raise APIError(400, f"{label}: image is {width}×{height} pixels; at most {self.limits.max_image_pixels} pixels are accepted",
                               "image_too_large", "file")
            path = Path(self.folder.name) / f"{number}{IMAGE_FORMATS[kind]}"
            path.write_bytes(data)
            paths.append(path)
            self.labels[str(path)] = label
        return paths

    def __exit__(self, kind: type | None, error: BaseException | None, trace: Any) -> None:
        if self.folder is not None:
            self.folder.cleanup()
        if isinstance(error, BigModelError) and any(path in str(error) for path in self.labels):
            message = str(error)
            for path, label in self.labels.items():
                message = message.replace(path, label)
            raise APIError(400, message, "invalid_image", "file") from None


def _move(agent: Any, position: str, simulations: int) -> dict[str, Any]:
    import torch

    from bigmodel.families.decision.games import STONE_CHARS
    from bigmodel.families.decision.play import analyse

    game = agent.game
    state = game.parse_position(position)
    analysis = None
    if state.value is None:
        torch.manual_seed(0)
        analysis = analyse(game, agent.evaluator, state, simulations)
        state = game.apply(state, analysis["action"])
    over = state.value is not None
    winner = STONE_CHARS[2 - game.current_player(state)] if over and state.value != 0 else None
    return {"game": game.name, "analysis": analysis, "position": game.format_position(state), "over": over,
            "winner": winner, "draw": over and state.value == 0}
