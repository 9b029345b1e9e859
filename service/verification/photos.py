"""The applicant's photo: refused unless it is a real, sane image; kept only re-encoded, stripped and sealed.

The type is judged by the bytes, never by the declared content type; Pillow decodes under
a pixel limit, so a small file that unpacks to gigabytes (a decompression bomb) is refused
before it is decoded; the stored copy is a fresh JPEG, so no EXIF (camera, GPS position)
survives.
"""

from __future__ import annotations

import asyncio
import base64
import io
from uuid import UUID

from litestar.datastructures import UploadFile
from PIL import Image, ImageOps

from service.i18n import add_messages
from service.privacy.crypto import Keyring
from service.problems import FieldError, Problem

add_messages(
    {
        "photo_too_large": (
            "The photo is larger than 8 MB. Please take it again or choose a smaller one.",
            "照片超过 8 MB，请重新拍摄或选择较小的照片。",
        ),
        "photo_not_an_image": (
            "This file is not a photo. Please take a photo (JPEG, PNG or WebP).",
            "该文件不是照片，请拍摄一张照片（JPEG、PNG 或 WebP）。",
        ),
        "photo_unreadable": (
            "The photo could not be read (it may be damaged or incomplete). Please take it again.",
            "无法读取照片（可能已损坏或不完整），请重新拍摄。",
        ),
        "photo_too_many_pixels": (
            "The photo has too many pixels. Please take it again with the phone's normal camera settings.",
            "照片像素过多，请使用手机相机的常规设置重新拍摄。",
        ),
    }
)

MAX_PHOTO_BYTES = 8 * 1024 * 1024
# Far above any phone photo's normal output (12 to 50 megapixels), far below a bomb's.
MAX_PIXELS = 50_000_000
# A face for a reviewing officer: 1600 pixels on the long side is plenty, and small to keep.
STORED_SIDE = 1600
STORED_QUALITY = 85
# Decoding a large PNG takes hundreds of megabytes: two at a time per instance at most.
_decoding = asyncio.Semaphore(2)


def _refuse(status_code: int, code: str) -> Problem:
    return Problem(status_code, code, errors=[FieldError("photo", code)])


def format_of(data: bytes) -> str | None:
    """JPEG, PNG or WebP by their signatures; anything else is None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


async def read_upload(upload: UploadFile) -> bytes:
    """The uploaded bytes, refused past MAX_PHOTO_BYTES without reading further."""
    data = await upload.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise _refuse(413, "photo_too_large")
    return data


def reencode(data: bytes) -> bytes:
    """Check and decode the image fully, then a fresh upright JPEG without metadata; Problem if refused."""
    kind = format_of(data)
    if kind is None:
        raise _refuse(415, "photo_not_an_image")
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as probe:
            # The header tells the size: a bomb is refused before a single pixel is decoded.
            if probe.width * probe.height > MAX_PIXELS:
                raise _refuse(422, "photo_too_many_pixels")
            probe.verify()
        # verify() leaves the image unusable: decode from a fresh start, every byte of it.
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            image.draft("RGB", (STORED_SIDE, STORED_SIDE))  # JPEG decodes at a reduced scale: less memory
            image.load()
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except Image.DecompressionBombError:
        raise _refuse(422, "photo_too_many_pixels") from None
    except (OSError, SyntaxError, ValueError):
        raise _refuse(422, "photo_unreadable") from None
    upright.thumbnail((STORED_SIDE, STORED_SIDE))
    out = io.BytesIO()
    # No exif= argument: the new file carries pixels only.
    upright.save(out, "JPEG", quality=STORED_QUALITY, optimize=True)
    return out.getvalue()


async def prepare(data: bytes) -> bytes:
    """reencode() off the event loop, a bounded number at a time."""
    async with _decoding:
        return await asyncio.to_thread(reencode, data)


def _context(verification_id: UUID) -> str:
    return f"verifications.photo.{verification_id}"


def seal(keyring: Keyring, verification_id: UUID, jpeg: bytes) -> bytes:
    # Keyring seals text: the photo goes in as base64, a third larger for the minutes it is kept.
    return keyring.seal(base64.b64encode(jpeg).decode("ascii"), _context(verification_id))


def open_sealed(keyring: Keyring, verification_id: UUID, sealed: bytes) -> bytes:
    return base64.b64decode(keyring.open(sealed, _context(verification_id)))
