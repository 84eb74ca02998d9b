"""A real server: TLS on loopback, kubectl as the client."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import trustme

from apiservice.server import APIServer, build_app
from tests.support import kubeconfig
from tests.unit.conftest import CM, MemoryProvider


@pytest.fixture
async def tls_server(
    provider: MemoryProvider, tmp_path: Path
) -> AsyncIterator[tuple[APIServer, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server = APIServer(build_app(provider, insecure_skip_auth=True), "127.0.0.1", 0, context)
    await server.start()
    try:
        yield server, tmp_path
    finally:
        await server.stop()


async def test_serves_tls(tls_server: tuple[APIServer, Path]) -> None:
    server, directory = tls_server
    trust = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    async with aiohttp.ClientSession() as session:
        url = f"https://127.0.0.1:{server.port}/healthz"
        async with session.get(url, ssl=trust) as response:
            assert (response.status, await response.text()) == (200, "ok")
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(url)  # the system trust store does not know this CA


async def kubectl(directory: Path, port: int, *args: str) -> tuple[int, str, str]:
    config = kubeconfig.write_kubeconfig(
        directory / "kubeconfig",
        f"https://127.0.0.1:{port}",
        ca=directory / "ca.pem",
        # a token only so that kubectl does not prompt; this server does not check it
        user={"token": "unused"},
    )
    env = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(config), "HOME": str(directory)}
    process = await asyncio.create_subprocess_exec(
        "kubectl",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_kubectl_reads_answers_and_errors(tls_server: tuple[APIServer, Path]) -> None:
    server, directory = tls_server

    async def run(*args: str) -> tuple[int, str, str]:
        return await kubectl(directory, server.port, *args)

    code, out, _ = await run(
        "get", "--raw", f"{CM}/v1beta2/namespaces/default/pods/web-1/http_requests"
    )
    assert code == 0 and json.loads(out)["items"][0]["value"] == "1250m"
    code, _, err = await run("get", "--raw", f"{CM}/v1beta2/namespaces/default/pods/web-1/nope")
    assert code == 1
    assert (
        err == "Error from server (NotFound): the server could not find the metric nope for pods\n"
    )
    code, out, _ = await run("api-versions")  # from the group documents
    assert (code, out.split()) == (
        0,
        ["custom.metrics.k8s.io/v1beta1", "external.metrics.k8s.io/v1beta1"],
    )
    code, out, _ = await run("get", "--raw", "/openapi/v2")
    assert code == 0 and json.loads(out)["swagger"] == "2.0"
