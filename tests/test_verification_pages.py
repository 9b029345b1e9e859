"""The remote verification pages in a real browser: a guest without their document applies on a phone,
an officer approves in another browser, the guest's page turns into the certificate by itself, and the
certificate checks as valid on /verify, as forged once a byte of it changes, offline too, and as revoked.

Headless Debian Chromium through Playwright, against the real service and database.
"""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from tests.browser import DESK, assert_no_sideways_scroll, log_in, snap
from tests.support import resident_id

pytestmark = pytest.mark.browser


def face_jpeg() -> bytes:
    image = Image.new("RGB", (900, 1200), (214, 180, 150))
    image.paste((60, 45, 40), (250, 300, 650, 700))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def with_changed_payload_byte(token: str) -> str:
    """The same certificate with one byte of its payload changed (the holder's name, one bit)."""
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    at = raw.index(b'"name":"') + len(b'"name":"')
    raw[at] ^= 0x01
    return f"{header}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}.{signature}"


async def image_loaded(page: Page, selector: str) -> None:
    """Wait until the image has loaded and decoded: a broken image fails."""
    await page.wait_for_function(
        "s => { const img = document.querySelector(s); return img && img.complete && img.naturalWidth > 0; }",
        arg=selector)


async def verdict_of(page: Page) -> str:
    verdict = page.locator(".verdict")
    await expect(verdict).to_be_visible()
    return await verdict.get_attribute("data-status")


async def test_a_guest_without_document_gets_a_certificate_that_police_approved_and_anyone_can_check(
        new_context, make_staff, make_area, make_dwelling, service):
    area = await make_area()
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, area, name="Lane 3 No. 5", address="Guanlin Village, Lane 3 No. 5")
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    officer_account = await make_staff("police", area)
    number = resident_id()

    # The guest, on a phone, finds the way from the registration page.
    guest = await (await new_context("en")).new_page()
    await guest.goto(f"/r/{token}")
    await guest.get_by_role("link", name=re.compile("No ID with me")).click()
    await expect(guest).to_have_url(re.compile(rf"/r/{re.escape(token)}/apply$"))
    await expect(guest.get_by_role("heading", name="Lane 3 No. 5")).to_be_visible()

    # Sending without photo and consent names both, in the guest's language; nothing is sent.
    await guest.get_by_label("Full name", exact=True).fill("Wang Fang")
    await guest.get_by_label("Document number", exact=True).fill(number)
    await guest.get_by_label("Phone", exact=True).fill("13800138000")
    await guest.get_by_role("button", name="Send application").click()
    await expect(guest.locator("#apply-photo-error")).to_have_text("This field is required.")
    await expect(guest.locator("#apply-consent-error")).to_contain_text("Please agree")

    await guest.get_by_label("Photo of your face", exact=True).set_input_files(
        files=[{"name": "face.jpg", "mimeType": "image/jpeg", "buffer": face_jpeg()}])
    await expect(guest.locator(".photo-preview")).to_be_visible()
    await guest.locator("#apply-consent").check()
    await assert_no_sideways_scroll(guest)
    await snap(guest, "apply-form-filled")
    await guest.get_by_role("button", name="Send application").click()
    await expect(guest.get_by_role("heading", name="Application sent")).to_be_visible()
    await expect(guest.locator(".waiting")).to_contain_text("Waiting for")
    await snap(guest, "apply-pending")
    await guest.evaluate("window.stillTheSamePage = true")

    # The officer, in another browser, reviews the queue of the jurisdiction.
    officer = await (await new_context("zh", device=DESK)).new_page()
    await log_in(officer, officer_account.account["username"], f"{officer_account.account['username']}-password",
                 start="/police/review")
    item = officer.locator("li.application", has_text="Wang Fang")
    await expect(item).to_be_visible()
    await expect(item.locator(".waiting")).to_contain_text("已等待")
    await expect(item).to_contain_text("人口信息库未能确认")
    await image_loaded(officer, "li.application img.applicant-photo")
    await snap(officer, "review-queue")
    await item.get_by_role("button", name="通过").click()
    await expect(item).to_have_count(0)
    decided_row = officer.locator(".decided-table tr", has_text="Wang Fang")
    await expect(decided_row.locator(".time-to-certificate")).to_have_text(re.compile(r"\d+ (秒|分)"))
    await expect(officer.locator(".median")).to_be_visible()
    await snap(officer, "review-decided")

    # The guest's page turns into the certificate by itself: no reload.
    await expect(guest.get_by_role("heading", name=re.compile("Electronic accommodation certificate"))).to_be_visible()
    assert await guest.evaluate("window.stillTheSamePage") is True
    await image_loaded(guest, "img.certificate-qr")
    await expect(guest.locator(".certificate-number")).to_have_text(re.compile(r"^EC-[0-9A-Z]{5}-[0-9A-Z]{5}$"))
    await assert_no_sideways_scroll(guest)
    await snap(guest, "apply-certificate")
    verify_url = await guest.locator("a.verify-link").get_attribute("href")
    assert verify_url.startswith(f"{service.base_url}/verify#")
    certificate = verify_url.split("#", 1)[1]

    # A desk checks it on /verify: valid; one byte of the payload changed: forged.
    desk_context = await new_context("zh", device=DESK)
    desk = await desk_context.new_page()
    await desk.goto(verify_url)
    assert await verdict_of(desk) == "valid"
    await expect(desk.locator(".verdict")).to_contain_text("有效")
    await expect(desk.locator(".verdict")).to_contain_text("Valid")
    await expect(desk.locator(".holder")).to_have_text("Wang Fang")
    await expect(desk.locator(".how-checked")).to_contain_text("已在本机核验签名")
    await snap(desk, "verify-valid")

    await desk.goto(f"/verify#{with_changed_payload_byte(certificate)}")
    await expect(desk.locator(".verdict")).to_have_attribute("data-status", "forged")
    await expect(desk.locator(".verdict")).to_contain_text("伪造")
    await expect(desk.locator(".verdict")).to_contain_text("Forged")
    await expect(desk.locator(".holder")).to_have_count(0)
    await snap(desk, "verify-forged")

    # Offline, with the keys and the page kept on the device, it still checks.
    assert await desk.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await desk_context.set_offline(True)
    await desk.goto(verify_url)
    await desk.reload()
    await expect(desk.locator(".verdict")).to_have_attribute("data-status", "valid")
    await expect(desk.locator(".how-checked .offline")).to_be_visible()
    await snap(desk, "verify-offline")
    await desk_context.set_offline(False)

    # The police revoke it; online, the page says so.
    revoked = await officer_account.post(f"/api/v1/certificates/{certificate_number(certificate)}/revoke",
                                         json={"reason": "identity used by someone else"})
    assert revoked.status_code == 200, revoked.text
    await desk.reload()
    await expect(desk.locator(".verdict")).to_have_attribute("data-status", "revoked")
    await expect(desk.locator(".verdict")).to_contain_text("已吊销")
    await expect(desk.locator(".verdict")).to_contain_text("Revoked")
    await snap(desk, "verify-revoked")


def certificate_number(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


async def test_a_desk_can_paste_a_certificate_and_a_stranger_text_is_forged(new_context):
    page = await (await new_context("en", device=DESK)).new_page()
    await page.goto("/verify")
    await expect(page.locator("#verdict")).to_contain_text("Scan the QR code")
    await page.get_by_label("Certificate").fill("https://elsewhere.example/verify#eyJhbGciOiJub25lIn0.e30.")
    await page.get_by_role("button", name="Check", exact=True).click()
    await expect(page.locator(".verdict")).to_have_attribute("data-status", "forged")


async def test_a_rejected_guest_reads_the_reason_in_chinese_and_may_apply_again(
        new_context, make_staff, make_area, make_dwelling):
    area = await make_area()
    dwelling = await make_dwelling(await make_staff("landlord"), area)
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    officer_account = await make_staff("police", area)

    guest = await (await new_context("zh")).new_page()
    await guest.goto(f"/r/{token}/apply")
    await guest.get_by_label("姓名", exact=True).fill("李雷")
    await guest.get_by_label("证件号码", exact=True).fill(resident_id())
    await guest.get_by_label("手机号码", exact=True).fill("13900139000")
    await guest.get_by_label("面部照片", exact=True).set_input_files(
        files=[{"name": "face.jpg", "mimeType": "image/jpeg", "buffer": face_jpeg()}])
    await guest.locator("#apply-consent").check()
    await guest.get_by_role("button", name="提交申请").click()
    await expect(guest.get_by_role("heading", name="申请已提交")).to_be_visible()

    officer = await (await new_context("en", device=DESK)).new_page()
    await log_in(officer, officer_account.account["username"], f"{officer_account.account['username']}-password",
                 start="/police/review")
    item = officer.locator("li.application", has_text="李雷")
    await item.get_by_role("button", name="Reject").click()
    await expect(item.locator(".field-error")).to_have_text("Please give the guest a reason.")
    await item.get_by_label("Reason for rejection").fill("照片太暗，请在光线充足处重新申请。")
    await item.get_by_role("button", name="Reject").click()
    await expect(item).to_have_count(0)
    await expect(officer.locator(".decided-table tr", has_text="李雷").locator(".result")).to_have_text("rejected")

    await expect(guest.get_by_role("heading", name="申请未通过")).to_be_visible()
    await expect(guest.locator(".rejection-reason")).to_have_text("照片太暗，请在光线充足处重新申请。")
    await snap(guest, "apply-rejected")
    await guest.get_by_role("button", name="重新申请").click()
    await expect(guest.get_by_role("button", name="提交申请")).to_be_visible()
