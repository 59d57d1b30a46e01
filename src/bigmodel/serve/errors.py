"""Errors as OpenAI-style objects: `{"error": {"message", "type", "param", "code"}}`.

Every failure a client can cause is an `APIError` with a 4xx status and one clear message;
FastAPI's own validation, JSON and routing errors are rewritten into the same shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bigmodel.errors import BigModelError

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error",
               415: "invalid_request_error", 500: "server_error"}


class APIError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "invalid_request_error"),
                      "param": param, "code": code}}


def error_response(status: int, message: str, code: str | None = None, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, param), status_code=status, headers=headers)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc[1:]) if loc and loc[0] in ("body", "query") else ".".join(map(str, loc))


def install(app: FastAPI, expected_media: dict[str, str]) -> None:
    """Error handlers. `expected_media` maps a route's path to the media type its body must have
    ("application/json" or "multipart/form-data"): a body of another type gets 415."""

    @app.exception_handler(APIError)
    async def api_error(request: Request, err: APIError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
        return error_response(err.status, err.message, err.code, err.param, headers)

    @app.exception_handler(BigModelError)
    async def bigmodel_error(request: Request, err: BigModelError) -> JSONResponse:
        return error_response(400, str(err), "invalid_value")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        messages = {404: f"no route {request.url.path}", 405: f"method {request.method} is not allowed on {request.url.path}"}
        message = messages.get(err.status_code, str(err.detail))
        return error_response(err.status_code, message, {404: "not_found", 405: "method_not_allowed"}.get(err.status_code))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        route = request.scope.get("route")
        expected = expected_media.get(getattr(route, "path", ""))
        found = _media_type(request)
        if expected and request.method == "POST" and found and found != expected:
            return error_response(415, f"expected Content-Type: {expected}, found {found}", "unsupported_media_type")
        first = err.errors()[0]
        if first.get("type") == "json_invalid":
            return error_response(400, f"malformed JSON: {first.get('ctx', {}).get('error', 'cannot parse the body')}",
                                  "invalid_json")
        where = _location(tuple(first.get("loc", ())))
        if expected and not where:
            return error_response(400, f"the body must be {'a JSON object' if expected == 'application/json' else 'multipart form data'}",
                                  "invalid_body")
        return error_response(400, f"{where}: {first.get('msg', 'invalid value')}" if where else first.get("msg", "invalid request"),
                              "invalid_value", where or None)
