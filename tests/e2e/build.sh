#!/usr/bin/env bash
# Builds the e2e control plane (kube-apiserver, kube-controller-manager, etcd) with the machine's Go
# from the Go module proxy, once per pinned version set, into a cache outside the work tree.
# The e2e suite never builds: .ci/run calls this first so no build runs inside a pytest timeout.
#
#   tests/e2e/build.sh                  build if the cache lacks this version set (else do nothing),
#                                       then the tools of build_tools.sh (helm, KEDA)
#   tests/e2e/build.sh --bin-dir        print the cached bin dir; exit 1 (with the reason) if not built
#   tests/e2e/build.sh --pin K8S ETCD   write releases/K8S/{k8sbin,etcdbin} go.mod+go.sum for a release,
#                                       e.g. --pin v1.37.2 v3.7.3 (network; no compile)
#
# One pinned version set per folder releases/<Kubernetes version>/; releases/DEFAULT names the one
# used unless SURGE_E2E_RELEASE names another (e.g. SURGE_E2E_RELEASE=v1.34.12).
# Environment: SURGE_E2E_RELEASE, SURGE_E2E_CACHE (default ~/.cache/surge/e2e),
# SURGE_E2E_JOBS (go build -p, default 2).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
RELEASE="${SURGE_E2E_RELEASE:-$(cat "$HERE/releases/DEFAULT")}"
K8S_MOD="$HERE/releases/$RELEASE/k8sbin"
ETCD_MOD="$HERE/releases/$RELEASE/etcdbin"
CACHE_ROOT="${SURGE_E2E_CACHE:-$HOME/.cache/surge/e2e}"
JOBS="${SURGE_E2E_JOBS:-2}"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

die() { echo "e2e build: $*" >&2; exit 1; }

# The one pinned version of $2 in go.mod $1 (read without Go, so --bin-dir works without it).
required_version() {
    awk -v mod="$2" '$1 == mod && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == mod {print $3; exit}' "$1"
}

k8s_version() { required_version "$K8S_MOD/go.mod" k8s.io/kubernetes; }
etcd_version() { required_version "$ETCD_MOD/go.mod" go.etcd.io/etcd/server/v3; }
version_key() { echo "k8s-$(k8s_version)_etcd-$(etcd_version)_$(uname -m)"; }
# Changes whenever a wrapper module changes, so an edited go.mod/go.sum never reuses old binaries.
stamp() { cat "$K8S_MOD/go.mod" "$K8S_MOD/go.sum" "$ETCD_MOD/go.mod" "$ETCD_MOD/go.sum" | sha256sum | cut -d' ' -f1; }
BINARIES=(kube-apiserver kube-controller-manager etcd)

known_release() {
    [[ -f "$K8S_MOD/go.mod" && -f "$ETCD_MOD/go.mod" ]] \
        || die "no pinned release $RELEASE in $HERE/releases (have: $(cd "$HERE/releases" && ls -d v*/ | tr -d / | xargs)); pin it with --pin"
}

bin_dir() {
    known_release
    local dir="$CACHE_ROOT/$(version_key)/bin"
    [[ -f "$dir/../STAMP" && "$(cat "$dir/../STAMP")" == "$(stamp)" ]] \
        || die "the control plane for $(version_key) is not built in $CACHE_ROOT: run tests/e2e/build.sh"
    for b in "${BINARIES[@]}"; do [[ -x "$dir/$b" ]] || die "$dir/$b is missing: run tests/e2e/build.sh"; done
    echo "$dir"
}

need_go() {
    command -v go >/dev/null || die "Go is not installed (need Go >= the go line of k8sbin/go.mod and etcdbin/go.mod)"
}

# Rewrites both wrapper modules for new releases: the staging replace list comes from the
# release's own go.mod (every `k8s.io/x => ./staging/...` becomes `k8s.io/x => k8s.io/x v0.MINOR.PATCH`).
pin() {
    local k8s="$1" etcd="$2" gomod staging m godebug goline
    need_go
    [[ "$k8s" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "--pin: Kubernetes version must look like v1.37.2, got $k8s"
    staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
    K8S_MOD="$HERE/releases/$k8s/k8sbin"
    ETCD_MOD="$HERE/releases/$k8s/etcdbin"
    mkdir -p "$K8S_MOD" "$ETCD_MOD"
    gomod="$(cd /tmp && go mod download -json "k8s.io/kubernetes@$k8s" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
    goline="$(awk '$1 == "go" {print $2; exit}' "$gomod")"
    godebug="$(awk '$1 == "godebug" {print $2; exit}' "$gomod")"
    rm -f "$K8S_MOD/go.mod" "$K8S_MOD/go.sum"
    (
        cd "$K8S_MOD"
        go mod init local.test/e2e/k8sbin >/dev/null 2>&1
        go mod edit -go="$goline"
        [[ -n "$godebug" ]] && go mod edit -godebug="$godebug"
        go mod edit -require="k8s.io/kubernetes@$k8s"
        while read -r m; do
            go mod edit -replace="$m=$m@$staging"
        done < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod")
        go mod edit -tool=k8s.io/kubernetes/cmd/kube-apiserver -tool=k8s.io/kubernetes/cmd/kube-controller-manager
        go mod tidy
    )
    rm -f "$ETCD_MOD/go.mod" "$ETCD_MOD/go.sum"
    gomod="$(cd /tmp && go mod download -json "go.etcd.io/etcd/server/v3@$etcd" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
    goline="$(awk '$1 == "go" {print $2; exit}' "$gomod")"
    (
        cd "$ETCD_MOD"
        go mod init local.test/e2e/etcdbin >/dev/null 2>&1
        go mod edit -go="$goline" -require="go.etcd.io/etcd/server/v3@$etcd" -tool=go.etcd.io/etcd/server/v3
        go mod tidy
    )
    echo "pinned k8s.io/kubernetes $k8s (staging $staging) and go.etcd.io/etcd/server/v3 $etcd"
}

build() {
    known_release
    need_go
    local key dir tmp k8s minor
    key="$(version_key)"
    dir="$CACHE_ROOT/$key"
    if (bin_dir) >/dev/null 2>&1; then
        echo "e2e build: $key is cached in $dir/bin (nothing to build)"
        return
    fi
    mkdir -p "$CACHE_ROOT"
    exec 9>"$CACHE_ROOT/.lock"
    flock 9
    if (bin_dir) >/dev/null 2>&1; then echo "e2e build: $key was built meanwhile"; return; fi
    k8s="$(k8s_version)"
    minor="$(echo "$k8s" | cut -d. -f2)"
    tmp="$dir/bin.partial"
    rm -rf "$tmp" && mkdir -p "$tmp"
    echo "e2e build: building $key with $(go version | cut -d' ' -f3) (-p $JOBS) into $dir/bin"
    local start=$SECONDS
    # The version ldflags make `--version` and /version report the release instead of v0.0.0-master.
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1
        -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean
        -X k8s.io/client-go/pkg/version.gitVersion=$k8s -X k8s.io/client-go/pkg/version.gitMajor=1
        -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    (cd "$ETCD_MOD" && go build -p "$JOBS" -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3) \
        || die "building etcd $(etcd_version) failed (see above)"
    echo "e2e build: etcd done after $((SECONDS - start)) s"
    (cd "$K8S_MOD" && go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager) \
        || die "building kube-apiserver/kube-controller-manager $k8s failed (see above)"
    rm -rf "$dir/bin"
    mv "$tmp" "$dir/bin"
    stamp >"$dir/STAMP"
    echo "e2e build: built $key in $((SECONDS - start)) s"
}

case "${1:-}" in
    "") build; bash "$HERE/build_tools.sh" ;;
    --bin-dir) bin_dir ;;
    --pin) [[ $# -eq 3 ]] || die "usage: $0 --pin K8S_VERSION ETCD_VERSION"; pin "$2" "$3" ;;
    *) die "usage: $0 [--bin-dir | --pin K8S_VERSION ETCD_VERSION]" ;;
esac
