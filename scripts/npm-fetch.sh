#!/usr/bin/env bash
# Fetch one pinned package from the npm registry with npm pack, check the
# tarball against the SHA-512 recorded in the Makefile, and unpack it into
# DIR/package. Used by scripts/webclient.sh and scripts/webphone.sh, which
# copy what the browser loads from there.
# Usage: scripts/npm-fetch.sh NAME VERSION SHA512 DIR
set -euo pipefail
name=$1 version=$2 sha512=$3 dir=$4
command -v npm >/dev/null || { echo "$name: npm is needed to fetch it (apt-get install npm)" >&2; exit 1; }
(cd "$dir" && npm pack --silent "$name@$version" >/dev/null)
tarball="$dir/$name-$version.tgz"
echo "$sha512  $tarball" | sha512sum --check --quiet ||
	{ echo "$name-$version.tgz does not match the SHA-512 in the Makefile" >&2; exit 1; }
tar -xzf "$tarball" -C "$dir"
