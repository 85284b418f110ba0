#!/usr/bin/env bash
# Install what guestflow needs to build, test and run its demo on Debian/Ubuntu.
# Runs apt-get only when something is missing; needs root for that.
set -euo pipefail

PACKAGES=(
	build-essential meson ninja-build pkg-config python3
	libpq-dev libxml2-dev libcurl4-openssl-dev libyaml-dev zlib1g-dev libssl-dev
	libmicrohttpd-dev libjansson-dev
	postgresql postgresql-client libxml2-utils curl openssl
	systemd groff-base man-db openssh-server openssh-client bash-completion
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: run as root (or: sudo apt-get install -y ${missing[*]})" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
