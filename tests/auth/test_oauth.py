"""The device flow and refresh requests against the fake OAuth server; waits run on a
fake clock, so the RFC 8628 timings are asserted exactly and nothing really waits."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import socket
import time
import uuid

import httpx
import pytest

from qwen_ls.auth import DeviceAuthorization, OAuthError, QwenOAuth
from qwen_ls.auth.oauth import CLIENT_ID, form_body
from tests.auth.conftest import FakeClock
from tests.fakes.oauth_server import (
    Answer,
    FakeOAuth,
    device_answer,
    html,
    json_answer,
    oauth_error,
    tokens,
)

SECRETS = ("dc-test", "at-test", "rt-test")


def client(http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock) -> QwenOAuth:
    fake.clock = clock
    return QwenOAuth(http, fake.base_url, clock=clock, sleep=clock.sleep)


def poll_times(fake: FakeOAuth, clock: FakeClock) -> list[float]:
    return [r.time - clock.start for r in fake.token_requests("device")]


def assert_no_secret(error: OAuthError) -> None:
    for secret in SECRETS:
        assert secret not in str(error)


# -- start: PKCE and the exact request -------------------------------------------


async def test_start_sends_pkce_challenge_and_exact_form(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    auth, verifier = await client(http, fake, clock).start()

    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", verifier)
    request = fake.requests[0]
    assert request.path == "/api/v1/oauth2/device/code"
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert request.form == {
        "client_id": CLIENT_ID,
        "scope": "openid profile email model.completion",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert b"scope=openid%20profile%20email%20model.completion" in request.body
    assert request.header("content-type") == "application/x-www-form-urlencoded"
    assert request.header("accept") == "application/json"
    uuid.UUID(request.header("x-request-id") or "")
    assert auth == DeviceAuthorization(
        device_code="dc-test",
        user_code="ABCD-1234",
        verification_uri="https://chat.test/authorize",
        verification_uri_complete="https://chat.test/authorize?user_code=ABCD-1234",
        expires_in=300.0,
        interval=2.0,
        obtained_at=clock.start,
    )
    assert "dc-test" not in repr(auth)


async def test_each_start_has_a_fresh_verifier(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    oauth = client(http, fake, clock)
    (_, first), (_, second) = await oauth.start(), await oauth.start()
    assert first != second
    assert fake.requests[0].header("x-request-id") != fake.requests[1].header(
        "x-request-id"
    )


def test_form_body_escapes_like_encode_uri_component() -> None:
    assert form_body({"scope": "a b", "x": "p+q/r~*"}) == "scope=a%20b&x=p%2Bq%2Fr~*"


async def test_poll_sends_device_grant_with_verifier(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    fake.token(tokens())
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()

    await oauth.poll(auth, verifier)

    assert fake.token_requests()[0].form == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": CLIENT_ID,
        "device_code": "dc-test",
        "code_verifier": verifier,
    }


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(html(404), id="html-404"),
        pytest.param(json_answer({"error": "nope"}, 200), id="no-device-code"),
        pytest.param(
            device_answer(verification_uri="javascript:alert(1)"), id="not-a-web-url"
        ),
    ],
)
async def test_start_rejects_unusable_answers(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock, answer: Answer
) -> None:
    fake.device(answer)
    with pytest.raises(OAuthError) as caught:
        await client(http, fake, clock).start()
    assert caught.value.kind == "server"
    assert fake.base_url.removeprefix("http://") in str(caught.value)


# -- polling (RFC 8628 timings on the fake clock) --------------------------------


async def test_success_after_pending_polls(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    fake.token(
        oauth_error("authorization_pending"), oauth_error("authorization_pending")
    )
    fake.token(tokens(access="at-test-0001", resource_url="portal.qwen.ai"))
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()
    waits: list[float] = []

    token = await oauth.poll(auth, verifier, on_wait=waits.append)

    assert token.access_token == "at-test-0001"
    assert token.refresh_token == "rt-test-0001"
    assert token.expires_in == 21600
    assert token.resource_url == "portal.qwen.ai"
    assert poll_times(fake, clock) == [2, 4, 6]
    assert waits == [2, 2, 2]
    assert "at-test" not in repr(token)


async def test_B24_slow_down_and_429_retry_after(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    fake.device(device_answer(interval=5))
    fake.token(
        oauth_error("authorization_pending"),
        oauth_error("slow_down"),
        json_answer({"error": "temporarily_unavailable"}, 429, {"Retry-After": "12"}),
        tokens(),
    )
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()

    token = await oauth.poll(auth, verifier)

    assert token.access_token == "at-test-0001"
    # First poll one interval after the device answer; slow_down: 10 s from then on;
    # the 429 waits its Retry-After (12 s, more than the interval).
    assert poll_times(fake, clock) == [5, 10, 20, 32]


async def test_B24_missing_interval_uses_2s_and_slow_down_adds_5s_for_good(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    # configuration.md section 6: 2 s when the server gives no interval (the case
    # text's 5 s is RFC 8628's default; our rules follow the CLI's 2 s here).
    fake.token(
        oauth_error("authorization_pending"),
        oauth_error("slow_down", status=429),  # the Qwen server sends it as a 429
        oauth_error("authorization_pending"),
        oauth_error("slow_down"),
        oauth_error("authorization_pending"),
        tokens(),
    )
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()

    await oauth.poll(auth, verifier)

    assert poll_times(fake, clock) == [2, 4, 11, 18, 30, 42]


async def test_B24_retry_after_shorter_than_interval_keeps_interval(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    fake.device(device_answer(interval=5))
    fake.token(html(429, "Too Many Requests"), tokens())
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()

    await oauth.poll(auth, verifier)

    assert poll_times(fake, clock) == [5, 10]


async def test_B25_pending_forever_stops_at_expires_in(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    fake.device(device_answer(interval=5, expires_in=300))
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()

    with pytest.raises(OAuthError) as caught:
        await oauth.poll(auth, verifier)

    assert caught.value.kind == "timeout"
    assert str(caught.value) == "login code expired — start sign-in again"
    times = poll_times(fake, clock)
    assert times[0] == 5 and times[-1] == 295 and len(times) == 59
    assert clock.now - clock.start == 300  # never beyond expires_in


async def test_B25_expiry_counts_from_the_device_answer(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    fake.device(device_answer(interval=5, expires_in=30))
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()
    clock.now += 22  # e.g. the editor took a while to open the browser

    with pytest.raises(OAuthError) as caught:
        await oauth.poll(auth, verifier)

    assert caught.value.kind == "timeout"
    assert poll_times(fake, clock) == [27]
    assert clock.now - clock.start == 30


@pytest.mark.parametrize(
    ("answer", "kind", "message"),
    [
        pytest.param(
            oauth_error("expired_token"),
            "expired",
            "login code expired before it was approved — start sign-in again",
            id="expired_token",
        ),
        pytest.param(
            oauth_error("access_denied"),
            "denied",
            "Qwen OAuth sign-in was declined in the browser; "
            "start sign-in again to retry",
            id="access_denied",
        ),
        pytest.param(
            html(404),
            "server",
            "Qwen OAuth sign-in failed: unexpected response from {host} (HTTP 404) "
            "instead of the JSON an OAuth server sends",
            id="html-404",
        ),
        pytest.param(
            Answer(200, b"<html>proxy login</html>", {"Content-Type": "text/html"}),
            "server",
            "Qwen OAuth sign-in failed: unexpected response from {host} (HTTP 200) "
            "instead of the JSON an OAuth server sends",
            id="html-200",
        ),
        pytest.param(
            oauth_error("invalid_grant", description="bad\ncode"),
            "server",
            "Qwen OAuth sign-in failed (HTTP 400 from {host}): invalid_grant: bad code",
            id="other-oauth-error",
        ),
    ],
)
async def test_B25_terminal_answers_stop_at_once(
    http: httpx.AsyncClient,
    fake: FakeOAuth,
    clock: FakeClock,
    answer: Answer,
    kind: str,
    message: str,
) -> None:
    fake.token(answer)
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()

    with pytest.raises(OAuthError) as caught:
        await oauth.poll(auth, verifier)

    assert caught.value.kind == kind
    assert str(caught.value) == message.format(
        host=fake.base_url.removeprefix("http://")
    )
    assert len(fake.token_requests()) == 1
    assert_no_secret(caught.value)


async def test_poll_survives_two_server_errors_then_stops_at_the_third(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    fake.token(html(502), html(503), tokens())
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()
    assert (await oauth.poll(auth, verifier)).access_token == "at-test-0001"

    fake.token(html(502), html(502), html(502))
    auth, verifier = await oauth.start()
    with pytest.raises(OAuthError) as caught:
        await oauth.poll(auth, verifier)
    assert caught.value.kind == "server"
    assert "(HTTP 502)" in str(caught.value)


async def test_poll_network_failure_is_retried_then_reported(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    oauth = QwenOAuth(http, base, clock=clock, sleep=clock.sleep)
    auth = DeviceAuthorization(
        "dc-test", "A-B", "https://x.test", "https://x.test", 300
    )

    with pytest.raises(OAuthError) as caught:
        await oauth.poll(auth, "verifier")

    assert caught.value.kind == "network"
    assert str(caught.value).startswith(
        f"cannot reach 127.0.0.1:{base.rsplit(':')[-1]}"
    )
    assert clock.sleeps == [2, 2, 2]


async def test_cancel_ends_the_wait_promptly(
    http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    fake.device(device_answer(interval=30))
    oauth = QwenOAuth(http, fake.base_url)  # real clock and sleep
    auth, verifier = await oauth.start()
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, cancel.set)

    started = time.monotonic()
    with pytest.raises(OAuthError) as caught:
        await oauth.poll(auth, verifier, cancel=cancel)

    assert caught.value.kind == "cancelled"
    assert time.monotonic() - started < 1.0
    assert fake.token_requests() == []


async def test_cancel_interrupts_a_request_in_flight(
    http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    fake.device(device_answer(interval=0.01))
    slow = oauth_error("authorization_pending")
    slow.delay = 3.0
    fake.token(slow)
    oauth = QwenOAuth(http, fake.base_url)
    auth, verifier = await oauth.start()
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, cancel.set)

    started = time.monotonic()
    with pytest.raises(OAuthError) as caught:
        await oauth.poll(auth, verifier, cancel=cancel)

    assert caught.value.kind == "cancelled"
    assert time.monotonic() - started < 1.5


async def test_cancel_already_set_sends_nothing(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    oauth = client(http, fake, clock)
    auth, verifier = await oauth.start()
    cancel = asyncio.Event()
    cancel.set()
    with pytest.raises(OAuthError, match="cancelled"):
        await oauth.poll(auth, verifier, cancel=cancel)
    assert fake.token_requests() == []


async def test_task_cancellation_ends_polling(
    http: httpx.AsyncClient, fake: FakeOAuth
) -> None:
    """Shutdown cancels the task; no timer is left running."""
    fake.device(device_answer(interval=30))
    oauth = QwenOAuth(http, fake.base_url)
    auth, verifier = await oauth.start()
    cancel = asyncio.Event()
    task = asyncio.ensure_future(oauth.poll(auth, verifier, cancel=cancel))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftovers == []


# -- refresh ----------------------------------------------------------------------


async def test_refresh_sends_exactly_the_refresh_form(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock
) -> None:
    fake.refresh(tokens(access="at-test-0002", refresh=None, resource_url=None))

    token = await client(http, fake, clock).refresh("rt-test-0001")

    assert token.access_token == "at-test-0002"
    assert token.refresh_token is None and token.resource_url is None
    assert fake.requests[0].form == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-test-0001",
        "client_id": CLIENT_ID,
    }


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        pytest.param(oauth_error("invalid_grant"), "signedOut", id="400"),
        pytest.param(
            json_answer({"error": "unauthorized"}, 401), "signedOut", id="401"
        ),
        pytest.param(html(500), "server", id="500-html"),
        pytest.param(json_answer({"error": "server_error"}, 503), "server", id="503"),
        pytest.param(html(200), "server", id="200-html"),
        pytest.param(
            json_answer({"error": "temporarily_broken"}), "server", id="200-error"
        ),
        pytest.param(
            json_answer({"token_type": "Bearer"}), "server", id="200-no-token"
        ),
        pytest.param(oauth_error("slow_down", 429), "rateLimit", id="429"),
    ],
)
async def test_refresh_failures(
    http: httpx.AsyncClient,
    fake: FakeOAuth,
    clock: FakeClock,
    answer: Answer,
    kind: str,
) -> None:
    fake.refresh(answer)
    with pytest.raises(OAuthError) as caught:
        await client(http, fake, clock).refresh("rt-test-0001")
    assert caught.value.kind == kind
    assert_no_secret(caught.value)
    if kind == "signedOut":
        assert str(caught.value) == "Qwen OAuth sign-in expired; sign in again"


async def test_refresh_network_error(http: httpx.AsyncClient, clock: FakeClock) -> None:
    oauth = QwenOAuth(http, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(OAuthError) as caught:
        await oauth.refresh("rt-test-0001")
    assert caught.value.kind == "network"
    assert "check the network connection and proxy settings" in str(caught.value)
    assert_no_secret(caught.value)


@pytest.mark.parametrize("endpoint", ["device", "refresh"])
async def test_B33_discontinued_tier_is_reported_with_a_way_out(
    http: httpx.AsyncClient, fake: FakeOAuth, clock: FakeClock, endpoint: str
) -> None:
    answer = json_answer(
        {
            "error": "forbidden",
            "error_description": "Qwen OAuth free tier was discontinued on 2026-04-15",
        },
        401,
    )
    oauth = client(http, fake, clock)
    with pytest.raises(OAuthError) as caught:
        if endpoint == "device":
            fake.device(answer)
            await oauth.start()
        else:
            fake.refresh(answer)
            await oauth.refresh("rt-test-0001")
    assert caught.value.kind == "discontinued"
    host = fake.base_url.removeprefix("http://")
    assert str(caught.value) == (
        f"{host} says: forbidden: Qwen OAuth free tier was discontinued on "
        "2026-04-15. The Qwen OAuth free tier has ended; run the qwen.auth command "
        "and choose Coding Plan or an API key instead"
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
