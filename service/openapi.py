"""The OpenAPI document, completed to say what the service really answers.

Litestar documents a 400 of its own shape (``{"status_code", "detail", "extra"}`` as
``application/json``) and nothing for the other client errors, while every error of this service
is an RFC 9457 problem (``application/problem+json``, service/problems.py). Clients generated from
the document, and schemathesis, would read errors wrongly. So, once, at start-up:

- every 4xx response of every operation is documented as a ``ProblemDetails``, and a ``4XX`` range
  says that any other client error (401, 403, 404, 409, 413, 429 ...) is one too;
- a 204 has no body, so it documents no content.

The viewer at /schema is Swagger UI, vendored: see LocalSwaggerRenderPlugin.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Litestar, Request
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

PROBLEM_MEDIA_TYPE = "application/problem+json"

PROBLEM_DETAILS = Schema(
    type=OpenAPIType.OBJECT,
    title="ProblemDetails",
    description="RFC 9457 problem details; `title` and each error's `message` are in the request's language.",
    required=["type", "title", "status", "code"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="/problems/{code}"),
        "title": Schema(type=OpenAPIType.STRING, description="what a person can do about it"),
        "status": Schema(type=OpenAPIType.INTEGER),
        "code": Schema(type=OpenAPIType.STRING, description="stable, for programs"),
        "instance": Schema(type=OpenAPIType.STRING, description="the path asked for"),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            description="the fields to correct, all at once",
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "code", "message"],
                properties={
                    "field": Schema(type=OpenAPIType.STRING, description="e.g. `full_name`, `companions.0.phone`"),
                    "code": Schema(type=OpenAPIType.STRING),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)


def _problem_content() -> dict[str, OpenAPIMediaType]:
    return {PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ProblemDetails"))}


def complete_openapi(app: Litestar) -> None:
    """On start-up, before the document is first served (Litestar builds it once and keeps it)."""
    document = app.openapi_schema
    document.components.schemas = {**(document.components.schemas or {}), "ProblemDetails": PROBLEM_DETAILS}
    for path_item in (document.paths or {}).values():
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            operation = getattr(path_item, method, None)
            if operation is None:
                continue
            responses = operation.responses = dict(operation.responses or {})
            for status, response in responses.items():
                if isinstance(response, OpenAPIResponse):
                    if status.startswith("4"):
                        response.content = _problem_content()
                    elif status == "204":
                        response.content = None
            responses.setdefault("4XX", OpenAPIResponse(
                description="Client error, as RFC 9457 problem details", content=_problem_content()))


class LocalSwaggerRenderPlugin(OpenAPIRenderPlugin):
    """Swagger UI from static/vendor/swagger-ui (swagger-ui-dist from npm), started by static/schema.js.

    Litestar's own viewers load their scripts, fonts and logos from CDNs (a white page offline, a
    third party's code on this origin) and start them with inline script, which the pages' CSP
    forbids. This page loads nothing from elsewhere and runs under the same CSP as every page.
    """

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"], favicon="", style="")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(openapi_schema["info"]["title"])
        return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<script defer src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script type="module" src="/static/schema.js"></script>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{html.escape(self.get_openapi_json_route(request))}"></div>
</body>
</html>""".encode()


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """The OpenAPI document as JSON and YAML, and one viewer served from this service."""
    return [JsonRenderPlugin(), YamlRenderPlugin(), LocalSwaggerRenderPlugin()]
