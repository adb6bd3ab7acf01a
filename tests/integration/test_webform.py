"""The contact form and its JSON twin against the real app and database: CSRF, validation, limits, dedupe."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.db.engine import Database
from contactcenter.db.models import Attachment, ContactIdentity, Message, Ticket
from contactcenter.settings import Settings
from tests.ports import free_port

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission_id" value="([^"]+)"')
Client = TestClient[Any, Any]
MakeClient = Callable[[dict[str, Any]], Awaitable[Client]]


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings) -> MakeClient:
    """The real app built from the test settings with some values replaced."""
    async def make(overrides: dict[str, Any]) -> Client:
        app: web.Application = create_app(settings.with_overrides(overrides))
        return await aiohttp_client(app)
    return make


async def open_form(client: Client, path: str = "/contact") -> tuple[str, str]:
    response = await client.get(path)
    assert response.status == 200
    html = await response.text()
    csrf, submission = CSRF.search(html), SUBMISSION.search(html)
    assert csrf and submission
    return csrf[1], submission[1]


def form_body(csrf: str | None, submission_id: str | None, files: tuple[tuple[str, str, bytes], ...] = (),
              **fields: str) -> aiohttp.FormData:
    values = {"name": "Sara Ahmadi", "email": "sara@example.com", "phone": "", "topic": "general",
              "subject": "Order 1234", "message": "My order has not arrived.", "website": "", **fields}
    data = aiohttp.FormData(default_to_multipart=True)
    if csrf is not None:
        data.add_field("csrf_token", csrf)
    if submission_id is not None:
        data.add_field("submission_id", submission_id)
    for key, value in values.items():
        data.add_field(key, value)
    for filename, content_type, payload in files:
        data.add_field("attachments", payload, filename=filename, content_type=content_type)
    return data


async def submit(client: Client, files: tuple[tuple[str, str, bytes], ...] = (),
                 **fields: str) -> aiohttp.ClientResponse:
    csrf, submission = await open_form(client)
    return await client.post("/contact", data=form_body(csrf, submission, files, **fields), allow_redirects=False)


async def count(client: Client, model: Any) -> int:
    async with client.app[CTX].db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def token_of(response: aiohttp.ClientResponse) -> str:
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    assert location.startswith("/t/")
    return location[3:]


async def test_form_page(client: Client) -> None:
    for path in ("/", "/contact"):
        response = await client.get(path)
        assert response.status == 200
        assert response.content_type == "text/html"
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        cookie = response.cookies["cc_form_csrf"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        html = await response.text()
        assert CSRF.search(html) and SUBMISSION.search(html)
        assert 'enctype="multipart/form-data"' in html
        assert 'name="website" value="" tabindex="-1" autocomplete="off"' in html and 'class="hp"' in html
        assert "شکایت" in html and "Complaint" in html  # the topic labels, in both languages
        assert 'dir="auto"' in html and 'type="file" id="attachments" name="attachments" multiple' in html
        # No inline script or style: only the self-service suggestion script, from this server (kb.md).
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/kb-suggest.js" defer>']
        assert "style=" not in html and "<style" not in html
    css = await client.get("/static/webform.css")
    assert css.status == 200 and css.content_type == "text/css"
    assert ".hp" in await css.text()


async def test_each_form_gets_its_own_submission_id_and_keeps_the_cookie(client: Client) -> None:
    first_csrf, first = await open_form(client)
    second_csrf, second = await open_form(client)
    assert first != second
    assert first_csrf == second_csrf  # same browser, same cookie: several tabs work


async def test_csrf_missing_or_wrong_is_403_and_stores_nothing(client: Client) -> None:
    csrf, submission = await open_form(client)
    for token in (None, "", "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        response = await client.post("/contact", data=form_body(token, submission))
        assert response.status == 403
        assert "reload" in (await response.text()).lower()
    client.session.cookie_jar.clear()  # the token without its cookie
    response = await client.post("/contact", data=form_body(csrf, submission))
    assert response.status == 403
    assert await count(client, Ticket) == 0
    assert await count(client, Message) == 0


async def test_full_submission_with_attachment(client: Client, agent: Any) -> None:
    response = await submit(client, files=(("screen shot.png", "image/png", PNG),), topic="complaint",
                            phone="0912 345 6789", message="سلام، سفارش من نرسیده است.\nThe parcel is late.")
    token = await token_of(response)
    page = await client.get(f"/t/{token}")
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = await page.text()
    assert '<meta name="robots" content="noindex">' in html
    portal = await (await client.get(f"/api/v1/portal/{token}")).json()
    number = portal["number"]
    assert f"Ticket <strong>#{number}</strong>" in html
    assert "سفارش من نرسیده است" in html

    detail = await client.get(f"/api/v1/tickets/{number}", headers=agent.headers)
    assert detail.status == 200
    ticket = await detail.json()
    assert ticket["channel"] == "webform"
    assert ticket["type"] == "complaint" and ticket["priority"] == "high"
    assert ticket["subject"] == "Order 1234"
    assert ticket["contact"]["name"] == "Sara Ahmadi"
    [message] = [e for e in ticket["timeline"] if e["kind"] == "message"]
    assert message["text"] == "سلام، سفارش من نرسیده است.\nThe parcel is late."
    assert message["internal"] is False
    [attachment] = message["attachments"]
    assert attachment["filename"] == "screen shot.png" and attachment["content_type"] == "image/png"
    assert attachment["size"] == len(PNG)
    download = await client.get(attachment["url"], headers=agent.headers)
    assert await download.read() == PNG

    async with client.app[CTX].db.read() as session:
        identities = set((await session.execute(select(ContactIdentity.kind, ContactIdentity.value).where(
            ContactIdentity.contact_id == ticket["contact"]["id"]))).all())
        raw, meta = (await session.execute(select(Message.raw, Message.meta)
                                           .where(Message.ticket_id == number))).one()
    assert identities == {("email", "sara@example.com"), ("phone", "+989123456789")}
    assert meta == {"form": "contact"}  # no IP address is stored
    assert raw is not None and b"screen shot.png" in raw and PNG not in raw


async def test_double_submit_same_submission_id_is_one_ticket(client: Client) -> None:
    csrf, submission = await open_form(client)
    first = await client.post("/contact", data=form_body(csrf, submission), allow_redirects=False)
    await token_of(first)
    again = await client.post("/contact", data=form_body(csrf, submission), allow_redirects=False)
    assert again.status == 200
    html = await again.text()
    assert "already" in html
    async with client.app[CTX].db.read() as session:
        ticket_id = await session.scalar(select(Ticket.id))
    assert f"#{ticket_id}" in html
    assert await count(client, Ticket) == 1
    assert await count(client, Message) == 1


async def test_honeypot_rejected_nothing_stored(client: Client) -> None:
    response = await submit(client, website="http://cheap-pills.example")
    assert response.status == 400
    assert "rejected" in (await response.text()).lower()
    assert await count(client, Ticket) == 0


async def test_validation_errors_rerender_form_with_input(client: Client) -> None:
    response = await submit(client, email="", phone="", name="<b>Sara</b>", message="Keep <this> text")
    assert response.status == 422
    html = await response.text()
    assert "Give an e-mail address or a phone number" in html
    assert 'value="&lt;b&gt;Sara&lt;/b&gt;"' in html  # the input is kept, and escaped
    assert ">Keep &lt;this&gt; text</textarea>" in html
    assert CSRF.search(html)
    response = await submit(client, message="")
    assert response.status == 422
    response = await submit(client, subject="s" * 501)
    assert response.status == 422 and "at most 500" in await response.text()
    assert await count(client, Ticket) == 0


async def test_attachment_type_not_allowed_and_magic_mismatch(client: Client) -> None:
    for files in ((("tool.bin", "application/x-msdownload", EXE),),
                  (("photo.png", "image/png", EXE),),
                  (("photo.png", "image/png", b"<!doctype html><script>alert(1)</script>"),),
                  (("setup.exe", "image/png", PNG),)):
        response = await submit(client, files=files, name="Kept Name")
        assert response.status == 422, files
        html = await response.text()
        assert 'value="Kept Name"' in html
        assert "not accepted" in html or "not a valid" in html
    assert await count(client, Ticket) == 0
    assert await count(client, Attachment) == 0


async def test_oversized_attachment_is_413(make_client: MakeClient) -> None:
    client = await make_client({"webform": {"max_attachment_bytes": 2000}})
    response = await submit(client, files=(("big.pdf", "application/pdf", b"%PDF-1.7\n" + b"x" * 50_000),))
    assert response.status == 413
    html = await response.text()
    assert "big.pdf" in html and "larger than" in html
    assert await count(client, Ticket) == 0
    api = await client.post("/api/v1/webform", data=form_body(None, None, (("big.pdf", "application/pdf",
                                                                            b"%PDF-1.7\n" + b"x" * 50_000),)))
    assert api.status == 413
    assert (await api.json())["error"]["code"] == "too_large"


async def test_too_many_attachments(make_client: MakeClient) -> None:
    client = await make_client({"webform": {"max_attachments": 1}})
    response = await submit(client, files=(("a.png", "image/png", PNG), ("b.png", "image/png", PNG)))
    assert response.status == 422
    assert "at most 1" in await response.text()


async def test_rate_limit_per_ip(make_client: MakeClient) -> None:
    client = await make_client({"webform": {"rate_per_ip": 2, "rate_per_address": 0}})
    invalid = await submit(client, message="")
    assert invalid.status == 422  # not counted: only accepted submissions count
    for i in range(2):
        await token_of(await submit(client, email=f"user{i}@example.com"))
    limited = await submit(client, email="other@example.com")
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "Too many" in await limited.text()
    api = await client.post("/api/v1/webform", json={"email": "x@example.com", "message": "hi"})
    assert api.status == 429
    assert int(api.headers["Retry-After"]) > 0
    assert (await api.json())["error"]["code"] == "too_many_requests"
    assert await count(client, Ticket) == 2


async def test_rate_limit_per_address(make_client: MakeClient) -> None:
    client = await make_client({"webform": {"rate_per_ip": 0, "rate_per_address": 1}})
    await token_of(await submit(client, email="sara@example.com"))
    limited = await submit(client, email="SARA@example.com")
    assert limited.status == 429 and "Retry-After" in limited.headers
    await token_of(await submit(client, email="someone@example.com"))
    same_phone = await client.post("/api/v1/webform", json={"phone": "+98 912 000 1111", "message": "1"})
    assert same_phone.status == 201
    again = await client.post("/api/v1/webform", json={"phone": "09120001111", "message": "2"})
    assert again.status == 429


async def test_json_endpoint_and_idempotency(client: Client, settings: Settings, agent: Any) -> None:
    body = {"name": "Ali", "email": "ali@example.com", "phone": "+98 912 111 2233", "subject": "Invoice",
            "message": "Please send the invoice again.", "topic": "billing"}
    first = await client.post("/api/v1/webform", json=body, headers={"Idempotency-Key": "order-77-try"})
    assert first.status == 201
    created = await first.json()
    assert created["duplicate"] is False
    assert created["portal_url"].startswith(f"{settings.base_url}/t/")
    again = await client.post("/api/v1/webform", json=body, headers={"Idempotency-Key": "order-77-try"})
    assert again.status == 200
    assert await again.json() == {"ticket_number": created["ticket_number"], "portal_url": None,
                                  "duplicate": True}
    by_field = await client.post("/api/v1/webform", json={**body, "submission_id": "field-key"})
    repeat = await client.post("/api/v1/webform", json={**body, "submission_id": "field-key"})
    assert by_field.status == 201 and repeat.status == 200
    assert (await repeat.json())["ticket_number"] == (await by_field.json())["ticket_number"]
    # another sender reusing the key gets a ticket of their own, not the first sender's number
    stranger = await client.post("/api/v1/webform", json={"email": "eve@example.com", "message": "hi"},
                                 headers={"Idempotency-Key": "order-77-try"})
    assert stranger.status == 201
    assert (await stranger.json())["ticket_number"] != created["ticket_number"]
    ticket = await (await client.get(f"/api/v1/tickets/{created['ticket_number']}", headers=agent.headers)).json()
    assert ticket["queue"] == "billing"
    token = created["portal_url"].rsplit("/", 1)[1]
    page = await client.get(f"/t/{token}")
    assert page.status == 200 and "Please send the invoice again." in await page.text()
    assert await count(client, Ticket) == 3


async def test_json_endpoint_accepts_multipart_with_attachments(client: Client, agent: Any) -> None:
    data = aiohttp.FormData()
    data.add_field("email", "mina@example.com")
    data.add_field("message", "See the attached scan.")
    data.add_field("attachments", PNG, filename="scan.png", content_type="image/png")
    response = await client.post("/api/v1/webform", data=data, headers={"Idempotency-Key": "mp-1"})
    assert response.status == 201, await response.text()
    number = (await response.json())["ticket_number"]
    ticket = await (await client.get(f"/api/v1/tickets/{number}", headers=agent.headers)).json()
    [message] = [e for e in ticket["timeline"] if e["kind"] == "message"]
    assert [a["filename"] for a in message["attachments"]] == ["scan.png"]


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    (b"[1, 2]", 422),
    (b'"text"', 422),
    (b'{"message": 5, "email": "a@example.com"}', 422),
    (b'{"email": "a@example.com"}', 422),
    (b'{"message": "hi"}', 422),
    (b'{"message": "hi", "email": ["a@example.com"]}', 422),
    (b'{"message": "hi", "email": "a@example.com", "admin": true}', 422),
    (b'{"message": "hi", "email": "not an address"}', 422),
    (b'{"message": "hi", "email": "a@example.com", "topic": "nope"}', 422),
    (b'{"message": "hi\\u0000there", "email": "a@example.com", "name": "\\u0000"}', 422),  # NUL: a clear error
    (b'{"message": "lone \\ud800 surrogate", "email": "a@example.com"}', 422),
    (b'{"message": "hi", "email": "a@example.com", "website": "spam"}', 400),
    (b"\xff\xfe", 400),
    (b"", 422),
])
async def test_json_endpoint_bad_input_is_4xx_json(client: Client, body: bytes, status: int) -> None:
    response = await client.post("/api/v1/webform", data=body, headers={"Content-Type": "application/json"})
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    if status >= 400:
        assert "error" in await response.json()


async def test_json_endpoint_bad_idempotency_key(client: Client) -> None:
    response = await client.post("/api/v1/webform", json={"email": "a@example.com", "message": "hi"},
                                  headers={"Idempotency-Key": "spaces are not allowed"})
    assert response.status == 422
    assert (await response.json())["error"]["details"][0]["field"] == "submission_id"


async def test_cors(make_client: MakeClient) -> None:
    client = await make_client({"webform": {"cors_origins": ["https://shop.example"]}})
    preflight = await client.options("/api/v1/webform", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, idempotency-key"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    denied = await client.options("/api/v1/webform", headers={"Origin": "https://evil.example",
                                                               "Access-Control-Request-Method": "POST"})
    assert denied.status == 403
    assert "Access-Control-Allow-Origin" not in denied.headers
    ok = await client.post("/api/v1/webform", json={"email": "a@example.com", "message": "hi"},
                           headers={"Origin": "https://shop.example"})
    assert ok.status == 201
    assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Origin" in ok.headers["Vary"]
    error = await client.post("/api/v1/webform", json={"message": 1}, headers={"Origin": "https://shop.example"})
    assert error.status == 422
    assert error.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    other = await client.post("/api/v1/webform", json={"email": "b@example.com", "message": "hi"},
                              headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    agent_api = await client.get("/api/v1/tickets", headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in agent_api.headers


async def test_openapi_describes_the_webform_and_portal_endpoints(client: Client) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    post = spec["paths"]["/api/v1/webform"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/WebformIn")
    assert post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/WebformOut")
    assert "security" not in post
    assert "/api/v1/portal/{token}" in spec["paths"]
    assert "post" in spec["paths"]["/api/v1/portal/{token}/messages"]
    assert "PortalTicketOut" in spec["components"]["schemas"]


async def test_database_down_is_503_with_retry_after(client: Client) -> None:
    csrf, submission = await open_form(client)  # the form itself needs no database
    ctx = client.app[CTX]
    working = ctx.db
    down = Database(f"postgresql+asyncpg://cc@127.0.0.1:{free_port()}/cc")
    ctx.db = ctx.intake.db = down
    try:
        form = await client.post("/contact", data=form_body(csrf, submission), allow_redirects=False)
        assert form.status == 503
        assert form.headers["Retry-After"]
        assert form.content_type == "text/html"
        portal = await client.get("/t/" + "a" * 43)
        assert portal.status == 503 and portal.headers["Retry-After"]
        api = await client.post("/api/v1/webform", json={"email": "a@example.com", "message": "hi"})
        assert api.status == 503 and api.headers["Retry-After"]
        assert (await api.json())["error"]["code"] == "unavailable"
    finally:
        ctx.db = ctx.intake.db = working
        await down.dispose()
    retried = await client.post("/contact", data=form_body(csrf, submission), allow_redirects=False)
    await token_of(retried)
