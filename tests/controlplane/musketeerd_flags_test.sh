#!/usr/bin/env bash
# musketeerd's command line and config file, before it starts anything: --version, --help
# naming every flag, `name = value` files with comments, errors naming FILE:LINE, and the
# command line winning over the file.
set -uo pipefail
build=${1:?usage: musketeerd_flags_test.sh BUILD_DIR}
daemon=$build/controlplane/musketeerd
source "$(dirname "$0")/../checks.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out() { "$daemon" "$@" 2>&1; echo "exit $?"; }

check "--version" grep -qx "musketeerd [0-9]*\.[0-9]*\.[0-9]*" <("$daemon" --version)
help=$(out --help)
for f in --config --log-level --state-dir --listen --http-listen --view-resync --ssh-config; do
  check "--help names $f" grep -q -- "$f" <<<"$help"
done

printf '# a comment\n\nlisten = 127.0.0.1:7443   # trailing comment\nsurprise = 1\n' >"$dir/unknown.conf"
r=$(out --config "$dir/unknown.conf")
check "an unknown name in the file is refused with FILE:LINE" grep -q "unknown.conf:4: unknown flag --surprise" <<<"$r"
check "... and exit 2" grep -q "exit 2" <<<"$r"
printf 'listen 127.0.0.1:7443\n' >"$dir/noequals.conf"
check "a line without = is refused with FILE:LINE" grep -q "noequals.conf:1: expected name = value" <<<"$(out --config "$dir/noequals.conf")"
check "a missing file is refused" grep -q "cannot read the config file $dir/none.conf" <<<"$(out --config "$dir/none.conf")"
printf 'log-level = loud\n' >"$dir/loud.conf"
check "a bad value from the file is refused" grep -q "log-level must be debug, info, warning or error" <<<"$(out --config "$dir/loud.conf")"
# The command line wins: the file's bad log level is overridden, so the next check speaks.
r=$(out --config "$dir/loud.conf" --log-level warning --ipvs maybe)
check "the command line wins over the file" bash -c '! grep -q "log-level must" <<<"$0" && grep -q -- "--ipvs must be auto, yes or no" <<<"$0"' "$r"
printf 'config = %s\n' "$dir/loud.conf" >"$dir/nested.conf"
check "a file cannot name another" grep -q "cannot name another" <<<"$(out --config "$dir/nested.conf")"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
