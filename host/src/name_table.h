/* Parsing a word of a fixed list (an enum's values by their names, an option's choices): one
 * look-up for every such table. */
#ifndef SCLI_NAME_TABLE_H
#define SCLI_NAME_TABLE_H

#include <string.h>

/* The position of name among names[0..n), or -1 (also for a NULL name). */
static inline int scli_name_index(const char *name, const char *const names[], int n)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

#endif
