#!/bin/sh
# scripts/rename-internal on a small fixture tree: which names it renames, which it keeps (public
# header, a file it does not rewrite, a literal outside tests/, token pasting), that literals stay
# as they were, that --dry-run changes nothing and that bad usage exits 2.
#   rename_internal_test.sh SOURCE_DIR WORK        (exit 77: git or universal-ctags missing)
set -eu
src=$1 work=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v ctags > /dev/null 2>&1 && command -v git > /dev/null 2>&1 || { echo "git or ctags missing: skipped"; exit 77; }
script=$src/scripts/rename-internal
rm -rf "$work"
mkdir -p "$work/host/include" "$work/host/src" "$work/kernels" "$work/tests"
cat > "$work/host/include/sparsecl.h" <<'C'
typedef int scl_status;
scl_status scl_pub(void);
C
cat > "$work/host/src/internal.h" <<'C'
#ifndef SCL_INTERNAL_H
#define SCL_INTERNAL_H
#define SCL_PRIV_MAX 4
#define SCL_KMACRO 1
#define SCL_KIND(t) SCL_KIND_##t
enum { SCL_KIND_A, SCL_KIND_B };
typedef struct scl_priv_state { int n; } scl_priv_state;
scl_status scl_priv(scl_priv_state *s);
int scl_named(void);
#endif
C
cat > "$work/host/src/a.c" <<'C'
#include "internal.h"
/* scl_priv fills s; don't rename "inside" quotes. */
static int scl_helper(void) { return SCL_PRIV_MAX; }
scl_status scl_priv(scl_priv_state *s) { s->n = scl_helper() + SCL_KIND(A); return scl_pub(); }
int scl_named(void) { return puts("scl_named: ready") + 'x'; }
scl_status scl_pub(void) { return 0; }
C
echo '__kernel void k(void) { int x = SCL_KMACRO; }' > "$work/kernels/k.cl"
echo 'int main(void) { return check("scl_priv failed", scl_priv(0)); }' > "$work/tests/t.c"
git init -q "$work"
cp -R "$work/host" "$work/host.orig"
out=$("$script" --dry-run --root "$work") || fail "dry run: $out"
diff -r "$work/host" "$work/host.orig" > /dev/null || fail "--dry-run changed files"
rm -rf "$work/host.orig"
out=$("$script" --root "$work") || fail "run: $out"
echo "$out"
for w in scl_priv scl_priv_state scl_helper SCL_PRIV_MAX SCL_INTERNAL_H; do
  echo "$out" | grep -q "^rename $w " || fail "$w not renamed"
done
for w in scl_pub SCL_KMACRO scl_named SCL_KIND_A SCL_KIND_B; do
  echo "$out" | grep -q "^keep   $w " || fail "$w not kept"
done
grep -q 'scl_status scli_priv(scli_priv_state \*s) { s->n = scli_helper() + SCLI_KIND(A); return scl_pub(); }' "$work/host/src/a.c" ||
  fail "a.c: $(cat "$work/host/src/a.c")"
grep -q '/\* scli_priv fills s; don.t rename "inside" quotes. \*/' "$work/host/src/a.c" || fail "comment not renamed"
grep -q 'puts("scl_named: ready")' "$work/host/src/a.c" || fail "a literal was rewritten"
grep -q 'define SCLI_PRIV_MAX 4' "$work/host/src/internal.h" || fail "macro not renamed"
grep -q 'check("scli_priv failed", scli_priv(0))' "$work/tests/t.c" || fail "tests/t.c: $(cat "$work/tests/t.c")"
grep -q 'SCL_KMACRO' "$work/kernels/k.cl" || fail "kernels/ rewritten"
"$script" --root "$work" | grep -q '^renamed 0 names' || fail "a second run renames again"
set +e
"$script" --root "$work/nowhere" 2> "$work/err"; rc=$?
set -e
[ $rc -eq 2 ] && [ "$(wc -l < "$work/err")" -eq 1 ] || fail "bad --root: exit $rc, $(cat "$work/err")"
set +e
"$script" --bogus 2> "$work/err"; rc=$?
set -e
[ $rc -eq 2 ] && [ "$(wc -l < "$work/err")" -eq 1 ] || fail "--bogus: exit $rc, $(cat "$work/err")"
# A new name that is already taken stops the run before any file is written.
printf 'int scl_taken(void);\nint scli_taken(void);\n' > "$work/host/src/taken.h"
set +e
"$script" --root "$work" > /dev/null 2> "$work/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q 'scli_taken' "$work/err" && grep -q 'int scl_taken' "$work/host/src/taken.h" ||
  fail "name clash: exit $rc, $(cat "$work/err")"
echo "rename-internal: fixture renamed and kept as expected"
