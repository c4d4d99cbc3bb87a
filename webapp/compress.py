"""The page's HTML, compressed for the browsers that accept it.

Gradio compresses the responses whose path ends in a text extension (.js, .css, ...: gradio/brotli_middleware.py),
not the page itself at "/", whose HTML is mostly the app's config (every endpoint's API schema) and shrinks several
times. PageCompression compresses that one response, with the same encoders Gradio uses for the rest: brotli where
the client accepts it, else gzip. Every other request passes through untouched, so nothing is compressed twice.
"""

from __future__ import annotations

from gradio.brotli_middleware import BrotliResponder, Mode
from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipResponder
from starlette.types import ASGIApp, Receive, Scope, Send

QUALITY = 4  # brotli's, as Gradio's middleware: the page is rendered per request, so compressing it must stay cheap
MINIMUM_SIZE = 400  # bytes; a smaller body (a redirect, an error) is sent as it is
ZERO = {"0", "0.", "0.0", "0.00", "0.000"}  # the weights (q=) that refuse a coding (RFC 9110: at most 3 decimals)


def accepted_encodings(header: str) -> set[str]:
    """The codings an Accept-Encoding header allows ("gzip;q=0" refuses gzip)."""
    accepted = set()
    for item in header.split(","):
        name, *params = (part.strip().lower() for part in item.split(";"))
        weights = [value.strip() for key, _, value in (p.partition("=") for p in params) if key.strip() == "q"]
        if name and not (weights and weights[0] in ZERO):
            accepted.add(name)
    return accepted


class PageCompression:
    """ASGI middleware: compresses the response to GET "/" (with any query string)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        responder = self.app
        if scope["type"] == "http" and scope["method"] == "GET" and self.is_page(scope):
            accepted = accepted_encodings(Headers(scope=scope).get("accept-encoding", ""))
            if "br" in accepted:
                responder = BrotliResponder(self.app, QUALITY, Mode.text, 22, 0, MINIMUM_SIZE)
            elif "gzip" in accepted:
                responder = GZipResponder(self.app, MINIMUM_SIZE)
        await responder(scope, receive, send)

    @staticmethod
    def is_page(scope: Scope) -> bool:
        # the path as the app routes it: without the prefix a proxy mounting the app may have set as root_path
        root = scope.get("root_path", "")
        path = scope["path"]
        return (path[len(root):] if root and path.startswith(root) else path) == "/"
