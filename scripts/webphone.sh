#!/usr/bin/env bash
# Fetch the pinned SIP.js release from the npm registry with npm, check it
# against the SHA-512 recorded in the Makefile (scripts/npm-fetch.sh), and
# bundle its ES modules (lib/, 190 files) into one minified ES module,
# DEST/sip.js, with esbuild (a Go tool of this module, pinned in go.mod and
# go.sum: `go tool esbuild`), next to SIP.js's licence; package webphone
# embeds DEST. One file rather than 130 requests a page load keeps a
# browser well inside --http-request-burst.
# Usage: scripts/webphone.sh VERSION SHA512 DEST
set -euo pipefail
version=$1 sha512=$2 dest=$(realpath -m "$3")
root=$(realpath "$(dirname "$0")/..")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/npm-fetch.sh" sip.js "$version" "$sha512" "$tmp"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
"${GO:-go}" -C "$root" tool esbuild "$tmp/package/lib/index.js" --bundle --format=esm --minify \
	--legal-comments=none --log-level=warning --outfile="$dest.tmp/sip.js"
cp "$tmp/package/LICENSE.md" "$dest.tmp/LICENSE"
echo "$version" >"$dest.tmp/VERSION"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "webphone: SIP.js $version bundled in $dest ($(du -sh "$dest" | cut -f1))"
