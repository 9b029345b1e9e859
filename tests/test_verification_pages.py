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
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from tests.browser import DESK, assert_no_sideways_scroll, log_in, snap
from tests.support import idempotency_key, resident_id

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
    area = await make_area(name="官林村 Guanlin")
    landlord = await make_staff("landlord")
    dwelling = await make_dwelling(landlord, area, name="Lane 3 No. 5", address="Guanlin Village, Lane 3 No. 5")
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    officer_account = await make_staff("police", area)
    number = resident_id()

    # The guest, on a phone, finds the way from the registration page.
    guest = await (await new_context("en")).new_page()
    await guest.goto(f"/r/{token}")
    await guest.get_by_role("link", name=re.compile("No ID with you")).click()
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
    await expect(item).to_contain_text("Guanlin Village, Lane 3 No. 5 · 官林村 Guanlin")  # the area by name
    await expect(item).not_to_contain_text(area)
    # The registry's finding is the officer's to weigh: this number is unknown, and no face was compared.
    await expect(item.locator(".registry-name")).to_have_text("人口信息库中无此证件号码")
    await expect(item.locator(".registry-face")).to_have_text("未比对库内照片：请人工核对人像")
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


async def test_a_certificate_signed_with_our_key_but_never_issued_is_shown_as_not_issued(new_context, anonymous, db,
                                                                                         service):
    """A leaked key's forgery: the signature checks out on the device, the service knows no such certificate."""
    import time

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from service.privacy.crypto import Keyring
    from tests.support import TEST_MASTER_KEY
    from tests.test_verification import b64url, sign

    kid = (await anonymous.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    sealed = await db.fetchval("SELECT private_cipher FROM signing_keys WHERE kid = $1", kid)
    private = json.loads(Keyring(base64.b64decode(TEST_MASTER_KEY)).open(sealed, f"signing_keys.private.{kid}"))
    now = int(time.time())
    forged = sign({"alg": "EdDSA", "kid": kid},
                  {"iss": service.base_url, "jti": "EC-FAKE0-FAKE0", "iat": now, "nbf": now - 3600, "exp": now + 86400,
                   "name": "冒名者", "doc": "110***********0000", "dwelling": {"name": "x", "address": "y"},
                   "area": "331004", "stay": "00000000-0000-0000-0000-000000000000"},
                  Ed25519PrivateKey.from_private_bytes(b64url(private["d"])))

    desk = await (await new_context("zh", device=DESK)).new_page()
    await desk.goto(f"/verify#{forged}")
    await expect(desk.locator(".verdict")).to_have_attribute("data-status", "unknown_certificate")
    await expect(desk.locator(".verdict")).to_contain_text("非本系统签发")
    await expect(desk.locator(".verdict")).to_contain_text("Not issued by us")
    await expect(desk.locator(".why")).to_contain_text("从未签发该编号")
    await expect(desk.locator(".holder")).to_have_count(0)  # the forger's holder is not shown as if it were ours
    await snap(desk, "verify-not-issued")


# ---- a family on one phone; the desk checks a certificate ----

async def apply_without_document(guest: Page, name: str, number: str) -> None:
    await guest.get_by_label("Full name", exact=True).fill(name)
    await guest.get_by_label("Document number", exact=True).fill(number)
    await guest.get_by_label("Phone", exact=True).fill("13800138000")
    await guest.get_by_label("Photo of your face", exact=True).set_input_files(
        files=[{"name": "face.jpg", "mimeType": "image/jpeg", "buffer": face_jpeg()}])
    await guest.locator("#apply-consent").check()
    await guest.get_by_role("button", name="Send application").click()
    await expect(guest.get_by_role("heading", name="Application sent")).to_be_visible()


async def approve_by_police(officer, name: str) -> None:
    """The area's police approve the application through the review API (no automatic approval assumed)."""
    queue = (await officer.get("/api/v1/verifications", params={"status": "pending"})).json()
    items = queue["items"] if isinstance(queue, dict) else queue
    [application] = [a for a in items if a["full_name"] == name]
    approved = await officer.post(f"/api/v1/verifications/{application['id']}/approve")
    assert approved.status_code == 200, approved.text


async def shown_certificate(guest: Page, holder: str) -> str:
    card = guest.locator("section.certificate")
    await expect(card).to_contain_text(holder)
    await image_loaded(guest, "img.certificate-qr")
    return await card.locator(".certificate-number").inner_text()


async def test_a_family_applies_one_by_one_and_the_phone_keeps_every_certificate(
        new_context, make_staff, make_area, make_dwelling):
    area = await make_area()
    dwelling = await make_dwelling(await make_staff("landlord"), area, name="Lane 7 No. 2")
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    officer = await make_staff("police", area)
    guest = await (await new_context("en")).new_page()

    await guest.goto(f"/r/{token}/apply")
    await apply_without_document(guest, "Wang Fang", resident_id(birth="19820405"))
    await approve_by_police(officer, "Wang Fang")
    mother = await shown_certificate(guest, "Wang Fang")

    # Applying for the next member of the family keeps the first certificate.
    await guest.get_by_role("button", name="Apply for another guest").click()
    kept = guest.locator(".kept-applications")
    await expect(kept.get_by_role("link", name=re.compile("Wang Fang"))).to_contain_text(mother)
    await apply_without_document(guest, "Wang Lei", resident_id(birth="20090911"))
    await approve_by_police(officer, "Wang Lei")
    son = await shown_certificate(guest, "Wang Lei")
    assert son != mother
    await assert_no_sideways_scroll(guest)
    await snap(guest, "family-second-certificate")

    # Both survive a reload; each opens.
    await guest.reload()
    await shown_certificate(guest, "Wang Lei")
    await kept.get_by_role("link", name=re.compile("Wang Fang")).click()
    assert await shown_certificate(guest, "Wang Fang") == mother
    await expect(kept.get_by_role("link", name=re.compile("Wang Lei"))).to_contain_text(son)

    # Scanning the door code again shows them both, each with a way to open it.
    for width, height in ((360, 740), (1366, 768)):
        page = await guest.context.new_page()  # the same phone's storage
        await page.set_viewport_size({"width": width, "height": height})
        await page.goto(f"/r/{token}")
        certificates = page.locator(".kept-certificates")
        await expect(certificates.locator("li")).to_have_count(2)
        await expect(certificates).to_contain_text(mother)
        await expect(certificates).to_contain_text(son)
        await assert_no_sideways_scroll(page)
        await snap(page, f"family-rescan-{width}")
        await page.close()
    await guest.goto(f"/r/{token}")
    await guest.locator(".kept-certificates li", has_text="Wang Lei").get_by_role("link", name="Show").click()
    assert await shown_certificate(guest, "Wang Lei") == son


async def certificate_by_police_approval(anonymous, officer, dwelling: dict, name: str, number: str) -> dict:
    """An application sent through the API, approved by the area's police: the guest's certificate."""
    token = dwelling["registration_url"].rsplit("/", 1)[1]
    sent = await anonymous.post(
        f"/api/v1/public/dwellings/{token}/verifications",
        data={"full_name": name, "document_number": number, "phone": "13800138000", "consent": "true",
              "check_out": datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()},
        files={"photo": ("face.jpg", face_jpeg(), "image/jpeg")}, headers={"Idempotency-Key": idempotency_key()})
    assert sent.status_code == 202, sent.text
    application = sent.json()
    await approve_by_police(officer, name)
    status = (await anonymous.get(f"/api/v1/public/verifications/{application['id']}",
                                  params={"secret": application["secret"]})).json()
    return (await anonymous.get(f"/api/v1/public/certificates/{status['certificate_number']}",
                                params={"secret": application["secret"]})).json()


def shown_time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M") + " (UTC+8, Asia/Shanghai)"


@pytest.mark.parametrize("viewport", [(360, 740), (1366, 768)], ids=["phone", "laptop"])
async def test_a_desk_on_a_utc_device_reads_area_name_service_times_and_the_holder_to_compare(
        new_context, anonymous, make_staff, make_area, make_dwelling, viewport):
    area = await make_area(name="管林村 Guanlin")
    desk_account = await make_staff("desk")
    dwelling = await make_dwelling(desk_account, area, name="Guanlin Inn 305")
    officer = await make_staff("police", area)
    certificate = await certificate_by_police_approval(anonymous, officer, dwelling, "Li Na", resident_id(birth="19910723"))
    claims = json.loads(base64.urlsafe_b64decode(certificate["token"].split(".")[1] + "=="))
    assert claims["area_name"] == "管林村 Guanlin" and claims["birth_year"] == 1991

    # The desk page links to the check; it opens on a device whose clock runs on UTC.
    width, height = viewport
    context = await new_context("en", device={"viewport": {"width": width, "height": height}}, timezone="UTC")
    desk = await context.new_page()
    await log_in(desk, desk_account.account["username"], f"{desk_account.account['username']}-password")
    await expect(desk.get_by_role("link", name=re.compile("Check a certificate"))).to_have_attribute("href", "/verify")
    await desk.goto(certificate["verify_url"])
    assert await verdict_of(desk) == "valid"
    assert await desk.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "UTC"
    await expect(desk.locator(".area")).to_have_text("管林村 Guanlin")
    await expect(desk.locator(".valid-from")).to_have_text(shown_time(claims["nbf"]))
    await expect(desk.locator(".valid-until")).to_have_text(shown_time(claims["exp"]))
    await expect(desk.locator(".valid-until")).to_contain_text("00:00 (UTC+8, Asia/Shanghai)")

    # The holder, large, to compare with the person at the desk: name, masked number, birth year.
    holder = desk.locator(".holder-card")
    await expect(holder.locator(".holder")).to_have_text("Li Na")
    await expect(holder.locator(".masked")).to_have_text(certificate["document_masked"])
    await expect(holder.locator(".holder-birth")).to_contain_text("1991")
    await expect(holder.locator(".compare")).to_contain_text("no photo")
    font_size = await holder.locator(".holder").evaluate("(e) => parseFloat(getComputedStyle(e).fontSize)")
    assert font_size >= 24
    await assert_no_sideways_scroll(desk)
    await snap(desk, f"verify-desk-utc-{width}")

    # The service's answer names the area and the zone too, for certificates whose claims lack them.
    answer = (await anonymous.post("/api/v1/certificates/verify", json={"token": certificate["token"]})).json()
    assert answer["area_name"] == "管林村 Guanlin" and answer["timezone"] == "Asia/Shanghai"


async def test_the_apply_forms_banner_goes_once_every_marked_field_is_fixed(new_context, make_staff, make_area,
                                                                            make_dwelling):
    dwelling = await make_dwelling(await make_staff("landlord"), await make_area())
    guest = await (await new_context("en")).new_page()
    await guest.goto(f"/r/{dwelling['registration_url'].rsplit('/', 1)[1]}/apply")
    await guest.get_by_role("button", name="Send application").click()
    banner = guest.locator(".form-status")
    await expect(banner).to_have_text("Please correct the marked fields.")
    marked = guest.locator("[aria-invalid=true]")
    await expect(marked.first).to_be_visible()

    await guest.get_by_label("Full name", exact=True).fill("Wang Fang")
    await guest.get_by_label("Document number", exact=True).fill(resident_id(birth="19820405"))
    await guest.get_by_label("Phone", exact=True).fill("13800138000")
    await guest.get_by_label("Photo of your face", exact=True).set_input_files(
        files=[{"name": "face.jpg", "mimeType": "image/jpeg", "buffer": face_jpeg()}])
    await expect(marked).to_have_count(1)  # the consent is still missing
    await expect(banner).to_be_visible()
    await guest.locator("#apply-consent").check()
    await expect(marked).to_have_count(0)
    await expect(banner).to_be_hidden()
    await snap(guest, "apply-banner-gone")
