/* Launch recipes.  Python runs the embedded kernel (kernel.py) under the
 * system interpreter in isolated mode (-I: no user site, no PYTHON*
 * variables, no script directory on sys.path), with the source on a sealed
 * memfd so that any bytes and any size arrive intact.  Shell runs /bin/sh -c.
 * Programs run as given, found on the sandbox's PATH. */
#include "runtime.h"

#include "base/cleanup.h"
#include "base/fd.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern const char runtime_python_kernel[];
extern const unsigned long runtime_python_kernel_len;
extern const char runtime_python_kernel_magic[];
extern const char runtime_python_kernel_code[];
extern const unsigned long runtime_python_kernel_code_len;
extern const char runtime_python_policy[];
extern const unsigned long runtime_python_policy_len;

/* Where the boot line and kernel.py find them; the supervisor writes them
 * into the sandbox's root, which is read-only by the time Python runs. */
#define PY_DIR "etc/agentbox/"

size_t runtime_python_files(bool module_rules, struct runtime_file ret[RUNTIME_PYTHON_FILES])
{
        ret[0] = (struct runtime_file){ PY_DIR "kernel.marshal", runtime_python_kernel_code,
                                        runtime_python_kernel_code_len };
        ret[1] = (struct runtime_file){ PY_DIR "kernel.py", runtime_python_kernel,
                                        runtime_python_kernel_len };
        ret[2] = (struct runtime_file){ PY_DIR "policy.py", runtime_python_policy,
                                        runtime_python_policy_len };
        return module_rules ? 3 : 2;
}

#define MAX_SHELL_BYTES (100u << 10) /* one argv string is capped at 128 KiB */
#define MAX_CODE_BYTES  (64u << 20)

static int sealed_memfd(const char *data, size_t len)
{
        _cleanup_close_ int fd = memfd_create("agentbox-code", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, data, len);
        if (r < 0)
                return r;
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
            lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* The interpreter's argv: the boot line and the bytecode magic it expects,
 * the kernel's mode ("cell" or "session"), the value cap, the modules to
 * preload ("a,b.c"; empty for none), and — only when there are module
 * rules — the policy. */
static int python_argv(const char *mode, size_t max_value_bytes, const char *preload,
                       const char *module_spec, struct runtime_launch *ret)
{
        if (asprintf(&ret->owned[0], "%zu", max_value_bytes) < 0) {
                ret->owned[0] = NULL;
                return -ENOMEM;
        }
        if (module_spec && !(ret->owned[1] = strdup(module_spec)))
                return -ENOMEM;
        if (!(ret->owned[2] = strdup(preload ? preload : "")))
                return -ENOMEM;
        /* The kernel runs under its own file name, so the module guard can
         * tell its frames from the user's (exec'd strings are "<string>",
         * like a bare -c would be).  Its code object, compiled at build
         * time by this interpreter, is loaded when the bytecode magic
         * matches (no compile on the start path); else the source is
         * compiled.  Both come from files in the root, not from argv:
         * Python decodes every argv string at start, about 1.5 ms for the
         * 40 KB the two took. */
        static char boot[] = "import sys,marshal,_frozen_importlib_external as f;"
                             "m=sys.argv.pop(1);d='/" PY_DIR "kernel.';"
                             "exec(marshal.loads(open(d+'marshal','rb').read()) "
                             "if m and m==f.MAGIC_NUMBER.hex() "
                             "else compile(open(d+'py','rb').read(),'<agentbox-kernel>','exec'))";
        /* A session's kernel starts without the site module (-S) and sets
         * up what site would, minus .pth import lines and sitecustomize
         * (kernel.py's _lean_site): half of a Python start, on the path of
         * every warm sandbox. */
        bool session = strcmp(mode, "session") == 0;
        char *argv[] = { "/usr/bin/python3",
                         session ? "-IBS" : "-IB",
                         "-c",
                         boot,
                         (char *)runtime_python_kernel_magic,
                         (char *)mode,
                         ret->owned[0],
                         ret->owned[2],
                         ret->owned[1],
                         NULL };
        _Static_assert(sizeof argv == sizeof ret->argv, "the launch holds the whole argv");
        memcpy(ret->argv, argv, sizeof argv);
        return 0;
}

int runtime_prepare_session(size_t max_value_bytes, const char *preload, const char *module_spec,
                            struct runtime_launch *ret, struct abox_error *err)
{
        *ret = (struct runtime_launch){ .code_fd = -1, .result_rd = -1, .result_wr = -1 };
        int r = python_argv("session", max_value_bytes, preload, module_spec, ret);
        if (r < 0) {
                runtime_done(ret);
                return abox_error_set(err, r, "out of memory");
        }
        return 0;
}

int runtime_code_memfd(const char *code, size_t len, struct abox_error *err)
{
        if (len > MAX_CODE_BYTES)
                return abox_error_set(err, -E2BIG, "the code is larger than 64 MiB");
        int fd = sealed_memfd(code ? code : "", len);
        return fd < 0 ? abox_error_set(err, fd, "cannot pass the code: %s", strerror(-fd)) : fd;
}

int runtime_check_shell(const char *code, size_t len, struct abox_error *err)
{
        if (!code || memchr(code, '\0', len))
                return abox_error_set(err, -EINVAL, "the shell command contains a NUL byte");
        if (len > MAX_SHELL_BYTES)
                return abox_error_set(err, -E2BIG, "the shell command is longer than 100 KiB");
        return 0;
}

int runtime_prepare(const struct abox_request *req, size_t max_value_bytes, const char *module_spec,
                    struct runtime_launch *ret, struct abox_error *err)
{
        *ret = (struct runtime_launch){ .code_fd = -1, .result_rd = -1, .result_wr = -1 };
        switch (req->language) {
        case ABOX_LANG_PYTHON: {
                int fd = runtime_code_memfd(req->code, req->code_len, err);
                if (fd < 0)
                        return fd;
                ret->code_fd = fd;
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0) {
                        runtime_done(ret);
                        return abox_error_set(err, -errno, "pipe: %s", strerror(errno));
                }
                ret->result_rd = p[0];
                ret->result_wr = p[1];
                int r = python_argv("cell", max_value_bytes, NULL, module_spec, ret);
                if (r < 0) {
                        runtime_done(ret);
                        return abox_error_set(err, r, "out of memory");
                }
                return 0;
        }
        case ABOX_LANG_SHELL: {
                int r = runtime_check_shell(req->code, req->code_len, err);
                if (r < 0)
                        return r;
                if (!(ret->owned[0] = strndup(req->code, req->code_len)))
                        return abox_error_set(err, -ENOMEM, "out of memory");
                ret->argv[0] = "/bin/sh";
                ret->argv[1] = "-c";
                ret->argv[2] = ret->owned[0];
                return 0;
        }
        case ABOX_LANG_PROGRAM: {
                size_t n = 0;
                while (req->argv && req->argv[n])
                        n++;
                if (n == 0 || req->argv[0][0] == '\0')
                        return abox_error_set(err, -EINVAL, "no program to run");
                return 0; /* the caller passes req->argv through */
        }
        }
        return abox_error_set(err, -EINVAL, "unknown language");
}

void runtime_done(struct runtime_launch *l)
{
        safe_close(l->code_fd);
        safe_close(l->result_rd);
        safe_close(l->result_wr);
        for (size_t i = 0; i < ELEMENTSOF(l->owned); i++)
                free(l->owned[i]);
        *l = (struct runtime_launch){ .code_fd = -1, .result_rd = -1, .result_wr = -1 };
}
