#!/usr/bin/env bash
# Builds the ecosystem tools the tests drive (helm; KEDA's operator and metrics server) with
# the machine's Go from the Go module proxy, through the pinned wrapper modules in
# tests/e2e/tools/<tool>/, once per pinned version, into a cache outside the work tree.
# tests/e2e/build.sh calls it after the control plane, so .ci/run and the README's test
# command build everything before pytest; the tests never build.
#
#   tests/e2e/build_tools.sh [TOOL...]   build each TOOL (default: all) unless cached
#   tests/e2e/build_tools.sh --bin TOOL  print TOOL's cached bin dir; exit 1 (with the reason) if not built
#
# Environment: SURGE_TOOLS_CACHE (default ~/.cache/surge/tools), SURGE_E2E_JOBS (go build -p, default 2).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE_ROOT="${SURGE_TOOLS_CACHE:-$HOME/.cache/surge/tools}"
JOBS="${SURGE_E2E_JOBS:-2}"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
TOOLS=(helm keda)

die() { echo "tools build: $*" >&2; exit 1; }

# What each tool is: the module whose version keys the cache, the packages and their binary
# names, and the version ldflags its own release build sets.
module_of() {
    case "$1" in
        helm) echo helm.sh/helm/v3 ;;
        keda) echo github.com/kedacore/keda/v2 ;;
        *) die "unknown tool '$1' (known: ${TOOLS[*]})" ;;
    esac
}
# "binary=package" pairs.
targets_of() {
    case "$1" in
        helm) echo "helm=helm.sh/helm/v3/cmd/helm" ;;
        # KEDA's operator (with its metrics gRPC service) and its metrics server (the adapter).
        keda) echo "keda=github.com/kedacore/keda/v2/cmd/operator keda-adapter=github.com/kedacore/keda/v2/cmd/adapter" ;;
    esac
}
ldflags_of() {
    local version="$2" minor
    case "$1" in
        helm)
            # As helm's Makefile: the Kubernetes version `helm template` and `helm lint` assume
            # is its client-go's (v0.MINOR.x -> 1.MINOR), not the fallback 1.20.
            minor="$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$(wrapper helm)/go.mod" | cut -d. -f2)"
            echo "-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
                "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
                "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
            ;;
        keda) echo "-s -w -X github.com/kedacore/keda/v2/version.Version=$version" ;;
    esac
}

# Files the tests need beside a tool's binaries, copied from its module into bin dir $2:
# KEDA's CRDs, and the ServiceAccount and RBAC its own manifests give its operator and
# metrics server (config/kustomization's service_account, rbac and metrics-server roles).
extras_of() {
    local config
    case "$1" in
        keda)
            config="$(cd "$(wrapper keda)" && go list -m -f '{{.Dir}}' github.com/kedacore/keda/v2)/config"
            mkdir -p "$2/crds" "$2/rbac"
            cp "$config"/crd/bases/*.yaml "$2/crds/"
            cp "$config/service_account/service_account.yaml" "$2/rbac/service_account.yaml"
            cp "$config/rbac/role.yaml" "$2/rbac/operator-role.yaml"
            cp "$config/rbac/role_binding.yaml" "$2/rbac/operator-role-binding.yaml"
            cp "$config/metrics-server/role.yaml" "$2/rbac/metrics-server-role.yaml"
            cp "$config/metrics-server/role_binding.yaml" "$2/rbac/metrics-server-role-binding.yaml"
            ;;
    esac
}
# What extras_of copies is there (a bin dir built before an extra was added lacks it).
extras_missing() {
    case "$1" in
        keda)
            [[ -n "$(ls "$2/crds" 2>/dev/null)" ]] || echo "$2/crds (KEDA's CRDs)"
            [[ -f "$2/rbac/metrics-server-role-binding.yaml" ]] || echo "$2/rbac (KEDA's RBAC)"
            ;;
    esac
}

wrapper() { echo "$HERE/tools/$1"; }
version_of() {
    local mod
    mod="$(module_of "$1")"
    awk -v mod="$mod" '$1 == mod && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == mod {print $3; exit}' \
        "$(wrapper "$1")/go.mod"
}
key_of() { echo "$1-$(version_of "$1")_$(uname -m)"; }
# Changes whenever the wrapper module or the link flags change: an edit never reuses old binaries.
stamp() {
    { cat "$(wrapper "$1")/go.mod" "$(wrapper "$1")/go.sum"; ldflags_of "$1" "$(version_of "$1")"; } \
        | sha256sum | cut -d' ' -f1
}

# The binaries of the pinned version are built (the stamp matches, each is there).
binaries_dir() {
    local tool="$1" dir pair
    dir="$CACHE_ROOT/$(key_of "$tool")/bin"
    [[ -f "$dir/../STAMP" && "$(cat "$dir/../STAMP")" == "$(stamp "$tool")" ]] \
        || die "$(key_of "$tool") is not built in $CACHE_ROOT: run tests/e2e/build_tools.sh $tool (tests/e2e/build.sh runs it)"
    for pair in $(targets_of "$tool"); do
        [[ -x "$dir/${pair%%=*}" ]] || die "$dir/${pair%%=*} is missing: run tests/e2e/build_tools.sh $tool"
    done
    echo "$dir"
}

bin_dir() {
    local dir missing
    dir="$(binaries_dir "$1")" || exit 1
    missing="$(extras_missing "$1" "$dir")"
    [[ -z "$missing" ]] || die "${missing%%$'\n'*} is missing: run tests/e2e/build_tools.sh $1"
    echo "$dir"
}

build() {
    local tool="$1" key dir tmp pair version start
    key="$(key_of "$tool")"
    dir="$CACHE_ROOT/$key"
    if (bin_dir "$tool") >/dev/null 2>&1; then
        echo "tools build: $key is cached in $dir/bin (nothing to build)"
        return
    fi
    command -v go >/dev/null \
        || die "Go is not installed (need Go >= the go line of $(wrapper "$tool")/go.mod to build $key)"
    mkdir -p "$CACHE_ROOT"
    exec 8>"$CACHE_ROOT/.lock"
    flock 8
    if (bin_dir "$tool") >/dev/null 2>&1; then echo "tools build: $key was built meanwhile"; return; fi
    if (binaries_dir "$tool") >/dev/null 2>&1; then
        extras_of "$tool" "$dir/bin" || die "copying $tool's files from its module failed"
        echo "tools build: $key is cached; its files from the module copied into $dir/bin"
        return
    fi
    version="$(version_of "$tool")"
    tmp="$dir/bin.partial"
    rm -rf "$tmp" && mkdir -p "$tmp"
    echo "tools build: building $key with $(go version | cut -d' ' -f3) (-p $JOBS) into $dir/bin"
    start=$SECONDS
    for pair in $(targets_of "$tool"); do
        (cd "$(wrapper "$tool")" && go build -p "$JOBS" -trimpath -ldflags "$(ldflags_of "$tool" "$version")" \
            -o "$tmp/${pair%%=*}" "${pair#*=}") \
            || die "building ${pair%%=*} ($(module_of "$tool") $version) failed (see above)"
        echo "tools build: ${pair%%=*} done after $((SECONDS - start)) s"
    done
    extras_of "$tool" "$tmp" || die "copying $tool's files from its module failed"
    rm -rf "$dir/bin"
    mv "$tmp" "$dir/bin"
    stamp "$tool" >"$dir/STAMP"
    exec 8>&-
    echo "tools build: built $key in $((SECONDS - start)) s"
}

case "${1:-}" in
    --bin) [[ $# -eq 2 ]] || die "usage: $0 --bin TOOL"; module_of "$2" >/dev/null; bin_dir "$2" ;;
    -*) die "usage: $0 [TOOL... | --bin TOOL]" ;;
    "") for t in "${TOOLS[@]}"; do build "$t"; done ;;
    *) for t in "$@"; do module_of "$t" >/dev/null; build "$t"; done ;;
esac
