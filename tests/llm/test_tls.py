"""TLS: verification always on, extra CAs from the environment (B50). Certificates
come from a throwaway CA made with the openssl command line tool."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_ls.llm import ChatClient, ConfigError, NetworkError
from tests.fakes.openai_server import FakeOpenAI, text_stream

from .conftest import chat_request, run

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ca.pem`` and a ``server.pem``/``server.key`` for 127.0.0.1 signed by it."""
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=qwen-ls test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1",
        cwd=d,
    )  # fmt: skip
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
        cwd=d,
    )  # fmt: skip
    return d


@pytest.fixture
def tls_fake(certs: Path) -> Iterator[FakeOpenAI]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "server.pem", certs / "server.key")
    with FakeOpenAI(ssl_context=context) as server:
        yield server


async def test_B50_unknown_ca_fails_fast_with_a_hint(tls_fake: FakeOpenAI) -> None:
    client = ChatClient(environ={}, retry_base_delay=0.01)

    result = await run(client, chat_request(tls_fake.chat_url))
    await client.aclose()

    assert isinstance(result.error, NetworkError)
    assert str(result.error) == (
        f"TLS verification failed for 127.0.0.1:{tls_fake.port}: unable to get local "
        "issuer certificate; if a proxy or firewall inspects TLS, set SSL_CERT_FILE to "
        "a CA bundle that includes its root certificate"
    )
    assert result.retries == []


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
async def test_B50_ca_file_from_the_environment(
    tls_fake: FakeOpenAI, certs: Path, variable: str
) -> None:
    tls_fake.script(text_stream("secure"))
    client = ChatClient(environ={variable: str(certs / "ca.pem")})

    result = await run(client, chat_request(tls_fake.chat_url))
    await client.aclose()

    assert result.error is None
    assert result.text == "secure"


async def test_B50_ca_directory_from_the_environment(
    tls_fake: FakeOpenAI, certs: Path, tmp_path: Path
) -> None:
    shutil.copy(certs / "ca.pem", tmp_path / "ca.pem")
    _openssl("rehash", str(tmp_path), cwd=tmp_path)
    client = ChatClient(environ={"SSL_CERT_DIR": str(tmp_path)})

    result = await run(client, chat_request(tls_fake.chat_url))
    await client.aclose()

    assert result.error is None


async def test_B50_extra_ca_keeps_the_public_roots(certs: Path) -> None:
    from qwen_ls.llm.transport import ssl_context

    context = ssl_context({"SSL_CERT_FILE": str(certs / "ca.pem")})

    assert len(context.get_ca_certs()) > 100
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"SSL_CERT_FILE": "/nonexistent/ca.pem"},
            "SSL_CERT_FILE=/nonexistent/ca.pem cannot be used as a CA bundle: "
            "No such file or directory",
            id="missing-file",
        ),
        pytest.param(
            {"SSL_CERT_DIR": "/nonexistent/certs"},
            "SSL_CERT_DIR=/nonexistent/certs is not a directory",
            id="missing-dir",
        ),
    ],
)
async def test_B50_unusable_ca_setting_is_a_config_error(
    tls_fake: FakeOpenAI, environ: dict[str, str], message: str
) -> None:
    client = ChatClient(environ=environ)

    result = await run(client, chat_request(tls_fake.chat_url))

    assert isinstance(result.error, ConfigError)
    assert str(result.error) == message
    assert tls_fake.requests == []


async def test_B50_bad_ca_file_content_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    client = ChatClient(environ={"SSL_CERT_FILE": str(bad)})

    result = await run(client, chat_request("https://127.0.0.1:1/v1/chat/completions"))

    assert isinstance(result.error, ConfigError)
    assert str(result.error).startswith(
        f"SSL_CERT_FILE={bad} cannot be used as a CA bundle"
    )


async def test_https_to_a_plain_http_server(fake: FakeOpenAI) -> None:
    client = ChatClient(environ={})
    url = f"https://127.0.0.1:{fake.port}/v1/chat/completions"

    result = await run(client, chat_request(url))
    await client.aclose()

    assert isinstance(result.error, NetworkError)
    assert str(result.error) == (
        f"TLS handshake with 127.0.0.1:{fake.port} failed: WRONG_VERSION_NUMBER; "
        "the server may speak plain http://, not https://"
    )
