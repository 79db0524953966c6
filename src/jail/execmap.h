#pragma once

#include <stddef.h>

#define EXEC_MAX_FILES 48

struct exec_map {
        char files[EXEC_MAX_FILES][256]; /* sandbox paths of executable files */
        unsigned n;
};

/* root: the system root as the host sees it ("" for the host's own). */
int exec_resolve_in_root(const char *root, const char *path, char *ret, size_t len);
int exec_find(const char *root, const char *name, char *ret, size_t len);
int exec_interpreters(const char *root, const char *file, char ret[2][256]);
/* Adds the file `name` runs as, with its interpreters; -E2BIG when full. */
int exec_map_add(struct exec_map *map, const char *root, const char *name);
