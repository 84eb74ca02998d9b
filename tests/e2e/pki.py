"""The throwaway control plane's certificates, made fresh for each session.

Two CAs, as kubeadm lays them out: the cluster CA signs the API server's serving
certificate, the users' client certificates and Surge's serving certificate (so the
APIServices' caBundle is the cluster CA); the front-proxy CA signs only the aggregator's
client certificate, which is how Surge tells the aggregator from a user. The service-account
key pair signs and verifies the tokens of TokenRequest. For KEDA (tests/e2e/keda), the
cluster CA also signs the certificate its operator and metrics server share (gRPC between
them, HTTPS to the aggregator), and a third CA the client certificate KEDA presents to
Surge's scaler.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"
FRONT_PROXY_CLIENT = "front-proxy-client"


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class PKI:
    ca: Pair
    front_proxy_ca: Pair
    apiserver: Pair
    admin: Pair
    nobody: Pair
    front_proxy_client: Pair
    surge: Pair
    service_account_key: Path
    service_account_pub: Path
    keda: Pair
    scaler_client_ca: Pair
    keda_scaler_client: Pair


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> Pair:
    key_path = path.with_suffix(".key")
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path = path.with_suffix(".crt")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Pair(cert_path, key_path)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


class _CA:
    def __init__(self, directory: Path, name: str) -> None:
        self.key = _key()
        self.name = _name(name)
        self.cert = (
            _builder(self.name, self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pair = _write(directory / name, self.key, self.cert)

    def issue(
        self,
        path: Path,
        subject: x509.Name,
        *,
        server_names: tuple[str, ...] = (),
        client: bool = False,
    ) -> Pair:
        """A leaf: a client certificate, or a server one for `server_names` (also a client
        one when `client` is set too)."""
        key = _key()
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        if server_names or not client:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (
            _builder(subject, self.name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if server_names:
            alt: list[x509.GeneralName] = []
            for host in server_names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    alt.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        return _write(path, key, builder.sign(self.key, hashes.SHA256()))


def make_pki(directory: Path, surge_service: tuple[str, str]) -> PKI:
    """All certificates into `directory`. Surge's serving certificate names
    `<service>.<namespace>.svc`, the server name the aggregator verifies (handler_proxy.go)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _CA(directory, "ca")
    front_proxy_ca = _CA(directory, "front-proxy-ca")
    service, namespace = surge_service
    sa_key = _key()
    sa_key_path = directory / "sa.key"
    sa_key_path.write_bytes(
        sa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    sa_key_path.chmod(0o600)
    scaler_client_ca = _CA(directory, "scaler-client-ca")
    sa_pub_path = directory / "sa.pub"
    sa_pub_path.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return PKI(
        ca=ca.pair,
        front_proxy_ca=front_proxy_ca.pair,
        apiserver=ca.issue(
            directory / "apiserver",
            _name("kube-apiserver"),
            server_names=(LOOPBACK, "localhost", "kubernetes.default.svc"),
        ),
        admin=ca.issue(directory / "admin", _name("e2e-admin", "system:masters"), client=True),
        nobody=ca.issue(directory / "nobody", _name("e2e-nobody"), client=True),
        front_proxy_client=front_proxy_ca.issue(
            directory / FRONT_PROXY_CLIENT, _name(FRONT_PROXY_CLIENT), client=True
        ),
        surge=ca.issue(
            directory / "surge",
            _name("surge"),
            server_names=(f"{service}.{namespace}.svc", "localhost", LOOPBACK),
        ),
        service_account_key=sa_key_path,
        service_account_pub=sa_pub_path,
        keda=ca.issue(
            directory / "keda",
            _name("keda"),
            server_names=(
                "keda-operator.keda.svc",
                "keda-metrics-apiserver.keda.svc",
                "localhost",
                LOOPBACK,
            ),
            client=True,
        ),
        scaler_client_ca=scaler_client_ca.pair,
        keda_scaler_client=scaler_client_ca.issue(
            directory / "keda-scaler-client", _name("keda-operator"), client=True
        ),
    )
