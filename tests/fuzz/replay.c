/* Runs a fuzz target over every file of its corpus directories, so the
 * corpus is replayed by the normal test suite without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return -1;
        size_t alloc = 4096, len = 0;
        uint8_t *buf = malloc(alloc);
        for (size_t k; buf && (k = fread(buf + len, 1, alloc - len, f)) > 0;) {
                len += k;
                if (len == alloc) {
                        uint8_t *p = realloc(buf, alloc *= 2);
                        if (!p) {
                                free(buf);
                                buf = NULL;
                        }
                        buf = p;
                }
        }
        fclose(f);
        if (!buf)
                return -1;
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        return 0;
}

int main(int argc, char **argv)
{
        int files = 0;
        for (int i = 1; i < argc; i++) {
                DIR *d = opendir(argv[i]);
                if (!d) {
                        if (run_file(argv[i]) == 0)
                                files++;
                        continue;
                }
                for (struct dirent *de; (de = readdir(d));) {
                        if (de->d_name[0] == '.')
                                continue;
                        char path[4096];
                        snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
                        if (run_file(path) == 0)
                                files++;
                }
                closedir(d);
        }
        printf("replayed %d inputs\n", files);
        return files > 0 ? 0 : 1;
}
