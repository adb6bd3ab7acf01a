"""Reading request bodies with bounded buffers: forms (multipart with files, or URL-encoded) and JSON bodies.

A body that cannot be read within the limits raises ``FormProblem`` with the status to answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import BodyPartReader, hdrs, web

from channels.webform.parse import Upload, size_label
from contactcenter.settings import Settings

FILE_FIELDS = frozenset({"attachments", "attachments[]"})
MAX_FIELD_BYTES = 256 * 1024  # one text field; the message (50,000 characters) fits in UTF-8 with room
MAX_PARTS = 64
MAX_JSON_BYTES = 1024 * 1024
CHUNK = 64 * 1024


class FormProblem(Exception):
    """The request body cannot be read as a form; answered with ``status``."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}  # what was read before the problem, to show the form again


@dataclass
class FormData:
    fields: dict[str, str] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)


async def _read_limited(request: web.Request, limit: int, what: str) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise FormProblem(413, f"{what} is larger than {size_label(limit)}")
    buffer = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            raise FormProblem(413, f"{what} is larger than {size_label(limit)}")
    return bytes(buffer)


async def _read_part(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None as soon as it grows past ``limit`` (the rest is not read)."""
    buffer = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            return None
    return bytes(buffer)


async def _read_multipart(request: web.Request, settings: Settings) -> FormData:
    """Stream the parts: text fields and files are each capped, files are counted, reading stops early.

    At most ``max_attachments + 1`` files are read, so the parser can say "too many" without the
    server reading every extra file.
    """
    webform, max_body = settings.webform, settings.server.max_body_bytes
    reader = await request.multipart()
    form = FormData()
    total = parts = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise FormProblem(400, "nested multipart bodies are not accepted", form.fields)
        parts += 1
        if parts > MAX_PARTS:
            raise FormProblem(413, f"the form has more than {MAX_PARTS} parts", form.fields)
        name = part.name or ""
        if part.filename is not None:
            if name not in FILE_FIELDS:
                raise FormProblem(400, f"unexpected file field {name!r}; send files as 'attachments'",
                                  form.fields)
            data = await _read_part(part, webform.max_attachment_bytes)
            if data is None:
                raise FormProblem(413, f"The file {part.filename} is larger than "
                                       f"{size_label(webform.max_attachment_bytes)}; nothing was sent. "
                                       "Attach a smaller file.", form.fields)
            if not part.filename and not data:
                continue  # a file input left empty
            # Browsers send UTF-8 names escaping only '"' and line breaks as %XX; many HTTP clients
            # percent-encode the whole name. Decoding serves both.
            form.uploads.append(Upload(unquote(part.filename), part.headers.get(hdrs.CONTENT_TYPE, ""), data))
            if len(form.uploads) > webform.max_attachments:
                break
        else:
            data = await _read_part(part, MAX_FIELD_BYTES)
            if data is None:
                raise FormProblem(413, f"The field {name!r} is too long", form.fields)
            try:
                value = data.decode(part.get_charset("utf-8"), "replace")
            except LookupError:
                value = data.decode("utf-8", "replace")
            form.fields.setdefault(name, value)
        total += len(data)
        if total > max_body:
            raise FormProblem(413, f"The submission is larger than {size_label(max_body)}", form.fields)
    return form


async def read_form(request: web.Request, settings: Settings) -> FormData:
    """A multipart (with files) or URL-encoded (without) form body."""
    if request.content_length is not None and request.content_length > settings.server.max_body_bytes:
        raise FormProblem(413, f"The submission is larger than {size_label(settings.server.max_body_bytes)}")
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, settings)
    if request.content_type == "application/x-www-form-urlencoded":
        body = await _read_limited(request, MAX_FIELD_BYTES * 2, "The submission")
        try:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                              max_num_fields=MAX_PARTS)
        except ValueError:
            raise FormProblem(413, f"the form has more than {MAX_PARTS} fields") from None
        form = FormData()
        for key, value in pairs:
            form.fields.setdefault(key, value)
        return form
    raise FormProblem(415, "send the form as multipart/form-data")


async def read_api_body(request: web.Request, settings: Settings) -> tuple[Any, list[Upload]]:
    """A JSON body (no files), or multipart form fields with files under 'attachments'."""
    if request.content_type == "multipart/form-data":
        form = await read_form(request, settings)
        return form.fields, form.uploads
    if not request.can_read_body:
        return {}, []
    raw = await _read_limited(request, MAX_JSON_BYTES, "The JSON body")
    if not raw.strip():
        return {}, []
    try:
        return json.loads(raw), []
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormProblem(400, f"request body is not valid JSON: {exc}") from None
