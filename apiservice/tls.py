"""The serving TLS configuration: versions, Go cipher names, certificates that rotate.

Python fixes a listener's SSLContext when the socket opens, so the listener gets a base
context whose SNI callback (OpenSSL calls it on every handshake, with or without SNI)
hands the handshake the current context. Rotating the serving pair (cert-manager renews
it in place) or the trusted client CAs (the cluster's ConfigMap changes) builds a new
context for new handshakes; connections already open keep theirs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TLS_VERSIONS = {"VersionTLS12": ssl.TLSVersion.TLSv1_2, "VersionTLS13": ssl.TLSVersion.TLSv1_3}

# Kubernetes takes Go's crypto/tls names; OpenSSL has its own for the same suites.
GO_CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
}
# TLS 1.3 suites are accepted and, as in Go, not configurable: TLS 1.3 always offers them.
GO_TLS13_SUITES = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)


class TLSConfigError(ValueError):
    """A TLS setting that cannot be used; the message is one line naming it."""


def openssl_ciphers(go_names: Sequence[str]) -> str | None:
    """The OpenSSL cipher string for Kubernetes' --tls-cipher-suites; None keeps the defaults."""
    if not go_names:
        return None
    chosen: list[str] = []
    for name in go_names:
        if name in GO_TLS13_SUITES:
            continue
        openssl = GO_CIPHER_SUITES.get(name)
        if openssl is None:
            raise TLSConfigError(f"unsupported cipher suite {name!r}")
        if openssl not in chosen:
            chosen.append(openssl)
    return ":".join(chosen) if chosen else None


def min_version(name: str) -> ssl.TLSVersion:
    try:
        return TLS_VERSIONS[name]
    except KeyError:
        allowed = ", ".join(TLS_VERSIONS)
        raise TLSConfigError(f"unsupported TLS version {name!r} (one of {allowed})") from None


@dataclass(frozen=True)
class TLSOptions:
    cert_file: Path
    key_file: Path
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    ciphers: str | None = None  # OpenSSL names; None: OpenSSL's defaults
    request_client_certs: bool = False


def _file_state(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)  # follows the ..data symlink a mounted Secret swaps
    return st.st_ino, st.st_size, st.st_mtime_ns


class ServingTLS:
    """The listener's context and the one it hands each handshake.

    `client_ca_pem` is every CA a client certificate may chain to (user and front-proxy
    CAs together: which one signed a certificate is decided later, per request).
    """

    def __init__(self, options: TLSOptions, client_ca_pem: bytes = b"") -> None:
        self.options = options
        self._client_ca_pem = client_ca_pem
        self._current = self._build()  # first: a missing file is a TLSConfigError
        self._files = self._states()
        self.context = self._build()
        self.context.sni_callback = self._choose

    def _states(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        return _file_state(self.options.cert_file), _file_state(self.options.key_file)

    def _build(self) -> ssl.SSLContext:
        opts = self.options
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = opts.min_version
        if opts.ciphers is not None:
            try:
                ctx.set_ciphers(opts.ciphers)
            except ssl.SSLError:
                raise TLSConfigError(
                    f"none of the cipher suites ({opts.ciphers}) is available in this OpenSSL"
                ) from None
        try:
            ctx.load_cert_chain(opts.cert_file, opts.key_file)
        except (OSError, ssl.SSLError) as err:
            raise TLSConfigError(
                f"cannot load the serving certificate {opts.cert_file}: {err}"
            ) from None
        if opts.request_client_certs:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            if self._client_ca_pem.strip():
                ctx.load_verify_locations(cadata=self._client_ca_pem.decode("ascii", "replace"))
        return ctx

    def _choose(self, conn: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        conn.context = self._current

    def set_client_cas(self, pem: bytes) -> None:
        """Trust these client CAs from the next handshake on; keep the old ones if unusable."""
        if pem == self._client_ca_pem:
            return
        previous, self._client_ca_pem = self._client_ca_pem, pem
        try:
            self._current = self._build()
        except (TLSConfigError, ssl.SSLError, ValueError) as err:
            self._client_ca_pem = previous
            log.error("client CAs not updated, keeping the previous ones: %s", err)

    def reload_if_changed(self) -> bool:
        """Load the serving pair again if either file changed; a broken pair is skipped
        (and retried on the next call) so a half-written renewal never stops serving."""
        try:
            states = self._states()
        except OSError as err:
            log.error("serving certificate files unreadable, keeping the loaded pair: %s", err)
            return False
        if states == self._files:
            return False
        try:
            context = self._build()
        except TLSConfigError as err:
            log.error("serving certificate not reloaded, keeping the loaded pair: %s", err)
            return False
        self._current, self._files = context, states
        log.info("serving certificate reloaded from %s", self.options.cert_file)
        return True

    async def watch(self, interval_s: float = 1.0) -> None:
        """Poll the files (a stat each) until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            self.reload_if_changed()
