#!/bin/sh
# Install tests: `cmake --install` into a temporary prefix, then the examples configured, built
# and run against that prefix only.
#   install_test.sh install   BUILD_DIR PREFIX             install, check files and exported symbols
#   install_test.sh cmake     SOURCE_DIR PREFIX WORK       examples through find_package(sparsecl)
#   install_test.sh pkgconfig SOURCE_DIR PREFIX WORK       examples through pkg-config (sparsecl.pc)
#   install_test.sh python    SOURCE_DIR PREFIX            ctypes example (exit 77: NumPy missing)
#   install_test.sh moved     BUILD_DIR SOURCE_DIR WORK    install, move the prefix, run from there: info
#                             and plans find <moved>/share/sparsecl/tuning, the static examples link
#                             through pkg-config --static, libsparsecl_block.so finds libsparsecl.so
#   install_test.sh links     LIBSPARSECL LIBSPARSECL_BLOCK  what each shared library links (NEEDED):
#                             the core no CLBlast or libstdc++, the block libsparsecl and CLBlast
set -eu
mode=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
needed() { objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }'; }
libdir() { for d in "$1/lib" "$1/lib64" "$1"/lib/*-linux-gnu; do [ -e "$d/libsparsecl.so" ] && { echo "$d"; return; }; done; echo "$1/lib"; }

case $mode in
install)
  build=$2 prefix=$3
  rm -rf "$prefix"
  cmake --install "$build" --prefix "$prefix" > "$prefix.log" 2>&1 || { cat "$prefix.log"; fail "cmake --install"; }
  lib=$(libdir "$prefix")
  for f in "$prefix/bin/sparsecl" "$prefix/include/sparsecl.h" "$prefix/include/sparsecl_block.h" \
           "$lib/libsparsecl.so" "$lib/libsparsecl_static.a" "$lib/pkgconfig/sparsecl.pc" \
           "$lib/pkgconfig/sparsecl_static.pc" "$prefix/share/sparsecl/plot_bench.py" \
           "$lib/libsparsecl_block.so" "$lib/libsparsecl_block_static.a" "$lib/pkgconfig/sparsecl_block.pc" \
           "$lib/pkgconfig/sparsecl_block_static.pc" \
           "$lib/cmake/sparsecl/sparseclConfig.cmake" "$lib/cmake/sparsecl/sparseclConfigVersion.cmake"; do
    [ -e "$f" ] || fail "not installed: $f"
  done
  [ -d "$prefix/share/sparsecl/tuning" ] || fail "tuning database directory not installed"
  echo "installed tuning databases: $(ls "$prefix/share/sparsecl/tuning" | grep -c '\.json$' || true)"
  [ -x "$prefix/share/sparsecl/plot_bench.py" ] || fail "plot_bench.py not installed executable"
  # Only scl_* leaves each shared library, and every one of them is declared in its public header.
  for pair in libsparsecl.so:sparsecl.h libsparsecl_block.so:sparsecl_block.h; do
    so=${pair%%:*} header=$prefix/include/${pair#*:}
    syms=$(nm -D --defined-only "$lib/$so" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//')
    [ -n "$syms" ] || fail "$so: no exported symbols found"
    bad=$(echo "$syms" | grep -v '^scl_' || true)
    [ -z "$bad" ] || fail "$so: exported symbols outside scl_*: $bad"
    for s in $syms; do
      grep -q "\\b$s(" "$header" || fail "$so exports $s, which is not in $header"
    done
    echo "$so: $(echo "$syms" | wc -l) exported symbols, all scl_* and declared in $header"
  done
  sh "$0" links "$lib/libsparsecl.so" "$lib/libsparsecl_block.so"
  # Semantic version, from the library and from the CLI, and the SONAME carries the major.
  ver=$("$prefix/bin/sparsecl" --version | awk '{print $2}')
  echo "$ver" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || fail "version '$ver' is not MAJOR.MINOR.PATCH"
  soname=$(objdump -p "$lib/libsparsecl.so" 2>/dev/null | awk '/SONAME/ {print $2}')
  [ -z "$soname" ] || [ "$soname" = "libsparsecl.so.${ver%%.*}" ] || fail "SONAME $soname does not match version $ver"
  echo "version $ver, SONAME ${soname:-?}"
  ;;
cmake|pkgconfig)
  src=$2 prefix=$3 work=$4
  rm -rf "$work"
  if [ "$mode" = cmake ]; then
    cmake -S "$src/examples" -B "$work" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" > "$work.log" 2>&1 ||
      { cat "$work.log"; fail "configure (find_package)"; }
  else
    lib=$(libdir "$prefix")
    PKG_CONFIG_PATH="$lib/pkgconfig" cmake -S "$src/examples" -B "$work" -DCMAKE_BUILD_TYPE=Release -DSCL_USE_PKGCONFIG=ON \
      > "$work.log" 2>&1 || { cat "$work.log"; fail "configure (pkg-config)"; }
    PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --modversion sparsecl
  fi
  cmake --build "$work" -j2 >> "$work.log" 2>&1 || { cat "$work.log"; fail "build"; }
  # The examples must use the installed library, not the build tree's.
  ldd "$work/embed_attention" | grep -q "$prefix" || { ldd "$work/embed_attention"; fail "embed_attention does not load the installed libsparsecl"; }
  ldd "$work/transformer_block" | grep -q "$prefix.*libsparsecl_block" ||
    { ldd "$work/transformer_block"; fail "transformer_block does not load the installed libsparsecl_block"; }
  "$work/embed_attention" 256 || fail "embed_attention"
  "$work/transformer_block" --seq 256 || fail "transformer_block"
  ;;
python)
  src=$2 prefix=$3
  py=""
  for c in /usr/bin/python3 python3; do
    if command -v "$c" > /dev/null 2>&1 && "$c" -c 'import numpy' > /dev/null 2>&1; then py=$c; break; fi
  done
  [ -n "$py" ] || { echo "python3 with numpy not found: skipped"; exit 77; }
  "$py" "$src/examples/attention_ctypes.py" "$(libdir "$prefix")/libsparsecl.so"
  ;;
moved)
  build=$2 src=$3 work=$4
  rm -rf "$work"
  mkdir -p "$work"
  cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }
  mv "$work/prefix" "$work/moved"
  moved=$(cd "$work/moved" && pwd -P)
  cli=$moved/bin/sparsecl
  tuning=$moved/share/sparsecl/tuning
  # Only the moved prefix: no user databases, no extra directory, the shipped ones on.
  export SPARSECL_CACHE_DIR="$work/cache"
  unset SPARSECL_TUNING_DIR SPARSECL_SHIPPED_TUNING XDG_CACHE_HOME
  "$cli" info > "$work/info.txt" 2>&1 || { cat "$work/info.txt"; fail "info"; }
  grep -q "searched $tuning\$" "$work/info.txt" || { cat "$work/info.txt"; fail "info does not search $tuning"; }
  ! grep -q "$work/prefix" "$work/info.txt" || { cat "$work/info.txt"; fail "info still searches the prefix it was installed to"; }
  ! grep -q "searched $src/results/tuning" "$work/info.txt" || { cat "$work/info.txt"; fail "an installed CLI searches the source tree"; }
  grep -q "shipped data: $moved/share/sparsecl (installed)" "$work/info.txt" || { cat "$work/info.txt"; fail "info: shipped data"; }
  echo "info searches $tuning"
  # A database placed there for the default device: d=64, block=32 takes it (the defaults with
  # stage_q flipped, so the kernel options show it); block=16 has an entry invalid here
  # (bq=64 > block), so plans and info fall back to the defaults and say why.
  dev=$("$cli" info --json | sed -n 's/^[[:space:]]*"tuning_device":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p')
  [ -n "$dev" ] || fail "no default device"
  slug=$(printf '%s' "$dev" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9][^a-z0-9]*/-/g; s/^-*//; s/-*$//')
  bench() { "$cli" bench --pattern causal --seq 64 --block "$1" --heads 1 --dim 64 --reps 1 --json 2> "$work/bench.err" ||
              { cat "$work/bench.err"; fail "bench --block $1"; }; }
  opts=$(SPARSECL_SHIPPED_TUNING=off bench 32 | sed -n 's/^[[:space:]]*"kernel_options":[[:space:]]*"\(.*\)",$/\1/p')
  params=$(printf '%s\n' $opts | sed -n 's/^-D\([A-Z_]*\)=\([0-9]*\)$/\1 \2/p' | grep -v '^D \|^BLOCK ' |
           awk '{ n = tolower($1); v = $2; if (n == "stage_q") v = 1 - v; printf "%s\"%s\": %s", (NR > 1 ? ", " : ""), n, v }')
  stage_q=$(printf '%s\n' $opts | sed -n 's/^-DSTAGE_Q=//p')
  [ -n "$params" ] && [ -n "$stage_q" ] || fail "no kernel options from bench: $opts"
  wide=$(printf '%s' "$params" | sed 's/"bq": [0-9]*/"bq": 64/')
  cat > "$tuning/$slug.json" <<JSON
{"format": "sparsecl-tuning", "version": 1, "device": "$dev", "entries": [
 {"kernel": "attn_fwd", "variant": "simt", "direction": "forward", "head_dim": 64, "block": 32, "dtype": "f32", "params": {$params}},
 {"kernel": "attn_fwd", "variant": "simt", "direction": "forward", "head_dim": 64, "block": 16, "dtype": "f32", "params": {$wide}}]}
JSON
  out=$(bench 32)
  echo "$out" | grep -q "\"kernel_params_from\":[[:space:]]*\"$tuning/$slug.json (d=64 block=32 f32, exact device)" ||
    { echo "$out"; fail "the plan does not take the database in the moved prefix"; }
  echo "$out" | grep -q -- "-DSTAGE_Q=$((1 - stage_q))" || { echo "$out"; fail "the plan does not use the database's parameters"; }
  echo "plan (block 32): $tuning/$slug.json, exact device"
  out=$(bench 16)
  echo "$out" | grep -q '"kernel_params_from":[[:space:]]*"built-in' || { echo "$out"; fail "an invalid entry was used"; }
  "$cli" info > "$work/info.txt" 2>&1
  grep -q "attn_fwd simt d=64 block=32 f32 *$tuning/$slug.json (d=64 block=32 f32, exact device)" "$work/info.txt" ||
    { cat "$work/info.txt"; fail "info does not say what plans use for block 32"; }
  grep -q "attn_fwd simt d=64 block=16 f32 *built-in [CG]PU defaults: passed over $tuning/$slug.json: .*bq" "$work/info.txt" ||
    { cat "$work/info.txt"; fail "info does not say that block 16 falls back to the defaults, and why"; }
  grep "block=16" "$work/info.txt"
  # The static archive through pkg-config --static: links without libsparsecl.so, runs.
  lib=$(libdir "$moved")
  export PKG_CONFIG_PATH="$lib/pkgconfig"
  cc=${CC:-cc}
  flags=$(pkg-config --cflags sparsecl_static) libs=$(pkg-config --static --libs sparsecl_static) ||
    fail "pkg-config sparsecl_static"
  echo "pkg-config --static --libs sparsecl_static: $libs"
  ! echo "$libs" | grep -q -- '-lsparsecl\( \|$\)' || fail "the static flags name the shared library too"
  $cc -std=c11 -D_POSIX_C_SOURCE=200809L $flags "$src/examples/embed_attention.c" $libs -o "$work/embed_static" \
    > "$work/link.log" 2>&1 || { cat "$work/link.log"; fail "static example does not link"; }
  ! ldd "$work/embed_static" | grep -q libsparsecl || { ldd "$work/embed_static"; fail "static example loads libsparsecl.so"; }
  "$work/embed_static" 128 || fail "static example"
  # The transformer block's static archive (CLBlast, libstdc++ after it) and its shared library;
  # the executable's run path names the moved lib/ only for its own needs (RUNPATH is not
  # inherited), so libsparsecl_block.so finds libsparsecl.so through its own $ORIGIN.
  libs=$(pkg-config --static --libs sparsecl_block_static) || fail "pkg-config sparsecl_block_static"
  echo "pkg-config --static --libs sparsecl_block_static: $libs"
  $cc -std=c11 -D_POSIX_C_SOURCE=200809L $flags "$src/examples/transformer_block.c" $libs -o "$work/block_static" \
    > "$work/link.log" 2>&1 || { cat "$work/link.log"; fail "static block example does not link"; }
  ! ldd "$work/block_static" | grep -q libsparsecl || { ldd "$work/block_static"; fail "static block example loads libsparsecl"; }
  "$work/block_static" --seq 128 || fail "static block example"
  $cc -std=c11 -D_POSIX_C_SOURCE=200809L $(pkg-config --cflags sparsecl_block) "$src/examples/transformer_block.c" \
    $(pkg-config --libs sparsecl_block) -lm -Wl,--enable-new-dtags,-rpath,"$lib" -o "$work/block_shared" \
    > "$work/link.log" 2>&1 || { cat "$work/link.log"; fail "shared block example does not link"; }
  env -u LD_LIBRARY_PATH "$work/block_shared" --seq 128 || { ldd "$work/block_shared"; fail "shared block example"; }
  shared=$(pkg-config --static --libs sparsecl)
  # The shared library finds the moved prefix's databases relative to itself (lib/../share), in a
  # program that lies outside the prefix.
  cat > "$work/plan_source.c" <<'C'
#include <sparsecl.h>
#include <stdio.h>
int main(void)
{
    scl_runtime *rt = NULL;
    scl_pattern *pat = NULL;
    scl_plan *plan = NULL;
    scl_shape shape = {1, 1, 1, 64, 64, 64, 32, 0, 0};
    if (scl_runtime_create(NULL, &rt) != SCL_OK || scl_pattern_create(rt, "causal", &pat) != SCL_OK ||
        scl_plan_create(rt, pat, &shape, SCL_F32, &plan) != SCL_OK) {
        fprintf(stderr, "%s\n", scl_last_error_message(rt));
        return 1;
    }
    printf("%s\n", scl_plan_kernel_source(plan));
    scl_plan_destroy(plan);
    scl_pattern_destroy(pat);
    scl_runtime_destroy(rt);
    return 0;
}
C
  $cc -std=c11 $(pkg-config --cflags sparsecl) "$work/plan_source.c" $shared -o "$work/plan_source" \
    > "$work/link.log" 2>&1 || { cat "$work/link.log"; fail "shared example does not link"; }
  from=$(LD_LIBRARY_PATH="$lib" "$work/plan_source") || fail "shared example: $from"
  echo "shared library, plan: $from"
  case $from in "$tuning/$slug.json (d=64 block=32 f32, exact device)"*) ;; *) fail "libsparsecl.so does not find $tuning" ;; esac
  ! echo "$shared" | grep -q sparsecl_static || fail "sparsecl.pc names the static archive: $shared"
  ;;
links)
  core=$2 block=$3
  [ -e "$core" ] && [ -e "$block" ] || fail "no such library: $core $block"
  echo "$core links: $(needed "$core" | tr '\n' ' ')"
  echo "$block links: $(needed "$block" | tr '\n' ' ')"
  ! needed "$core" | grep -Eq 'clblast|stdc\+\+' || fail "$core links CLBlast or libstdc++ (it belongs in libsparsecl_block)"
  needed "$core" | grep -q '^libOpenCL\.so' || fail "$core does not link the OpenCL ICD loader"
  needed "$block" | grep -q '^libclblast' || fail "$block does not link CLBlast"
  needed "$block" | grep -q '^libsparsecl\.so' || fail "$block does not link libsparsecl"
  ;;
*) fail "unknown mode $mode" ;;
esac
