"""An identity registry adapter that compares faces, for the tests of the automatic path.

The service loads it by name (``VH_IDENTITY_REGISTRY=tests.registry_faces:FaceOnFileRegistry``),
as a deployment would load its population-registry adapter: names and numbers come from the
default table, and every person's "registry photo" is the one image in ``VH_TEST_REGISTRY_FACE``.
Faces are compared by an 8x8 average hash of the grey image: the same picture (re-encoded,
resized) matches, another picture or a flat colour does not.
"""

from __future__ import annotations

import io
import os

from PIL import Image

from service.stays.documents import Identity
from service.verification.registry import RegistryFinding, TableRegistry

HASH_SIDE = 8
SAME_FACE_MAX_DISTANCE = 6


def average_hash(image_bytes: bytes) -> int:
    with Image.open(io.BytesIO(image_bytes)) as image:
        pixels = list(image.convert("L").resize((HASH_SIDE, HASH_SIDE)).getdata())
    mean = sum(pixels) / len(pixels)
    return sum(1 << i for i, p in enumerate(pixels) if p > mean)


class FaceOnFileRegistry(TableRegistry):
    async def check(self, full_name: str, identity: Identity, photo_jpeg: bytes) -> RegistryFinding:
        table = await super().check(full_name, identity, photo_jpeg)
        if not table.number_known:
            return table
        with open(os.environ["VH_TEST_REGISTRY_FACE"], "rb") as file:
            reference = average_hash(file.read())
        distance = (average_hash(photo_jpeg) ^ reference).bit_count()
        return RegistryFinding(table.number_known, table.name_matches,
                               "match" if distance <= SAME_FACE_MAX_DISTANCE else "mismatch")
