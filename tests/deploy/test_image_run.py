"""The image as an image: what deploy/image/build.sh built from the repository's Dockerfile
(on the Debian base of deploy/image/base.sh), run with buildah as its pod runs it.

The build runs outside pytest (.ci/run, the README's test command); a missing or stale
image fails here with the command that builds it."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from surge.demo.data import write_objects_yaml
from surge.demo.localprom import free_port
from tests.deploy.container import (
    BUILD,
    SERVER_IMAGE,
    VERSION,
    Container,
    image_config,
)
from tests.deploy.manifests import DEPLOY, ROOT
from tests.deploy.test_image import FIRST_PARTY
from tests.support.oracle import ConstantData

SITE = "opt/surge/lib/python3.11/site-packages"
# Bytes of files in the image (332 MB measured): deploy/README.md, "The image", says why.
SIZE_BUDGET = 355_000_000


@pytest.fixture(scope="module")
def server() -> Iterator[Container]:
    """One read-only container from the server image for the checks that only look."""
    with Container(SERVER_IMAGE) as container:
        yield container


def test_image_holds_this_checkout(server: Container) -> None:
    """Every first-party module in the image is the work tree's: a stale image fails."""
    site = server.root / SITE
    stale = [
        str(path.relative_to(ROOT))
        for package in FIRST_PARTY
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
        and (
            not (site / path.relative_to(ROOT)).is_file()
            or (site / path.relative_to(ROOT)).read_bytes() != path.read_bytes()
        )
    ]
    assert not stale, f"the image is older than {stale[:5]}...: run {BUILD}"


def test_config_runs_surge_serve_as_65532_from_tmp() -> None:
    config = image_config(SERVER_IMAGE)["OCIv1"]["config"]
    assert config["Entrypoint"] == ["/opt/surge/bin/surge", "serve"]
    assert config["User"] == "65532:65532" and config["WorkingDir"] == "/tmp"
    assert "6443/tcp" in config["ExposedPorts"]


def test_version_and_user(server: Container) -> None:
    done = server.run("/opt/surge/bin/surge", "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"surge {VERSION}"), done.stderr
    probe = (
        "id -u; id -g; touch /opt/x 2>&1; "
        "for d in / /etc /opt/surge /usr /var/tmp /run /run/lock /nonexistent /tmp; do "
        "touch $d/probe 2>/dev/null && echo $d; done"
    )
    done = server.run("sh", "-c", probe)
    assert done.stdout.splitlines() == [
        "65532",
        "65532",
        "touch: cannot touch '/opt/x': Read-only file system",
        "/tmp",  # the only writable place
    ], done.stderr


def test_no_build_tools_or_package_caches(server: Container) -> None:
    """The final image runs Surge and installs nothing: no pip, setuptools or wheel (not even
    ensurepip's bundled wheels), no compiler or make, no apt or pip caches."""
    root = server.root
    found = [
        str(path.relative_to(root))
        for pattern in (
            "usr/lib/python3*/*-packages/pip*",
            "usr/local/lib/python3*/*-packages/pip*",
            "usr/local/lib/python3*/*-packages/setuptools*",
            "usr/local/lib/python3*/*-packages/wheel*",
            "usr/lib/python3*/*-packages/setuptools*",
            f"{SITE}/pip*",
            f"{SITE}/setuptools*",
            f"{SITE}/wheel*",
            "usr/lib/python3*/ensurepip",
            "usr/share/python-wheels/*",
            "**/*.whl",
            "usr/local/bin/pip*",
            "usr/bin/pip*",
            "opt/surge/bin/pip*",
            "usr/bin/*gcc*",
            "usr/bin/cc",
            "usr/bin/c++",
            "usr/bin/ld",
            "usr/bin/make",
            "usr/bin/as",
            "usr/include/python3*",
            "var/cache/apt/archives/*.deb",
            "var/lib/apt/lists/*_Packages*",
            "root/.cache",
            "tmp/*",
            "src",
            "wheels",
            "etc/pip.conf",
        )
        for path in root.glob(pattern)
    ]
    assert not found, f"build tools or caches in the image: {found}"
    # The virtualenv is compiled ahead (the root is read-only at run time).
    assert list((root / SITE / "surge").glob("__pycache__/cli.cpython-311.pyc"))


def test_server_image_goes_without_the_tools_extra(server: Container) -> None:
    site = server.root / SITE
    assert (site / "aiohttp").is_dir() and (site / "rich").is_dir()
    assert not [p.name for p in site.iterdir() if p.name.startswith(("matplotlib", "scipy"))]
    done = server.run(
        "/opt/surge/bin/surge", "simulate", "--scenario", "seed-workday", "--plot", "day.png"
    )
    assert done.returncode == 1 and not done.stdout
    # one line from surge (buildah adds its own about the exit status)
    assert done.stderr.splitlines()[0] == (
        "surge simulate: --plot needs matplotlib, not installed: the [tools] extra, "
        "pip install '.[tools]' in Surge's source"
    )


def test_size_stays_in_budget(server: Container) -> None:
    """The budget (deploy/README.md, "The image") holds the measured size with room for
    patch releases of the dependencies, not for a new heavy one or a build tool."""
    size = sum(
        os.lstat(os.path.join(directory, name)).st_size
        for directory, _, names in os.walk(server.root)
        for name in names
        if not os.path.islink(os.path.join(directory, name))
    )
    assert size <= SIZE_BUDGET, f"the image holds {size / 1e6:.0f} MB of files, over budget"
    assert f"budget of {SIZE_BUDGET // 1_000_000} MB" in (DEPLOY / "README.md").read_text()


def test_oci_archive_is_the_image() -> None:
    """The exported archive loads elsewhere as the same image (same config digest)."""
    archive = ROOT / "dist" / f"surge-{VERSION}.oci.tar"
    assert archive.is_file(), f"no {archive.relative_to(ROOT)}: run {BUILD}"
    done = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci-archive:{archive}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["config"]["digest"] == "sha256:" + image_config(SERVER_IMAGE)["FromImageID"]


# --- surge serve, as the Deployment runs it -----------------------------------------------


def _get(url: str, ctx: ssl.SSLContext) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _descendant(pid: int, name: str) -> int:
    """The pid of the process named `name` under `pid` (buildah run's child)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            cmdline = (Path("/proc") / str(current) / "cmdline").read_bytes()
        except OSError:
            continue
        if name.encode() in cmdline and b"buildah" not in cmdline:
            return current
        todo.extend(children.get(current, []))
    raise AssertionError(f"no {name} process under {pid}")


def _uid(pid: int) -> int:
    status = (Path("/proc") / str(pid) / "status").read_text()
    return int(status.split("\nUid:")[1].split()[0])


def test_serve_answers_over_tls_as_non_root_on_a_read_only_root(
    tmp_path: Path, prometheus_constant: ConstantData
) -> None:
    """The Deployment's flags and mounts (rules at /etc/surge, the serving pair at
    /var/run/surge/serving-cert), a Prometheus on the host's loopback, a custom metric
    answered over TLS that the client verifies."""
    ca = trustme.CA()
    pair = ca.issue_cert("127.0.0.1", "localhost")
    certs = tmp_path / "serving-cert"
    certs.mkdir()
    pair.cert_chain_pems[0].write_to_path(certs / "tls.crt")
    pair.private_key_pem.write_to_path(certs / "tls.key")
    for path in (certs, certs / "tls.crt", certs / "tls.key"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the pod's Secret: readable by 65532
    objects = tmp_path / "objects.yaml"
    write_objects_yaml(objects, prometheus_constant.pods)
    objects.chmod(0o644)
    port = free_port()
    mounts = {
        "/etc/surge/config.yaml": DEPLOY / "config" / "seed-rules.yaml",
        "/etc/surge/objects.yaml": objects,
        "/var/run/surge/serving-cert": certs,
    }
    entrypoint = image_config(SERVER_IMAGE)["OCIv1"]["config"]["Entrypoint"]
    log = tmp_path / "surge.log"
    with Container(SERVER_IMAGE, mounts) as container:
        command = container.command(
            *entrypoint,
            "--config=/etc/surge/config.yaml",
            f"--prometheus-url={prometheus_constant.url}",
            "--objects=/etc/surge/objects.yaml",
            "--insecure-skip-auth",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--tls-cert-file=/var/run/surge/serving-cert/tls.crt",
            "--tls-private-key-file=/var/run/surge/serving-cert/tls.key",
            "--metrics-max-age=6h",
            "--log-format=json",
        )
        with log.open("wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            ctx = ssl.create_default_context()
            ca.configure_trust(ctx)
            url = f"https://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            ready = (0, "")
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    ready = _get(f"{url}/readyz", ctx)
                except OSError:
                    ready = (0, "")
                if ready[0] == 200:
                    break
                time.sleep(0.5)
            assert ready == (200, "ok"), f"{ready}\n{log.read_text()}"
            surge = _descendant(process.pid, "/opt/surge/bin/surge")
            assert _uid(surge) == 65532
            code, body = _get(
                f"{url}/apis/custom.metrics.k8s.io/v1beta2/namespaces/"
                f"{prometheus_constant.namespace}/pods/*/http_requests_waiting"
                "?labelSelector=app%3Dai-service",
                ctx,
            )
            assert code == 200, body
            values = {
                item["describedObject"]["name"]: item["value"] for item in json.loads(body)["items"]
            }
            assert set(values) == set(prometheus_constant.pods)
            for pod, value in values.items():
                expected = prometheus_constant.waiting(pod)
                assert float(value.removesuffix("m")) / (1000 if "m" in value else 1) == (
                    pytest.approx(expected)
                )
            # The kubelet's SIGTERM goes to the entrypoint (buildah would SIGKILL it).
            os.kill(surge, signal.SIGTERM)
            assert process.wait(timeout=60) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=60)
