"""Generate the C source of the sparsecl._sparsecl extension module from sparsecl.h (cffi API mode).

The declarations are not copied by hand: the C preprocessor expands sparsecl.h against a stub
<CL/cl.h> (build_tools/stub: the OpenCL types as cffi's opaque handles and "int..." integers),
the export attributes are dropped, and the result is handed to cffi.  The emitted C includes the
real sparsecl.h, so the compiler checks every struct layout, enum value and signature against it.

usage: gen_cffi.py --header sparsecl.h --stub DIR --cc CC --out _sparsecl.c
"""
import argparse
import re
import subprocess
import sys

import cffi

ATTRIBUTE = re.compile(r"__attribute__\s*\(\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\)")


def declarations(header, stub, cc):
    cmd = [cc, "-E", "-P", "-nostdinc", "-I", stub, "-D__SCL_CFFI__", header]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    text = ATTRIBUTE.sub("", text)
    return "\n".join(line for line in text.splitlines() if line.strip())


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--header", required=True)
    ap.add_argument("--stub", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--out", required=True)
    ap.add_argument("--print-cdef", action="store_true", help="print the declarations and exit")
    a = ap.parse_args(argv)
    cdef = declarations(a.header, a.stub, a.cc)
    if a.print_cdef:
        print(cdef)
        return 0
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source("sparsecl._sparsecl", '#include "sparsecl.h"\n')
    ffi.emit_c_code(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
