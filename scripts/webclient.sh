#!/usr/bin/env bash
# Fetch the pinned Converse.js release from the npm registry with npm, check
# it against the SHA-512 recorded in the Makefile (scripts/npm-fetch.sh),
# and copy what the browser loads (the minified build, its lazily loaded
# chunks, styles, fonts, images, emoji data) with its licence into DEST,
# which package webclient embeds.
# Usage: scripts/webclient.sh VERSION SHA512 DEST
set -euo pipefail
version=$1 sha512=$2 dest=$(realpath -m "$3")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$(dirname "$0")/npm-fetch.sh" converse.js "$version" "$sha512" "$tmp"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
(cd "$tmp/package/dist" && find . -type f \
	! -name '*.map' ! -name 'converse.js' ! -name 'converse.css' ! -name 'website*' -print0 |
	xargs -0 cp --parents -t "$dest.tmp")
cp "$tmp/package/LICENSE" "$dest.tmp/LICENSE"
cp "$tmp/package/COPYRIGHT" "$dest.tmp/COPYRIGHT" 2>/dev/null || true
echo "$version" >"$dest.tmp/VERSION"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "webclient: Converse.js $version in $dest ($(du -sh "$dest" | cut -f1))"
