"""deploy/image/build.sh in an image store of its own: the new image takes the tag, the image
the tag named before is removed, and nothing else of the store is (the user's images,
tagged or not, are the user's). A real build, about a minute of CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.deploy.container import BUILDAH, SERVER_IMAGE, VERSION
from tests.deploy.manifests import ROOT

# What the Dockerfile's context and the build scripts need (.dockerignore's allowlist).
SOURCES = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")
PACKAGES = ("apiservice", "adapter", "autoscaler", "surge", "bench", "deploy/image")


def _run(env: dict[str, str], *argv: str, timeout: float = 300) -> str:
    """The command's stdout; a failure fails the test with its stderr."""
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr[-3000:]}"
    return done.stdout.strip()


def _buildah(env: dict[str, str], *args: str) -> str:
    return _run(env, str(BUILDAH), *args)


def _image(env: dict[str, str], label: str, *name: str) -> str:
    """A small image of the user's (from scratch), its id."""
    container = _buildah(env, "from", "--quiet", "scratch")
    _buildah(env, "config", "--label", f"owner={label}", container)
    return _buildah(env, "commit", "--quiet", "--rm", container, *name)


def _ids(env: dict[str, str]) -> set[str]:
    listed = _buildah(env, "images", "--all", "--no-trunc", "--format", "{{.ID}}")
    return {line.removeprefix("sha256:") for line in listed.splitlines()}


def test_build_removes_the_image_it_replaced_and_nothing_else(tmp_path: Path) -> None:
    shared = dict(os.environ)
    base = _run(shared, "bash", str(ROOT / "deploy/image/base.sh"), timeout=900)
    _buildah(shared, "push", "--quiet", base, f"oci-archive:{tmp_path / 'base.tar'}:{base}")
    own = {**shared, "SURGE_CONTAINERS": str(tmp_path / "store")}
    _buildah(own, "pull", "--quiet", f"oci-archive:{tmp_path / 'base.tar'}")
    untagged = _image(own, "user")
    tagged = _image(own, "user", "localhost/user:kept")
    previous = _image(own, "surge", SERVER_IMAGE)

    # A copy of the sources, so that the build's archive lands in its own dist/.
    repo = tmp_path / "repo"
    for name in SOURCES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.py[co]")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, repo / name, ignore=ignore)
    _run(own, "bash", str(repo / "deploy/image/build.sh"), timeout=1800)

    built = _buildah(own, "images", "--quiet", "--no-trunc", SERVER_IMAGE).removeprefix("sha256:")
    ids = _ids(own)
    assert built != previous and built in ids
    assert previous not in ids  # the build it replaced
    assert {untagged, tagged} <= ids  # the user's
    assert (repo / "dist" / f"surge-{VERSION}.oci.tar").is_file()
