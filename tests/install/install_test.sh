#!/bin/sh
# Install tests: `cmake --install` into a temporary prefix, then the examples configured, built
# and run against that prefix only.
#   install_test.sh install   BUILD_DIR PREFIX             install, check files and exported symbols
#   install_test.sh cmake     SOURCE_DIR PREFIX WORK       examples through find_package(sparsecl)
#   install_test.sh pkgconfig SOURCE_DIR PREFIX WORK       examples through pkg-config (sparsecl.pc)
#   install_test.sh python    SOURCE_DIR PREFIX            ctypes example (exit 77: NumPy missing)
set -eu
mode=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
libdir() { for d in "$1/lib" "$1/lib64" "$1"/lib/*-linux-gnu; do [ -e "$d/libsparsecl.so" ] && { echo "$d"; return; }; done; echo "$1/lib"; }

case $mode in
install)
  build=$2 prefix=$3
  rm -rf "$prefix"
  cmake --install "$build" --prefix "$prefix" > "$prefix.log" 2>&1 || { cat "$prefix.log"; fail "cmake --install"; }
  lib=$(libdir "$prefix")
  for f in "$prefix/bin/sparsecl" "$prefix/include/sparsecl.h" "$prefix/include/sparsecl_block.h" \
           "$lib/libsparsecl.so" "$lib/libsparsecl_static.a" "$lib/pkgconfig/sparsecl.pc" \
           "$lib/cmake/sparsecl/sparseclConfig.cmake" "$lib/cmake/sparsecl/sparseclConfigVersion.cmake"; do
    [ -e "$f" ] || fail "not installed: $f"
  done
  [ -d "$prefix/share/sparsecl/tuning" ] || fail "tuning database directory not installed"
  echo "installed tuning databases: $(ls "$prefix/share/sparsecl/tuning" | grep -c '\.json$' || true)"
  # Only scl_* leaves the shared library, and every one of them is declared in a public header.
  syms=$(nm -D --defined-only "$lib/libsparsecl.so" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//')
  [ -n "$syms" ] || fail "no exported symbols found"
  bad=$(echo "$syms" | grep -v '^scl_' || true)
  [ -z "$bad" ] || fail "exported symbols outside scl_*: $bad"
  for s in $syms; do
    grep -q "\\b$s(" "$prefix/include/sparsecl.h" "$prefix/include/sparsecl_block.h" || fail "exported $s is not in a public header"
  done
  echo "exported symbols: $(echo "$syms" | wc -l), all scl_* and declared in the headers"
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
*) fail "unknown mode $mode" ;;
esac
