"""Surge's built image, run the way its pod runs it: buildah (deploy/image/buildah: vfs,
chroot isolation) from the image, as the image's user, the root filesystem read-only, /tmp
a fresh tmpfs, files mounted read-only where the Deployment mounts its ConfigMap and Secret.

buildah run has no --read-only (podman does, but cannot start containers in this sandbox:
its runtimes' setrlimit is refused), so the container's root is made read-only as an OCI
runtime does for readOnlyRootFilesystem: mount points are made, then the root is
bind-mounted read-only onto itself before the process starts. /run is a root-owned tmpfs
(mode 755, unwritable for the image's user), because buildah writes and removes its
/run/.containerenv there on every run."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any, Self

from tests.deploy.manifests import ROOT

BUILDAH = ROOT / "deploy" / "image" / "buildah"
BUILD = "deploy/image/build.sh"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SERVER_IMAGE = f"localhost/surge:{VERSION}"


def buildah(*args: str, timeout: float = 120) -> str:
    """buildah's output; a failure raises with its message."""
    done = subprocess.run(
        [str(BUILDAH), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"buildah {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def image_config(image: str) -> dict[str, Any]:
    """The image's OCI inspection, or a failure telling how to build it."""
    done = subprocess.run(
        [str(BUILDAH), "inspect", "--type", "image", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"no image {image} in deploy/image/buildah's storage ({done.stderr.strip()}): "
            f"build it with {BUILD}"
        )
    return json.loads(done.stdout)


class Container:
    """A working container from `image`; `mounts` maps container paths to host files or
    directories, bound read-only."""

    def __init__(self, image: str, mounts: dict[str, Path] | None = None) -> None:
        self.image = image
        self.mounts = mounts or {}
        self.name = ""
        self.root = Path()

    def __enter__(self) -> Self:
        image_config(self.image)
        self.name = buildah("from", "--quiet", "--pull=never", self.image).strip()
        self.root = Path(buildah("mount", self.name).strip())
        self._make_mount_points()
        subprocess.run(["mount", "--bind", str(self.root), str(self.root)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(self.root)], check=True)
        run = ["mount", "-t", "tmpfs", "-o", "mode=755,size=1m", "surge-run", f"{self.root}/run"]
        subprocess.run(run, check=True)
        self._make_mount_points()  # those under /run, now on its tmpfs
        return self

    def __exit__(self, *_: object) -> None:
        subprocess.run(["umount", f"{self.root}/run"], check=False)
        subprocess.run(["umount", str(self.root)], check=False)
        buildah("rm", self.name)

    def _make_mount_points(self) -> None:
        for target, source in self.mounts.items():
            where = self.inside(target)
            if source.is_dir():
                where.mkdir(parents=True, exist_ok=True)
            elif not where.exists():
                where.parent.mkdir(parents=True, exist_ok=True)
                where.touch()

    def inside(self, path: str) -> Path:
        """The host path of the container's `path`, its symlinks resolved in the container
        (/var/run is a link to /run)."""
        current = self.root
        for part in PurePosixPath(path).parts[1:]:
            current = current / part
            if current.is_symlink():
                target = PurePosixPath(os.readlink(current))
                if not target.is_absolute():
                    target = "/" / PurePosixPath(current.parent.relative_to(self.root)) / target
                current = self.inside(str(target))
        return current

    def command(self, *argv: str) -> list[str]:
        """The buildah command line running argv in the container."""
        # buildah resolves no links in a target: it gets the path they lead to.
        volumes = [
            f"--volume={src}:/{self.inside(dst).relative_to(self.root)}:ro"
            for dst, src in self.mounts.items()
        ]
        return [
            str(BUILDAH),
            "run",
            "--mount=type=tmpfs,destination=/tmp",
            *volumes,
            self.name,
            "--",
            *argv,
        ]

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*argv), capture_output=True, text=True, timeout=timeout, check=False
        )
