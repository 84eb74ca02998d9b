"""The serving TLS settings on a real listener: the version floor, Go cipher names, and a
pair reloaded when its files change (a broken one is skipped)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme

from apiservice.tls import ServingTLS, TLSConfigError, TLSOptions, openssl_ciphers

Handshake = Callable[[ssl.SSLContext], Awaitable[tuple[str, str]]]


def _pair(directory: Path, ca: trustme.CA) -> tuple[Path, Path]:
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = directory / "tls.crt", directory / "tls.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def listen(
    ca: trustme.CA, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[tuple[ServingTLS, Handshake]]]]:
    servers: list[asyncio.Server] = []

    async def start(**options: object) -> tuple[ServingTLS, Handshake]:
        cert, key = _pair(tmp_path, ca)
        tls = ServingTLS(TLSOptions(cert, key, **options))  # type: ignore[arg-type]

        async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=tls.context)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]

        async def handshake(client: ssl.SSLContext) -> tuple[str, str]:
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
            tls_object = writer.get_extra_info("ssl_object")
            version, cipher = tls_object.version(), tls_object.cipher()[0]
            writer.close()
            return version, cipher

        return tls, handshake

    yield start
    for server in servers:
        server.close()


REFUSED = (ssl.SSLError, ConnectionError)


def _client(
    ca: trustme.CA,
    *,
    lowest: ssl.TLSVersion | None = None,
    highest: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if lowest is not None:
        ctx.minimum_version = lowest
    if highest is not None:
        ctx.maximum_version = highest
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def test_go_cipher_names() -> None:
    assert openssl_ciphers([]) is None
    assert openssl_ciphers(
        ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"]
    ) == ("ECDHE-ECDSA-AES256-GCM-SHA384")
    assert openssl_ciphers(["TLS_AES_128_GCM_SHA256"]) is None  # TLS 1.3: not configurable
    with pytest.raises(TLSConfigError, match="unsupported cipher suite 'TLS_FOO'"):
        openssl_ciphers(["TLS_FOO"])


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
async def test_tls_12_is_the_floor(
    listen: Callable[..., Awaitable[tuple[ServingTLS, Handshake]]], ca: trustme.CA
) -> None:
    _, handshake = await listen()
    assert (await handshake(_client(ca)))[0] == "TLSv1.3"
    old = _client(ca, lowest=ssl.TLSVersion.TLSv1, highest=ssl.TLSVersion.TLSv1_1)
    with pytest.raises(REFUSED):
        await handshake(old)


async def test_tls_13_only(
    listen: Callable[..., Awaitable[tuple[ServingTLS, Handshake]]], ca: trustme.CA
) -> None:
    _, handshake = await listen(min_version=ssl.TLSVersion.TLSv1_3)
    with pytest.raises(REFUSED):
        await handshake(_client(ca, highest=ssl.TLSVersion.TLSv1_2))


async def test_cipher_suites_are_enforced(
    listen: Callable[..., Awaitable[tuple[ServingTLS, Handshake]]], ca: trustme.CA
) -> None:
    chosen = openssl_ciphers(["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"])
    _, handshake = await listen(ciphers=chosen)
    tls12 = ssl.TLSVersion.TLSv1_2
    assert await handshake(_client(ca, highest=tls12, ciphers="ECDHE-ECDSA-AES256-GCM-SHA384")) == (
        "TLSv1.2",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    )
    with pytest.raises(REFUSED):
        await handshake(_client(ca, highest=tls12, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))


def test_a_missing_pair_is_a_configuration_error(tmp_path: Path) -> None:
    """surge serve turns it into a one-line usage error, not a traceback."""
    with pytest.raises(TLSConfigError, match=r"cannot load the serving certificate .*tls\.crt"):
        ServingTLS(TLSOptions(tmp_path / "tls.crt", tmp_path / "tls.key"))


async def test_pair_reloads_and_a_broken_one_is_skipped(
    listen: Callable[..., Awaitable[tuple[ServingTLS, Handshake]]], ca: trustme.CA, tmp_path: Path
) -> None:
    tls, handshake = await listen()
    assert not tls.reload_if_changed()  # nothing changed
    other = trustme.CA()
    (tmp_path / "tls.crt").write_text("garbage")
    assert not tls.reload_if_changed()
    await handshake(_client(ca))  # still the first pair
    _pair(tmp_path, other)
    assert tls.reload_if_changed()
    await handshake(_client(other))
    with pytest.raises(REFUSED):
        await handshake(_client(ca))
