#!/usr/bin/env bash
# Fetch the pinned Converse.js release from the npm registry with npm, check
# it against the SHA-512 recorded in the Makefile, and copy what the browser
# loads (the minified build, its lazily loaded chunks, styles, fonts, images,
# emoji data) with its licence into DEST, which package webclient embeds.
# Usage: scripts/webclient.sh VERSION SHA512 DEST
set -euo pipefail
version=$1 sha512=$2 dest=$(realpath -m "$3")
command -v npm >/dev/null || { echo "webclient: npm is needed to fetch Converse.js (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "converse.js@$version" >/dev/null)
tarball="$tmp/converse.js-$version.tgz"
echo "$sha512  $tarball" | sha512sum --check --quiet ||
	{ echo "webclient: converse.js-$version.tgz does not match the SHA-512 in the Makefile" >&2; exit 1; }
tar -xzf "$tarball" -C "$tmp"
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
