#!/bin/sh
# Install the Debian packages named on the command line that are missing.
# As root this runs apt-get; otherwise it names what is missing and fails.
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "kiln: installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
		echo "kiln: apt-get install failed for:$missing" >&2; exit 1; }
else
	echo "kiln: missing Debian packages:$missing" >&2
	echo "kiln: run 'sudo apt-get install$missing' or run make as root" >&2
	exit 1
fi
