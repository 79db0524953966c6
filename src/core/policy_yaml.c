/* YAML policy files.  libyaml's event stream is folded into a small tree that
 * remembers each node's line, then decoded against the schema in policy.c so
 * that every complaint names the file, the line and the full key path.
 * Aliases are refused (no billion-laughs), and depth and size are bounded:
 * policy files may come from less trusted places than the binary. */
#include "error.h"
#include "policy.h"

#include "base/cleanup.h"
#include "base/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 16
#define MAX_NODES 100000
#define MAX_FILE  (4u << 20)

enum ykind { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
        enum ykind kind;
        int line;
        char *value;         /* scalars */
        struct ynode **kids; /* maps: key, value, key, value ... */
        size_t n, alloc;
};

struct yctx {
        const char *file;
        struct abox_error *err;
        size_t nodes;
};

static void ynode_free(struct ynode *n)
{
        if (!n)
                return;
        free(n->value);
        /* kids[0..n) are all set: build() fills one before n grows. */
        for (size_t i = 0; i < n->n; i++)
                ynode_free(n->kids[i]); // NOLINT(clang-analyzer-core.CallAndMessage)
        free(n->kids);
        free(n);
}

static int fail(struct yctx *c, int line, const char *path, const char *msg)
{
        if (path && *path)
                return abox_error_set(c->err, -EINVAL, "%s:%d: %s: %s", c->file, line, path, msg);
        return abox_error_set(c->err, -EINVAL, "%s:%d: %s", c->file, line, msg);
}

static int next_event(yaml_parser_t *parser, yaml_event_t *ev, struct yctx *c)
{
        if (yaml_parser_parse(parser, ev))
                return 0;
        return fail(c, (int)parser->problem_mark.line + 1, NULL,
                    parser->problem ? parser->problem : "invalid YAML");
}

/* Builds the node that begins with *ev (consumed).  Recursion is bounded by
 * MAX_DEPTH, so hostile nesting cannot exhaust the stack. */
static int build(yaml_parser_t *parser, yaml_event_t *ev, int depth, struct yctx *c,
                 struct ynode **ret)
{
        int line = (int)ev->start_mark.line + 1;
        if (depth > MAX_DEPTH)
                return fail(c, line, NULL, "nested too deeply");
        if (++c->nodes > MAX_NODES)
                return fail(c, line, NULL, "too many nodes");
        struct ynode *n = calloc(1, sizeof *n);
        if (!n)
                return abox_error_set(c->err, -ENOMEM, "out of memory");
        n->line = line;
        int r = 0;
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                n->kind = Y_SCALAR;
                n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
                if (!n->value)
                        r = abox_error_set(c->err, -ENOMEM, "out of memory");
                else if (strlen(n->value) != ev->data.scalar.length)
                        r = fail(c, line, NULL, "NUL byte in a value");
                break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
                n->kind = ev->type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP;
                yaml_event_type_t end =
                        n->kind == Y_SEQ ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
                for (;;) {
                        yaml_event_t kid;
                        r = next_event(parser, &kid, c);
                        if (r < 0)
                                break;
                        if (kid.type == end) {
                                yaml_event_delete(&kid);
                                break;
                        }
                        if (n->n == n->alloc) {
                                size_t want = n->alloc ? n->alloc * 2 : 8;
                                /* an array of node pointers */
                                struct ynode **kids = realloc(
                                        n->kids,
                                        want * sizeof *kids); // NOLINT(bugprone-sizeof-expression)
                                if (!kids) {
                                        yaml_event_delete(&kid);
                                        r = abox_error_set(c->err, -ENOMEM, "out of memory");
                                        break;
                                }
                                n->kids = kids;
                                n->alloc = want;
                        }
                        r = build(parser, &kid, depth + 1, c, &n->kids[n->n]);
                        yaml_event_delete(&kid);
                        if (r < 0)
                                break;
                        n->n++;
                }
                break;
        }
        case YAML_ALIAS_EVENT:
                r = fail(c, line, NULL, "YAML aliases are not supported in policy files");
                break;
        default: r = fail(c, line, NULL, "unexpected YAML structure"); break;
        }
        if (r < 0) {
                ynode_free(n);
                return r;
        }
        *ret = n;
        return 0;
}

static int parse_tree(const char *text, size_t len, struct yctx *c, struct ynode **ret)
{
        yaml_parser_t parser;
        yaml_event_t ev;
        struct ynode *root = NULL;
        int r = 0;
        if (!yaml_parser_initialize(&parser))
                return abox_error_set(c->err, -ENOMEM, "out of memory");
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        /* stream start, document start, the root, document end, stream end */
        for (int state = 0; r == 0 && state < 5;) {
                r = next_event(&parser, &ev, c);
                if (r < 0)
                        break;
                int line = (int)ev.start_mark.line + 1;
                if (state == 1 && ev.type == YAML_STREAM_END_EVENT) {
                        r = fail(c, line, NULL, "the file is empty");
                } else if (state == 2) {
                        r = build(&parser, &ev, 0, c, &root);
                        state++;
                } else if (state == 3 && ev.type != YAML_DOCUMENT_END_EVENT) {
                        r = fail(c, line, NULL, "only one YAML document is allowed");
                } else if (state == 4 && ev.type != YAML_STREAM_END_EVENT) {
                        r = fail(c, line, NULL, "only one YAML document is allowed");
                } else {
                        state++;
                }
                yaml_event_delete(&ev);
        }
        yaml_parser_delete(&parser);
        if (r < 0) {
                ynode_free(root);
                return r;
        }
        *ret = root;
        return 0;
}

static int parse_bool(const char *s, bool *ret)
{
        static const char *const yes[] = { "true", "True", "TRUE", "yes", "on" };
        static const char *const no[] = { "false", "False", "FALSE", "no", "off" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcmp(s, yes[i]) == 0)
                        return *ret = true, 0;
                if (strcmp(s, no[i]) == 0)
                        return *ret = false, 0;
        }
        return -EINVAL;
}

static int set_scalar(struct yctx *c, struct abox_policy *p, const struct field *f,
                      const struct ynode *v, const char *path)
{
        if (v->kind != Y_SCALAR)
                return fail(c, v->line, path, "expected a single value");
        if (v->value[0] == '\0')
                return fail(c, v->line, path, "needs a value");
        struct abox_error inner = { 0 };
        int r = policy_field_set(p, f, v->value, &inner);
        if (r < 0) {
                /* The field's message starts with its own name; keep what follows it. */
                const char *msg = inner.msg;
                size_t n = strlen(f->name);
                if (strncmp(msg, f->name, n) == 0 && msg[n] == ':')
                        msg += n + 2;
                return fail(c, v->line, path, msg);
        }
        return 0;
}

static int decode_overrides(struct yctx *c, struct abox_policy *p, const struct ynode *v,
                            const char *path)
{
        policy_field_clear(p, policy_field_find(SECTION_POLICY, "module_overrides"));
        if (v->kind != Y_MAP)
                return fail(c, v->line, path, "expected a mapping of module: {allowed, functions}");
        for (size_t i = 0; i + 1 < v->n; i += 2) {
                const struct ynode *k = v->kids[i], *o = v->kids[i + 1];
                if (k->kind != Y_SCALAR || o->kind != Y_MAP)
                        return fail(c, k->line, path, "expected module: {allowed, functions}");
                bool allowed = false;
                struct strlist fns = { 0 };
                int r = 0;
                for (size_t j = 0; r == 0 && j + 1 < o->n; j += 2) {
                        const struct ynode *ok = o->kids[j], *ov = o->kids[j + 1];
                        const char *name = ok->kind == Y_SCALAR ? ok->value : "";
                        if (strcmp(name, "allowed") == 0) {
                                if (ov->kind != Y_SCALAR || parse_bool(ov->value, &allowed) < 0)
                                        r = fail(c, ov->line, path,
                                                 "allowed: expected true or false");
                        } else if (strcmp(name, "functions") == 0 && ov->kind == Y_SEQ) {
                                for (size_t m = 0; r == 0 && m < ov->n; m++)
                                        if (ov->kids[m]->kind != Y_SCALAR)
                                                r = fail(c, ov->kids[m]->line, path,
                                                         "functions: expected names");
                                        else if (strlist_append(&fns, ov->kids[m]->value) < 0)
                                                r = abox_error_set(c->err, -ENOMEM,
                                                                   "out of memory");
                        } else {
                                r = fail(c, ok->line, path,
                                         "unknown key (expected allowed, functions: [...])");
                        }
                }
                if (r == 0) {
                        struct abox_error inner = { 0 };
                        if (policy_set_override(p, k->value, allowed, &fns, &inner) < 0)
                                r = inner.code == -ENOMEM
                                            ? abox_error_set(c->err, -ENOMEM, "out of memory")
                                            : fail(c, k->line, path, inner.msg);
                }
                strlist_done(&fns);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int decode_field(struct yctx *c, struct abox_policy *p, const struct field *f,
                        const struct ynode *v, const char *path)
{
        switch (f->type) {
        case FIELD_LIST:
        case FIELD_MOUNTS:
                /* A file's list replaces what was there; `key:` alone is empty. */
                policy_field_clear(p, f);
                if (v->kind == Y_SCALAR && v->value[0] == '\0')
                        return 0;
                if (v->kind != Y_SEQ)
                        return fail(c, v->line, path, "expected a list");
                for (size_t i = 0; i < v->n; i++) {
                        int r = set_scalar(c, p, f, v->kids[i], path);
                        if (r < 0)
                                return r;
                }
                return 0;
        case FIELD_ENV:
        case FIELD_HOSTS:
                policy_field_clear(p, f);
                if (v->kind != Y_MAP)
                        return fail(c, v->line, path, "expected a mapping of NAME: value");
                for (size_t i = 0; i + 1 < v->n; i += 2) {
                        const struct ynode *k = v->kids[i], *val = v->kids[i + 1];
                        /* network_hosts may give a name several addresses. */
                        bool many = f->type == FIELD_HOSTS && val->kind == Y_SEQ;
                        if (k->kind != Y_SCALAR || (val->kind != Y_SCALAR && !many))
                                return fail(c, k->line, path,
                                            f->type == FIELD_HOSTS
                                                    ? "expected NAME: address or NAME: [addresses]"
                                                    : "expected NAME: value");
                        for (size_t j = 0; j < (many ? val->n : 1); j++) {
                                const struct ynode *one = many ? val->kids[j] : val;
                                if (one->kind != Y_SCALAR)
                                        return fail(c, one->line, path, "expected an address");
                                _cleanup_free_ char *kv = NULL;
                                if (asprintf(&kv, "%s=%s", k->value, one->value) < 0)
                                        return abox_error_set(c->err, -ENOMEM, "out of memory");
                                struct ynode tmp = { .kind = Y_SCALAR,
                                                     .line = one->line,
                                                     .value = kv };
                                int r = set_scalar(c, p, f, &tmp, path);
                                if (r < 0)
                                        return r;
                        }
                }
                return 0;
        case FIELD_OVERRIDES: return decode_overrides(c, p, v, path);
        case FIELD_SECRETS:
                policy_field_clear(p, f);
                if (v->kind != Y_MAP)
                        return fail(
                                c, v->line, path,
                                "expected NAME: {from_env: HOSTVAR} or NAME: {from_file: PATH}");
                for (size_t i = 0; i + 1 < v->n; i += 2) {
                        const struct ynode *k = v->kids[i], *src = v->kids[i + 1];
                        if (k->kind != Y_SCALAR || src->kind != Y_MAP || src->n != 2 ||
                            src->kids[0]->kind != Y_SCALAR || src->kids[1]->kind != Y_SCALAR ||
                            (strcmp(src->kids[0]->value, "from_env") != 0 &&
                             strcmp(src->kids[0]->value, "from_file") != 0))
                                return fail(c, k->line, path,
                                            "expected NAME: {from_env: HOSTVAR} or "
                                            "NAME: {from_file: PATH}");
                        _cleanup_free_ char *spec = NULL;
                        if (asprintf(&spec, "%s=%s:%s", k->value,
                                     src->kids[0]->value[5] == 'e' ? "env" : "file",
                                     src->kids[1]->value) < 0)
                                return abox_error_set(c->err, -ENOMEM, "out of memory");
                        struct ynode tmp = { .kind = Y_SCALAR, .line = k->line, .value = spec };
                        int r = set_scalar(c, p, f, &tmp, path);
                        if (r < 0)
                                return r;
                }
                return 0;
        default: return set_scalar(c, p, f, v, path);
        }
}

static int decode_section(struct yctx *c, struct abox_policy *p, const struct ynode *map,
                          enum field_section section, const char *prefix);
static int decode_field(struct yctx *c, struct abox_policy *p, const struct field *f,
                        const struct ynode *v, const char *path);

/* audit: {path: ..., max_size: ...}: the fields "audit.path", "audit.max_size". */
static int decode_audit(struct yctx *c, struct abox_policy *p, const struct ynode *v,
                        const char *path)
{
        if (v->kind != Y_MAP)
                return fail(c, v->line, path, "expected {path: FILE or stderr, max_size: SIZE}");
        for (size_t i = 0; i + 1 < v->n; i += 2) {
                char name[64], sub[300];
                const struct ynode *k = v->kids[i];
                if (k->kind != Y_SCALAR)
                        return fail(c, k->line, path, "keys must be plain names");
                snprintf(name, sizeof name, "audit.%.50s", k->value);
                snprintf(sub, sizeof sub, "%s.%s", path, k->value);
                const struct field *f = policy_field_find(SECTION_POLICY, name);
                if (!f)
                        return fail(c, k->line, sub, "unknown key (expected path, max_size)");
                int r = decode_field(c, p, f, v->kids[i + 1], sub);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int decode_key(struct yctx *c, struct abox_policy *p, const struct ynode *k,
                      const struct ynode *v, enum field_section section, const char *prefix)
{
        char path[256];
        if (k->kind != Y_SCALAR)
                return fail(c, k->line, prefix, "keys must be plain names");
        snprintf(path, sizeof path, "%s.%s", prefix, k->value);
        if (section == SECTION_SANDBOX && strcmp(k->value, "security_policy") == 0)
                return decode_section(c, p, v, SECTION_POLICY, path);
        if (section == SECTION_POLICY && strcmp(k->value, "audit") == 0)
                return decode_audit(c, p, v, path);
        const struct field *f = policy_field_find(section, k->value);
        if (!f) {
                const struct field *other = policy_field_find(!section, k->value);
                char msg[200];
                if (other)
                        snprintf(msg, sizeof msg, "belongs under %s",
                                 section == SECTION_SANDBOX
                                         ? "security_policy"
                                         : "agent_sandbox (not security_policy)");
                else
                        snprintf(msg, sizeof msg, "unknown key (see docs/policy.md)");
                return fail(c, k->line, path, msg);
        }
        return decode_field(c, p, f, v, path);
}

static int decode_section(struct yctx *c, struct abox_policy *p, const struct ynode *map,
                          enum field_section section, const char *prefix)
{
        if (map->kind != Y_MAP)
                return fail(c, map->line, prefix, "expected a mapping of keys");
        for (size_t i = 0; i + 1 < map->n; i += 2) {
                for (size_t j = 0; j < i; j += 2)
                        if (map->kids[i]->kind == Y_SCALAR && map->kids[j]->kind == Y_SCALAR &&
                            strcmp(map->kids[i]->value, map->kids[j]->value) == 0)
                                return fail(c, map->kids[i]->line, prefix, "a key appears twice");
                int r = decode_key(c, p, map->kids[i], map->kids[i + 1], section, prefix);
                if (r < 0)
                        return r;
        }
        return 0;
}

int abox_policy_load_string(struct abox_policy *p, const char *yaml, size_t len, const char *name,
                            struct abox_error *err)
{
        struct yctx c = { .file = name ? name : "<policy>", .err = err };
        struct ynode *root = NULL;
        if (len > MAX_FILE)
                return abox_error_set(err, -EFBIG, "%s: larger than 4 MiB", c.file);
        int r = parse_tree(yaml, len, &c, &root);
        if (r < 0)
                return r;
        if (!root) /* parse_tree() makes a root whenever it succeeds */
                return abox_error_set(err, -EINVAL, "%s: no document", c.file);
        if (root->kind != Y_MAP)
                r = fail(&c, root->line, NULL, "expected a mapping with the key agent_sandbox");
        else if (root->n > 2)
                r = fail(&c, root->kids[2]->line, NULL,
                         "only one top-level key (agent_sandbox) is allowed");
        for (size_t i = 0; r == 0 && i + 1 < root->n; i += 2) {
                const struct ynode *k = root->kids[i];
                if (k->kind != Y_SCALAR || strcmp(k->value, "agent_sandbox") != 0)
                        r = fail(&c, k->line, k->kind == Y_SCALAR ? k->value : NULL,
                                 "unknown top-level key (expected agent_sandbox)");
                else
                        r = decode_section(&c, p, root->kids[i + 1], SECTION_SANDBOX,
                                           "agent_sandbox");
        }
        ynode_free(root);
        return r;
}

int abox_policy_load(struct abox_policy *p, const char *path, struct abox_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = read_file_at(AT_FDCWD, path, MAX_FILE, &text, &len);
        if (r == -EFBIG)
                return abox_error_set(err, r, "%s: larger than 4 MiB", path);
        if (r < 0)
                return abox_error_set(err, r, "%s: cannot read: %s", path, strerror(-r));
        return abox_policy_load_string(p, text, len, path, err);
}
