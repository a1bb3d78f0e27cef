"""Every rejected request gets a body that says why: 422 lists each field at fault.

FastAPI's own validation errors are rewritten into the same `{"path", "message"}`
shape as `DocumentError.as_detail()`, so a client handles schema errors and
semantic errors (an unknown client id, a window ending before it starts) alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optimiser.domain.errors import DocumentError, FieldError, from_validation_error

log = logging.getLogger(__name__)


class _ErrorList:
    """Quacks like a pydantic ValidationError so `from_validation_error` formats FastAPI's."""

    def __init__(self, items: Sequence[Any]) -> None:
        self._items = list(items)

    def errors(self, include_url: bool = False) -> list[Any]:
        return self._items


def request_errors(exc: RequestValidationError) -> list[FieldError]:
    """FastAPI's errors with the leading 'body' dropped: paths read like the spec's."""
    out: list[FieldError] = []
    plain: list[dict[str, Any]] = []
    for item in exc.errors():
        loc = list(item.get("loc", ()))
        if item.get("type") == "json_invalid":
            reason = (item.get("ctx") or {}).get("error", "malformed JSON")
            out.append(FieldError("", f"malformed JSON at character {loc[-1]}: {reason}"))
            continue
        if loc and loc[0] == "body":
            loc = loc[1:]
        plain.append({**item, "loc": tuple(loc)})
    return out + from_validation_error(_ErrorList(plain))  # type: ignore[arg-type]


def rejected(errors: Sequence[FieldError]) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={"detail": [{"path": e.path, "message": e.message} for e in errors]},
    )


async def _on_request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return rejected(request_errors(exc))


async def _on_document_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DocumentError)
    return rejected(exc.errors)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(DocumentError, _on_document_error)


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"request body larger than {self.limit} bytes "
                                  "(the server's max_body_bytes setting)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0 or size > self.limit:
                status = 413 if size > self.limit else 400
                detail = self._too_large().detail if status == 413 else "bad Content-Length"
                await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise self._too_large()
            return message

        await self.app(scope, limited, send)
