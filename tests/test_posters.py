"""A landlord prints QR posters: every size, one dwelling or all of them, scans on screen and on paper.

Each poster page is rendered in Chromium; the code is decoded with zxing-cpp from a screenshot and from
every page of the PDF Chromium prints at the page size the poster's own style sheet asks for
(``prefer_css_page_size``), rasterised with poppler's pdftoppm as a printer would.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Page

from tests.browser import ARTIFACTS, DESK, PHONE, snap

pytestmark = pytest.mark.browser

# Intended page size in millimetres of each poster size.
SIZES = {"a4": (210, 297), "a6": (105, 148), "sticker": (74, 105)}
LAPTOP = {**DESK, "viewport": {"width": 1366, "height": 768}}
PRINT_DPI = 150
POINTS_PER_MM = 72 / 25.4


def decoded_urls(image: Image.Image) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(image) if code.format == zxingcpp.BarcodeFormat.QRCode]


def printed_pages(pdf: Path) -> list[tuple[tuple[float, float], Image.Image]]:
    """Each page of the PDF: its size in millimetres and its image at a printer's resolution."""
    if not shutil.which("pdftoppm"):
        pytest.fail("poppler-utils is not installed: run `make browser`")
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "1000", str(pdf)], capture_output=True, text=True, check=True).stdout
    sizes = [(float(w) / POINTS_PER_MM, float(h) / POINTS_PER_MM)
             for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info, re.MULTILINE)]
    prefix = f"{pdf.stem}-printed"
    for old in pdf.parent.glob(f"{prefix}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", str(PRINT_DPI), "-png", str(pdf), str(pdf.parent / prefix)], check=True)
    images = sorted(pdf.parent.glob(f"{prefix}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    assert len(images) == len(sizes)
    return [(size, Image.open(path)) for size, path in zip(sizes, images, strict=True)]


async def assert_posters_scan(page: Page, urls: list[str], size: str, name: str) -> None:
    posters = page.locator(".poster")
    assert await posters.count() == len(urls)
    for n, url in enumerate(urls):
        shot = ARTIFACTS / f"{name}-screen-{n + 1}.png"
        await posters.nth(n).screenshot(path=shot)
        assert decoded_urls(Image.open(shot)) == [url], f"{shot.name} does not scan"

    pdf = ARTIFACTS / f"{name}.pdf"
    await page.pdf(path=pdf, prefer_css_page_size=True, print_background=True)
    pages = printed_pages(pdf)
    assert len(pages) == len(urls), f"{len(urls)} posters printed on {len(pages)} pages"
    width, height = SIZES[size]
    for (page_width, page_height), image in pages:
        assert abs(page_width - width) < 0.5 and abs(page_height - height) < 0.5, (page_width, page_height)
    assert [decoded_urls(image) for _, image in pages] == [[url] for url in urls]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("device", [PHONE, LAPTOP], ids=["phone", "laptop"])
async def test_every_poster_size_scans_on_screen_and_printed_at_its_own_size(
        size, device, new_context, make_staff, make_area, make_dwelling):
    landlord = await make_staff("landlord")
    area = await make_area()
    rooms = [await make_dwelling(landlord, area, name=name, address="管林村 3 号 Guanlin 3")
             for name in ("Room 1 一号房", "Room 2 二号房")]
    context = await new_context("zh", device=device)
    await context.set_extra_http_headers({"Authorization": landlord.headers["Authorization"]})
    page = await context.new_page()
    kind = "phone" if device is PHONE else "laptop"

    await page.goto(f"/api/v1/dwellings/{rooms[0]['id']}/poster?size={size}")
    await snap(page, f"poster-{size}-{kind}")
    await assert_posters_scan(page, [rooms[0]["registration_url"]], size, f"poster-{size}-{kind}")

    sizes = page.get_by_role("navigation", name="Poster size").get_by_role("link")
    assert [await link.get_attribute("href") for link in await sizes.all()] == [f"?size={s}" for s in SIZES]
    assert await sizes.and_(page.locator("[aria-current=page]")).get_attribute("href") == f"?size={size}"

    # Print all: one page per dwelling, in the list's order.
    await page.goto(f"/api/v1/dwellings/posters?size={size}")
    await assert_posters_scan(page, [r["registration_url"] for r in rooms], size, f"posters-all-{size}-{kind}")
