#!/usr/bin/env bash
# Zips a terraform-provider-artifactapi binary as a provider registry wants it:
# OUTDIR/terraform-provider-artifactapi_{version}_{os}_{arch}.zip holding one executable,
# terraform-provider-artifactapi_v{version}. Prints the zip's path.
#
#   package.sh BINARY OUTDIR VERSION OS ARCH
#
# `make provider` runs it on the release binary; the end-to-end test of the install from a
# local registry (e2e/tests/terraform_provider_install.rs) runs it on the debug binary.
set -euo pipefail

if [ "$#" -ne 5 ]; then
  echo "usage: $0 BINARY OUTDIR VERSION OS ARCH" >&2
  exit 2
fi
binary=$1 outdir=$2 version=$3 os=$4 arch=$5
[ -x "$binary" ] || { echo "$0: no provider executable at $binary" >&2; exit 2; }

zip_name="terraform-provider-artifactapi_${version}_${os}_${arch}.zip"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp "$binary" "$staging/terraform-provider-artifactapi_v${version}"
chmod 0755 "$staging/terraform-provider-artifactapi_v${version}"
mkdir -p "$outdir"
rm -f "$outdir/$zip_name"
outdir=$(cd "$outdir" && pwd)
(cd "$staging" && zip -q -9 "$outdir/$zip_name" "terraform-provider-artifactapi_v${version}")
echo "$outdir/$zip_name"
