#!/usr/bin/env bash
# A local stand-in for python:3.11-slim-bookworm, made from Debian's packages because no
# image registry is reachable here: debootstrap minbase bookworm, Debian's Python 3.11, and
# pip, setuptools and wheel installed by pip under /usr/local (as in the official image, so
# the Dockerfile's final stage can uninstall them). Prints the image's name, which is what
# the Dockerfile's PYTHON_IMAGE build argument takes. Cached by its inputs (this script and
# the Debian mirrors): a second run prints the name in a second.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
buildah="$here/buildah"
suite=bookworm

# The Debian mirrors apt uses on this machine (the base's own apt uses them too).
sources="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' \
    'Component: main' 2>/dev/null | grep -E " $suite(-updates|-security)?\$" | sort -u || true)"
if [[ -n "${SURGE_DEBIAN_MIRROR:-}" || -z "$sources" ]]; then
    mirror="${SURGE_DEBIAN_MIRROR:-http://deb.debian.org/debian/}"
    sources="$mirror $suite"
fi
mirror="$(awk -v s="$suite" '$2 == s {print $1; exit}' <<<"$sources")"

key="$(cat "$0" <(echo "$sources") | sha256sum | cut -c1-12)"
name="localhost/surge-python:3.11-$suite-$key"
if [[ -n "$("$buildah" images --quiet --filter "reference=$name" 2>/dev/null)" ]]; then
    echo "$name"
    exit 0
fi
for tool in debootstrap; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed: apt-get install $tool" >&2; exit 1; }
done
echo "base.sh: building $name from $mirror (a minute or two)" >&2

ctr="$("$buildah" from --quiet scratch)"
trap '"$buildah" rm "$ctr" >/dev/null 2>&1 || true' EXIT
root="$("$buildah" mount "$ctr")"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >/dev/null

# What debian:bookworm-slim leaves out (documentation, manuals, translations) stays out of
# every package installed from here on; so does Debian's EXTERNALLY-MANAGED marker, because
# in this image pip, not apt, manages /usr/local (as in python:3.11-slim).
cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/lib/python3*/EXTERNALLY-MANAGED
CFG
cat >"$root/etc/apt/apt.conf.d/slim" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
CFG
rm -f "$root/etc/apt/sources.list"
while read -r uri release; do
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n\n' \
        "$uri" "$release" /usr/share/keyrings/debian-archive-keyring.gpg
done <<<"$sources" >"$root/etc/apt/sources.list.d/debian.sources"
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
rm -rf "$root"/usr/share/{man,info,locale,lintian}/*

"$buildah" run "$ctr" -- sh -euc '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get upgrade -y -qq >/dev/null
    apt-get install -y -qq python3.11 python-is-python3 ca-certificates \
        python3-pip-whl python3-setuptools-whl python3-wheel-whl >/dev/null
    # pip bootstraps itself from its wheel (no network), then the wheels go.
    set -- /usr/share/python-wheels/pip-*.whl
    python3 "$1/pip" install --quiet --no-index \
        --root-user-action=ignore --find-links /usr/share/python-wheels pip setuptools wheel
    apt-get purge -y -qq python3-pip-whl python3-setuptools-whl python3-wheel-whl >/dev/null
    apt-get clean
    rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/* /root/.cache
    python --version && pip --version
' >&2

"$buildah" config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd python3 \
    --label org.opencontainers.image.description="Debian $suite minbase with Python 3.11, made by deploy/image/base.sh" \
    --label surge.base.key="$key" \
    "$ctr"
"$buildah" commit --quiet --rm "$ctr" "$name" >/dev/null
trap - EXIT
# Earlier bases (other inputs) only take space.
"$buildah" images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/surge-python:' |
    grep -vx "$name" | xargs -r "$buildah" rmi >/dev/null 2>&1 || true
echo "$name"
