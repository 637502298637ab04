/* Empty stand-in for <stdint.h> (gen_cffi.py): cffi knows the standard integer types. */
