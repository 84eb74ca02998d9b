#!/usr/bin/env bash
# Build the repository's Dockerfile with buildah on the local base (deploy/image/base.sh),
# tag it surge:<version>, and export it as an OCI archive a user can load elsewhere
# (`skopeo copy oci-archive:dist/surge-<version>.oci.tar docker-daemon:surge:<version>`).
#   deploy/image/build.sh          the server image, surge:<version>
#   deploy/image/build.sh tools    also surge:<version>-tools, with the [tools] extra
# Prints each image's name and size.
set -euo pipefail
usage="usage: deploy/image/build.sh [tools]"
case "$*" in
"" | tools) ;;
-h | --help)
    echo "$usage"
    echo "builds surge:<version> (with 'tools': also surge:<version>-tools) into dist/; deploy/README.md, \"The image\""
    exit 0
    ;;
*)
    echo "build.sh: unknown arguments: $* ($usage)" >&2
    exit 2
    ;;
esac
root="$(cd "$(dirname "$0")/../.." && pwd)"
buildah="$root/deploy/image/buildah"
cd "$root"
version="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
base="$("$root/deploy/image/base.sh")"

# The build reaches PyPI with the host's trust (its CA bundle, for networks that intercept
# TLS) mounted for each RUN; nothing of it is written into a layer.
trust=()
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    trust=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
fi

build() { # tag extras
    echo "build.sh: building $1 on $base" >&2
    local log previous
    log="$(mktemp)"
    # The image the tag names before this build; once the new one has the tag, it is removed
    # by its id, and nothing else: the store may hold the user's own images, tagged or not.
    previous="$("$buildah" images --quiet --no-trunc "$1" 2>/dev/null || true)"
    if ! "$buildah" bud --quiet --layers=false "${trust[@]}" \
        --build-arg PYTHON_IMAGE="$base" --build-arg SURGE_EXTRAS="$2" \
        --tag "$1" --file Dockerfile . >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "build.sh: the build of $1 failed (its last lines above)" >&2
        exit 1
    fi
    rm -f "$log"
    if [[ -n "$previous" ]]; then
        local named
        named="$("$buildah" images --all --no-trunc --format '{{.ID}} {{.Name}}' |
            grep -v ' <none>$' || true)"
        if ! grep -q "^$previous " <<<"$named"; then
            "$buildah" rmi "$previous" >/dev/null 2>&1 || true # in use by a container: kept
        fi
    fi
    mkdir -p dist
    local archive="dist/${1#localhost/}.oci.tar"
    archive="${archive/:/-}"
    rm -f "$archive"
    "$buildah" push --quiet "$1" "oci-archive:$archive:$1"
    printf '%s\t%s\t%s\n' "$1" "$("$buildah" images --format '{{.Size}}' "$1")" "$archive"
}

build "localhost/surge:$version" ""
if [[ "$*" == tools ]]; then
    build "localhost/surge:$version-tools" tools
fi
