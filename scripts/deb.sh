#!/usr/bin/env bash
# deb.sh VERSION BINDIR OUTDIR: build parley_VERSION_amd64.deb into OUTDIR
# from a staged tree with dpkg-deb, with the parleyd and parleyctl found in
# BINDIR (make deb builds them with VERSION first). The config file and the
# manual pages come from dist/debian, where tests keep them equal to what
# the key and flag tables generate.
set -euo pipefail

usage="usage: deb.sh VERSION BINDIR OUTDIR"
version=${1:?$usage}
bin=${2:?$usage}
out=${3:?$usage}
cd "$(dirname "$0")/.."
arch=amd64
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"

for b in parleyd parleyctl; do
	got=$("$bin/$b" --version)
	case "$got" in
	"$b $version "*) ;;
	*) echo "deb.sh: $bin/$b --version says '$got', not version $version" >&2; exit 1 ;;
	esac
	install -D -m 0755 "$bin/$b" "$stage/usr/bin/$b"
done

install -D -m 0644 dist/debian/parley.service "$stage/lib/systemd/system/parley.service"
install -D -m 0640 dist/debian/parley.toml "$stage/etc/parley/parley.toml"
install -d "$stage/usr/share/man/man8" "$stage/usr/share/doc/parley"
for page in parleyd.8 parleyctl.8; do
	gzip -9n <"dist/debian/$page" >"$stage/usr/share/man/man8/$page.gz"
done
install -m 0644 README.md "$stage/usr/share/doc/parley/README.md"

install -d "$stage/DEBIAN"
install -m 0755 dist/debian/postinst dist/debian/prerm dist/debian/postrm "$stage/DEBIAN/"
echo /etc/parley/parley.toml >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: parley
Version: $version
Architecture: $arch
Maintainer: Parley developers <parley@localhost>
Installed-Size: $size
Depends: adduser, libc6
Section: net
Priority: optional
Homepage: https://github.com/parleychat/parley
Description: persistent chat server for XMPP and SIP clients
 Parley serves persistent chat rooms (XEP-0045 with MAM), one-to-one
 messages, file upload and compliance capture to XMPP clients and SIP
 user agents, on one node or a pool of nodes.
 .
 This package runs parleyd from the systemd unit parley.service as the
 user parley, configured in /etc/parley/parley.toml, with its state in
 /var/lib/parley.
CONTROL

mkdir -p "$out"
deb="$out/parley_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
