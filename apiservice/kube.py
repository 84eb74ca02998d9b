"""Raw JSON calls to the Kubernetes API, through kubernetes-asyncio's ApiClient (its
kubeconfig or in-cluster credentials and TLS): the one client behind the object index,
the reviews of delegated auth, and `surge explain`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import yaml
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from apiservice.errors import APIError, ServiceUnavailable

JSON = "application/json"
# kubernetes-asyncio's read buffer: a watch event may be as large as an etcd request (1.5 MiB).
_READ_BUFSIZE = 2**21


class KubeconfigError(Exception):
    """A kubeconfig (or the in-cluster configuration) that cannot be used: one line."""


def _kubeconfig_problem(path: str) -> str | None:
    """What is wrong with the file at `path` before kubernetes-asyncio reads it (it
    answers a missing, empty or non-mapping file with a confusing message)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as err:
        return f"{path}: {err.strerror}"
    except UnicodeDecodeError:
        return f"{path}: not a kubeconfig: not UTF-8 text"
    except yaml.YAMLError as err:
        return f"{path}: not a kubeconfig: invalid YAML: {str(err).splitlines()[0]}"
    if not isinstance(doc, dict) or not doc.get("clusters"):
        return f"{path}: not a kubeconfig: no clusters in it"
    return None


async def load_client(kubeconfig: str | None) -> Any:
    """A kubernetes-asyncio ApiClient from `kubeconfig`, or in-cluster when None; raise
    KubeconfigError naming the file (or the in-cluster configuration) and the problem."""
    from kubernetes_asyncio import config as kube_config
    from kubernetes_asyncio.client import ApiClient, Configuration

    if kubeconfig:
        problem = await asyncio.to_thread(_kubeconfig_problem, kubeconfig)
        if problem is not None:
            raise KubeconfigError(problem)
    try:
        if kubeconfig:
            client = await kube_config.new_client_from_config(config_file=kubeconfig)
        else:
            configuration = Configuration()
            kube_config.load_incluster_config(client_configuration=configuration)
            client = ApiClient(configuration=configuration)
    except Exception as err:  # kubernetes-asyncio's ConfigException, KeyError, TypeError...
        where = kubeconfig or "the in-cluster configuration"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise KubeconfigError(f"{where}: {first}") from None
    await _environment_read_once(client)
    return client


async def _environment_read_once(client: Any) -> None:
    """kubernetes-asyncio opens its session with `trust_env`, so aiohttp reads ~/.netrc and
    the proxy environment again on every request, in threads: about 1 ms of CPU per
    SubjectAccessReview. The proxy environment is read once here instead (HTTPS_PROXY and
    NO_PROXY, honoured as client-go honours them; a kubeconfig's proxy-url wins), and the
    session's connector moves to a session that reads nothing per request."""
    rest = client.rest_client
    if not rest.proxy:
        try:
            url = URL(client.configuration.host)
            proxy, auth = await asyncio.to_thread(get_env_proxy_for_url, url)
        except (LookupError, ValueError):
            pass
        else:
            rest.proxy = str(proxy)
            if auth is not None:
                rest.proxy_headers = {
                    **(rest.proxy_headers or {}),
                    "Proxy-Authorization": auth.encode(),
                }
    old = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(connector=old.connector, read_bufsize=_READ_BUFSIZE)
    old.detach()


class KubeUnreachable(ServiceUnavailable):
    """No answer from the Kubernetes API (refused, reset, timed out)."""


class KubeAPIError(APIError):
    """An error answer from the Kubernetes API: its own message, and its status as `code`."""

    def __init__(self, status: int, message: str, path: str) -> None:
        super().__init__(message)
        self.code = status
        self.path = path


def _why(err: Exception) -> str:
    """An exception in one line: its text, or its type when it has none (timeouts)."""
    text = str(err).splitlines()[0] if str(err) else ""
    return text or type(err).__name__


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class KubeClient:
    def __init__(self, api_client: Any, timeout_s: float = 30.0) -> None:
        self.client = api_client
        self.timeout_s = timeout_s

    async def _open(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        accept: str,
        limit_s: float | None,
    ) -> Any:
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = JSON
        try:
            return await self.client.call_api(
                path,
                method,
                query_params=list((params or {}).items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=limit_s or self.timeout_s,
            )
        except Exception as err:  # aiohttp's errors, timeouts, refused connections
            raise KubeUnreachable(f"Kubernetes API unreachable ({path}): {_why(err)}") from None

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        accept: str = JSON,
    ) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body or None), whatever the status."""
        resp = await self._open(method, path, params, body, accept, None)
        try:
            raw = await resp.read()
        except Exception as err:
            raise KubeUnreachable(f"Kubernetes API unreachable ({path}): {_why(err)}") from None
        finally:
            resp.release()
        return resp.status, _decode(raw)

    async def get(
        self, path: str, params: Mapping[str, str] | None = None, accept: str = JSON
    ) -> Any:
        """The decoded body of a 2xx answer; an error answer raises KubeAPIError."""
        status, body = await self.request("GET", path, params, accept=accept)
        _check(status, path, body)
        if body is None:
            raise KubeAPIError(status, f"Kubernetes API sent no JSON for {path}", path)
        return body

    async def watch(
        self, path: str, params: Mapping[str, str], accept: str = JSON
    ) -> AsyncIterator[Any]:
        """Watch events until the server ends the stream; an error answer raises."""
        limit_s = float(params.get("timeoutSeconds", "300")) + 30
        resp = await self._open("GET", path, {**params, "watch": "true"}, None, accept, limit_s)
        try:
            if not 200 <= resp.status < 300:
                _check(resp.status, path, _decode(await resp.read()))
            while True:
                line = await resp.content.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            resp.release()

    async def close(self) -> None:
        await self.client.close()


def _check(status: int, path: str, body: Any) -> None:
    if 200 <= status < 300:
        return
    message = body.get("message", "") if isinstance(body, dict) else ""
    raise KubeAPIError(status, message or f"Kubernetes API answered {status} for {path}", path)
