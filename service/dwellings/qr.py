"""QR codes of registration URLs, made with segno once and then served from memory."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from typing import Literal

import segno

QrKind = Literal["svg", "png"]
MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


@lru_cache(maxsize=4096)
def qr_image(url: str, kind: QrKind) -> bytes:
    """Level Q error correction: about a quarter of a worn or dirty poster may be lost."""
    code = segno.make(url, error="q", micro=False)
    buffer = io.BytesIO()
    if kind == "svg":
        code.save(buffer, kind="svg", scale=10, border=4, xmldecl=False, svgns=True)
    else:
        code.save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()


def qr_etag(url: str, kind: QrKind) -> str:
    """Known without drawing the image, so a revalidation costs no QR generation."""
    return hashlib.sha256(f"{kind}:{url}".encode()).hexdigest()[:32]


@lru_cache(maxsize=4096)
def inline_svg(url: str) -> str:
    """For pages that size the code themselves: a viewBox and no width or height, so it scales to its box."""
    buffer = io.BytesIO()
    segno.make(url, error="q", micro=False).save(buffer, kind="svg", border=4, xmldecl=False, svgns=True,
                                                 omitsize=True, svgclass="qr-code")
    return buffer.getvalue().decode()
