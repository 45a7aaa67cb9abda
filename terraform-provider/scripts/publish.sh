#!/usr/bin/env bash
# Uploads a provider zip (made by package.sh) to a local terraform repository of artifactapi:
# PUT {ARTIFACTAPI_ENDPOINT}/api/v1/local/{PROVIDER_REPO}/artifactapi/{zip file name}. The
# server answers with what it published (version, platform, shasum, signing key ID), which is
# printed. Terraform then installs the provider with source = "HOST[:PORT]/PROVIDER_REPO/artifactapi".
#
#   ARTIFACTAPI_ENDPOINT=https://host[:port] ARTIFACTAPI_TOKEN=... [PROVIDER_REPO=providers] \
#     [PROVIDER_CA=ca.pem] publish.sh ZIP
#
# ARTIFACTAPI_TOKEN needs `write` on PROVIDER_REPO; PROVIDER_CA is a PEM file of the CA of a
# server behind a private CA. `make provider-publish` runs it; so does the end-to-end test.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 ZIP" >&2
  exit 2
fi
zip=$1
[ -f "$zip" ] || { echo "$0: no zip at $zip (run make provider)" >&2; exit 2; }
: "${ARTIFACTAPI_ENDPOINT:?set ARTIFACTAPI_ENDPOINT (https://host[:port])}"
: "${ARTIFACTAPI_TOKEN:?set ARTIFACTAPI_TOKEN (write on the provider repository)}"
repo=${PROVIDER_REPO:-providers}

ca=()
if [ -n "${PROVIDER_CA:-}" ]; then
  ca=(--cacert "$PROVIDER_CA")
fi
# The token goes in a header file read by curl, not on its command line (visible in ps).
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
printf 'Authorization: Bearer %s\n' "$ARTIFACTAPI_TOKEN" >"$headers"

# --upload-file streams the zip (a PUT) instead of reading it into memory first.
curl --fail-with-body -sS "${ca[@]}" -H "@$headers" \
  -H 'Content-Type: application/zip' --upload-file "$zip" \
  "${ARTIFACTAPI_ENDPOINT%/}/api/v1/local/$repo/artifactapi/$(basename "$zip")"
echo
echo "published $(basename "$zip") to $repo" >&2
