"""The OpenAPI 3.1 description, built from the declared operations and their pydantic models."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from contactcenter.api.framework import Operation

_REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _error() -> dict[str, Any]:
    return {"description": "error", "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}


def build(operations: list[Operation], prefix: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}}}}
    paths: dict[str, Any] = {}
    for op in operations:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1} if name == "id" or name.endswith("_id") else
             {"type": "string", "minLength": 1}}
            for name in re.findall(r"{(\w+)}", op.path)]
        if op.query is not None:
            schema = op.query.model_json_schema(ref_template=_REF)
            components.update(schema.pop("$defs", {}))
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop,
                                   **({"description": prop["description"]} if "description" in prop else {})})
        operation: dict[str, Any] = {
            "operationId": op.handler.__name__, "summary": op.summary, "tags": [op.tag],
            "parameters": parameters,
            "responses": {str(op.status): {"description": "success"}, "400": _error(), "404": _error(),
                          "422": _error()},
        }
        for status, description in op.extra_responses.items():
            operation["responses"][str(status)] = {**_error(), "description": description}
        if op.response is not None:
            ref = _schema(op.response, components)
            schema = {"type": "array", "items": ref} if op.list_response else ref
            operation["responses"][str(op.status)]["content"] = {"application/json": {"schema": schema}}
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _schema(op.body, components)}}}
        if op.role is not None:
            operation["security"] = [{"bearer": []}, {"session": []}]
            operation["responses"]["401"] = _error()
            operation["responses"]["403"] = _error()
        paths.setdefault(prefix + op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "contactcenter API", "version": "1",
                 "description": "Agent, supervisor and admin API. Cookie sessions must send X-CSRF-Token on writes."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (cc_...)"},
            "session": {"type": "apiKey", "in": "cookie", "name": "cc_session"}}},
    }
