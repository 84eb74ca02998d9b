#!/usr/bin/env bash
# Build kubernetes-sigs/prometheus-adapter (PA) from the Go module proxy, so that
# bench/ and the compatibility checks can run the real PA next to Surge.
#
# Usage: bench/build_prometheus_adapter.sh [VERSION]
#   VERSION      PA release tag (default: $PA_VERSION, else v0.12.0, the newest on the proxy)
#   PA_CACHE_DIR where binaries live (default: ~/.cache/surge/prometheus-adapter)
#   GO           go binary (default: `go` on PATH, else /usr/local/go/bin/go)
#
# Prints the path of the binary (<cache>/<version>/adapter) on stdout and nothing else;
# a binary already built is reused. PA's code stays in the Go module cache: the
# build happens in a throwaway wrapper module under the cache dir, never in this repo.
#
# Why a wrapper module: `go install ...@version` fails here because it also asks the
# proxy for the module's version list (to report deprecation), which the proxy refuses.
set -euo pipefail

die() {
    echo "build_prometheus_adapter: $*" >&2
    exit 1
}

version=${1:-${PA_VERSION:-v0.12.0}}
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version must look like v0.12.0, got '$version'"

cache_root=${PA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/surge/prometheus-adapter}
out_dir=$cache_root/$version
binary=$out_dir/adapter

if [[ -x $binary ]]; then
    echo "$binary"
    exit 0
fi

go_bin=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $go_bin ]] || die "Go toolchain not found (install Go or set GO=/path/to/go)"

mkdir -p "$out_dir"
exec 9>"$out_dir/.lock"
flock 9
# Another run may have finished the build while this one waited for the lock.
if [[ -x $binary ]]; then
    echo "$binary"
    exit 0
fi

log=$out_dir/build.log
src=$out_dir/src
rm -rf "$src"
mkdir -p "$src"
: >"$log"

# Never switch toolchains (that would download one) and ignore any go.work above.
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod

run_go() {
    (cd "$src" && "$go_bin" "$@") >>"$log" 2>&1
}

last_error() {
    grep -v '^go: downloading' "$log" | tr -s '\n\t' '  ' | tail -c 300
}

run_go mod init surge.local/prometheus-adapter-build ||
    die "go mod init failed: $(last_error)"
: >"$log"
run_go get "sigs.k8s.io/prometheus-adapter/cmd/adapter@$version" ||
    die "cannot fetch sigs.k8s.io/prometheus-adapter@$version from the Go module proxy: $(last_error)"
echo "compiling prometheus-adapter $version (a few minutes the first time; log: $log)" >&2
run_go build -trimpath -o "$binary.tmp" sigs.k8s.io/prometheus-adapter/cmd/adapter ||
    die "go build failed: $(last_error)"
mv -f "$binary.tmp" "$binary"
rm -rf "$src"
echo "$binary"
