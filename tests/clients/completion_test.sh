#!/usr/bin/env bash
# `musketeer completion bash` is valid bash and completes what the CLI takes: every group
# and verb `musketeer --help` lists, a verb's flags (as its --help names them), the global
# flags, and the docker-style shortcuts.
set -uo pipefail
build=${1:?usage: completion_test.sh BUILD_DIR}
cli=$build/clients/musketeer
source "$(dirname "$0")/../checks.sh"
script=$(mktemp)
trap 'rm -f "$script"' EXIT
"$cli" completion bash >"$script"
check "the script is valid bash" bash -n "$script"
# complete WORDS...: what bash offers for the last word of `musketeer WORDS...`.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=(musketeer "$@"); COMP_CWORD=$#; _musketeer; echo "${COMPREPLY[*]}"' _ "$script" "$@"
}
offers() {  # offers "EXPECTED WORD" WORDS...
  local want=$1; shift
  [[ " $(complete_words "$@") " == *" $want "* ]]
}
# Every command of the help, its group and its verb.
missing=""
while read -r group verb; do
  offers "$group" "${group:0:2}" || missing+=" $group"
  offers "$verb" "$group" "" || missing+=" $group/$verb"
done < <("$cli" --help | awk '/^Commands:/{on=1; next} on && NF >= 2 && $1 != "completion" {print $1, $2} /^$/{if (on) exit}')
check "every group and verb of --help completes${missing:+ (missing:$missing)}" test -z "$missing"
flags_missing=""
for f in --replicas --mount --publish --env --network --update-parallelism; do
  offers "$f" service create "${f:0:4}" || flags_missing+=" $f"
done
check "service create's flags complete${flags_missing:+ (missing:$flags_missing)}" test -z "$flags_missing"
check "a flag of another verb is not offered" bash -c '! [[ " $0 " == *" --replicas "* ]]' "$(complete_words node ls --)"
check "global flags come first" offers --endpoint --e
check "--format offers table and json" offers json --format ""
check "musketeer ps completes service ps's flags" offers --filter ps --f
check "completion is itself completed" offers bash completion ""
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
