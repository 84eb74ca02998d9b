#!/usr/bin/env bash
# Dev certificates for Surge, without cert-manager: a CA and a serving pair made with
# openssl, the Secret the Deployment mounts, and the CA in the three APIServices' caBundle,
# so the aggregator verifies Surge's certificate (never insecureSkipTLSVerify).
#
#   kubectl apply -k deploy/overlays/dev     # first: the namespace and the APIServices
#   deploy/dev/make-certs.sh                 # then: Secret + caBundle; the pod starts
#
# Options:
#   --out DIR        where the files go (default: deploy/dev/certs, git-ignored)
#   --namespace NS   Surge's namespace (default: surge-system)
#   --service NAME   Surge's Service (default: surge)
#   --days N         validity of the serving certificate (default: 365)
#   --force          make a new CA and pair even if valid ones exist
#   --dry-run        make the files, print the Secret and the patches, change nothing
# Environment: KUBECTL (default: kubectl), OPENSSL (default: openssl).
#
# Re-running keeps the existing CA and pair while they are valid for 30 more days, so the
# caBundle does not change under a running aggregator. Rotating (--force) replaces both;
# Surge picks up the new pair when the kubelet refreshes the Secret's files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/certs"
namespace="surge-system"
service="surge"
days=365
force=0
dry_run=0
kubectl="${KUBECTL:-kubectl}"
openssl="${OPENSSL:-openssl}"
apiservices=(v1beta1.custom.metrics.k8s.io v1beta2.custom.metrics.k8s.io v1beta1.external.metrics.k8s.io)

usage() { sed -n '2,22s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() {
	echo "make-certs.sh: $*" >&2
	exit 2
}

while [[ $# -gt 0 ]]; do
	case "$1" in
	--out) out="${2:?--out needs a directory}"; shift 2 ;;
	--namespace) namespace="${2:?--namespace needs a name}"; shift 2 ;;
	--service) service="${2:?--service needs a name}"; shift 2 ;;
	--days) days="${2:?--days needs a number}"; shift 2 ;;
	--force) force=1; shift ;;
	--dry-run) dry_run=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
done
[[ "$days" =~ ^[1-9][0-9]*$ ]] || die "--days must be a positive number, not '$days'"
command -v "$openssl" >/dev/null || die "openssl is not installed"
command -v "$kubectl" >/dev/null || die "kubectl is not installed"

# The names the aggregator and in-cluster clients use for the Service.
dns_names=("$service.$namespace.svc" "$service.$namespace.svc.cluster.local" "$service.$namespace" "$service")

ca_key="$out/ca.key" ca_crt="$out/ca.crt" key="$out/tls.key" crt="$out/tls.crt"

still_valid() { # certificate, seconds
	[[ -s "$1" ]] && "$openssl" x509 -in "$1" -noout -checkend "$2" >/dev/null 2>&1
}

names_match() { # the serving certificate names exactly this Service
	local sans
	sans="$("$openssl" x509 -in "$crt" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')"
	[[ "$sans" == "$(printf 'DNS:%s,' "${dns_names[@]}" | sed 's/,$//')" ]]
}

make_ca() {
	"$openssl" ecparam -name prime256v1 -genkey -noout -out "$ca_key"
	"$openssl" req -x509 -new -sha256 -key "$ca_key" -days 1825 \
		-subj "/CN=surge-dev-ca" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$ca_crt"
}

make_serving() {
	local csr="$out/tls.csr" ext="$out/tls.ext"
	"$openssl" ecparam -name prime256v1 -genkey -noout -out "$key"
	"$openssl" req -new -sha256 -key "$key" -subj "/CN=$service.$namespace.svc" -out "$csr"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=serverAuth"
		echo "subjectAltName=$(printf 'DNS:%s,' "${dns_names[@]}" | sed 's/,$//')"
	} >"$ext"
	"$openssl" x509 -req -sha256 -in "$csr" -CA "$ca_crt" -CAkey "$ca_key" \
		-set_serial "0x$("$openssl" rand -hex 16)" -days "$days" -extfile "$ext" -out "$crt"
	rm -f "$csr" "$ext"
}

mkdir -p "$out"
umask 077
month=$((30 * 24 * 3600))
if [[ $force -eq 1 ]] || ! still_valid "$ca_crt" "$month" || [[ ! -s "$ca_key" ]]; then
	make_ca
	make_serving
	echo "made a new CA and serving pair in $out" >&2
elif ! still_valid "$crt" "$month" || [[ ! -s "$key" ]] || ! names_match; then
	make_serving
	echo "made a new serving pair in $out (the CA is kept)" >&2
else
	echo "kept the valid CA and serving pair in $out" >&2
fi
"$openssl" verify -CAfile "$ca_crt" "$crt" >/dev/null || die "$crt does not verify against $ca_crt"

ca_bundle="$(base64 <"$ca_crt" | tr -d '\n')"
patch="{\"spec\":{\"caBundle\":\"$ca_bundle\"}}"

# tls.crt and tls.key for Surge; ca.crt for clients that verify it (the ServiceMonitor).
secret_yaml() {
	"$kubectl" create secret generic surge-serving-cert --namespace "$namespace" \
		--type=kubernetes.io/tls \
		--from-file=tls.crt="$crt" --from-file=tls.key="$key" --from-file=ca.crt="$ca_crt" \
		--dry-run=client -o yaml
}

if [[ $dry_run -eq 1 ]]; then
	secret_yaml
	for name in "${apiservices[@]}"; do
		echo "---"
		echo "# kubectl patch apiservice $name --type=merge -p '$patch'"
	done
	exit 0
fi

"$kubectl" get namespace "$namespace" >/dev/null ||
	die "namespace $namespace does not exist: run 'kubectl apply -k deploy/overlays/dev' first"
secret_yaml | "$kubectl" apply -f -
missing=0
for name in "${apiservices[@]}"; do
	# Only APIServices served by this Service: never re-point another server's trust.
	if ! backend="$("$kubectl" get apiservice "$name" -o jsonpath='{.spec.service.namespace}/{.spec.service.name}' 2>/dev/null)"; then
		echo "APIService $name does not exist yet: apply the overlay, then run this again" >&2
		missing=1
	elif [[ "$backend" != "$namespace/$service" ]]; then
		echo "APIService $name is served by $backend, not $namespace/$service: left alone" >&2
		missing=1
	else
		"$kubectl" patch apiservice "$name" --type=merge -p "$patch"
	fi
done
exit "$missing"
