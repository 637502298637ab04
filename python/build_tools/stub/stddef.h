/* Empty stand-in for <stddef.h> (gen_cffi.py): cffi knows the standard integer types. */
