"""QR code generation: segno (what the service uses) against the ``qrcode`` library.

Measured: the whole job for one code, from the registration URL to the finished file in
memory — encoding (error correction level Q, smallest version that fits, here version 6)
and rendering at scale 10 with a 4-module border, as SVG and as PNG. ``qrcode`` renders PNG
through its PIL image factory and SVG through its path factory (one ``<path>``, as segno
draws it); its per-module ``<rect>`` factory is shown too.

How to read it: milliseconds per code, the best of several timeit repeats after a warm-up
(the best run is the one least disturbed by the rest of the machine), and segno/qrcode
(below 1 means segno is faster). The service caches codes in memory, so this is the cost of
a first request or of a poster page with many codes, not of every request.

    python -m bench.qr [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import secrets
import timeit
from collections.abc import Callable

import qrcode
import qrcode.image.pil
import qrcode.image.svg
import segno

SCALE = 10
BORDER = 4


def typical_url() -> str:
    """As the service makes them: base URL, /r/, 32 random bytes URL-safe (43 characters)."""
    return "http://127.0.0.1:8000/r/" + secrets.token_urlsafe(32)


def segno_maker(url: str, kind: str) -> Callable[[], bytes]:
    def make() -> bytes:
        buffer = io.BytesIO()
        code = segno.make(url, error="q", micro=False)
        if kind == "svg":
            code.save(buffer, kind="svg", scale=SCALE, border=BORDER, xmldecl=False, svgns=True)
        else:
            code.save(buffer, kind="png", scale=SCALE, border=BORDER)
        return buffer.getvalue()

    return make


def qrcode_maker(url: str, factory: type) -> Callable[[], bytes]:
    def make() -> bytes:
        buffer = io.BytesIO()
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, box_size=SCALE, border=BORDER,
                             image_factory=factory)
        code.add_data(url)
        code.make(fit=True)
        code.make_image().save(buffer)
        return buffer.getvalue()

    return make


def ms_per_call(make: Callable[[], bytes], repeat: int) -> float:
    timer = timeit.Timer(make)
    number, _ = timer.autorange()  # also the warm-up: at least 0.2 s of calls
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.qr", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timeit repeats per case (best is shown)")
    args = parser.parse_args(argv)

    url = typical_url()
    version = segno.make(url, error="q", micro=False).version
    check = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q)
    check.add_data(url)
    check.make(fit=True)
    assert check.version == version, (check.version, version)  # the same code size, or the race is unfair

    segno_ms = {kind: ms_per_call(segno_maker(url, kind.lower()), args.repeat) for kind in ("SVG", "PNG")}
    cases = [
        ("SVG", qrcode.image.svg.SvgPathImage, "qrcode SvgPathImage"),
        ("PNG", qrcode.image.pil.PilImage, "qrcode PilImage"),
        ("SVG", qrcode.image.svg.SvgImage, "qrcode SvgImage (a rect per module)"),
    ]
    print(f"QR code of a {len(url)}-character registration URL, level Q, version {version}, "
          f"scale {SCALE}, border {BORDER}; ms per code, best of {args.repeat} repeats")
    print(f"{'format':<7}{'segno ms':>10}{'qrcode ms':>11}{'segno/qrcode':>14}  qrcode factory")
    for kind, factory, label in cases:
        qrcode_ms = ms_per_call(qrcode_maker(url, factory), args.repeat)
        print(f"{kind:<7}{segno_ms[kind]:>10.2f}{qrcode_ms:>11.2f}{segno_ms[kind] / qrcode_ms:>14.2f}  {label}")

if __name__ == "__main__":
    main()
