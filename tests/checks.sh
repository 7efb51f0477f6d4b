# Sourced by the shell tests: PASS/FAIL lines and their counts.
#   ok WHAT / bad WHAT        record a result
#   check WHAT CMD...         PASS when CMD succeeds, else FAIL with its last output lines
passed=0 failed=0
ok() { echo "PASS $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
check() {
  local what=$1 out; shift
  if out=$("$@" 2>&1); then ok "$what"; else bad "$what: $(echo "$out" | tail -3)"; fi
}
