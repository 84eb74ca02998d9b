# syntax=docker/dockerfile:1
# Surge's image: `surge serve` on a slim Python, as a non-root user, with a read-only root
# filesystem in mind (deploy/base/deployment.yaml mounts /tmp). Build from the repository root:
#   docker build -t surge:dev .
# No HEALTHCHECK: Kubernetes probes /livez and /readyz itself (deploy/base/deployment.yaml).

# One pinned base for both stages: the virtualenv built in the first is valid in the second
# only with the same Python at the same path.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Extras to install beside the server, e.g. `--build-arg SURGE_EXTRAS=tools` for an image
# that also plots and fits (surge simulate, surge capacity fit); the server needs none.
ARG SURGE_EXTRAS=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# .dockerignore lets in only what the wheel is built from.
COPY . .
# The wheel, then a virtualenv without pip holding it and its dependencies (all published
# as binary wheels: no compiler needed). pip compiles the bytecode here, because the root
# filesystem is read-only at run time.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/surge \
 && wheel="$(echo /wheels/surge-*.whl)" \
 && pip --python /opt/surge/bin/python install --only-binary=:all: \
      "$wheel${SURGE_EXTRAS:+[$SURGE_EXTRAS]}"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="surge" \
      org.opencontainers.image.description="Custom and external metrics API for Kubernetes autoscaling, from Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0"
# pip, setuptools and wheel are build tools: the final image runs Surge, it installs nothing.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
 && groupadd --system --gid 65532 surge \
 && useradd --system --uid 65532 --gid surge --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin surge
COPY --from=build /opt/surge /opt/surge
ENV PATH=/opt/surge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Relative paths (the default --cert-dir) land in /tmp, the pod's writable emptyDir.
WORKDIR /tmp
USER 65532:65532
EXPOSE 6443
ENTRYPOINT ["/opt/surge/bin/surge", "serve"]
