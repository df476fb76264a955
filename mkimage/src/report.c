#include "report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outfile.h"

const char *report_stage_name(enum report_stage s)
{
    static const char *const names[STAGE_COUNT] = {
        "fetch", "extract", "derive", "customize", "modules", "initramfs", "disk", "kernel",
    };
    return s < STAGE_COUNT ? names[s] : "?";
}

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->len + n + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* JSON string; bytes that are not printable ASCII are escaped as \u00XX so that a
 * path with odd bytes still yields valid JSON (not a faithful UTF-8 rendering). */
static void put_str(buf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            put(b, e, 2);
        } else if (*c < 0x20 || *c >= 0x7f) {
            putf(b, "\\u%04x", *c);
        } else {
            put(b, (const char *)c, 1);
        }
    }
    put(b, "\"", 1);
}

static void key(buf *b, const char *k, bool first)
{
    put(b, first ? "\n  " : ",\n  ", first ? 3 : 4);
    put_str(b, k);
    put(b, ": ", 2);
}

char *report_json(const variant_report *r)
{
    buf b = {0};
    put(&b, "{", 1);
    key(&b, "variant", true);
    put_str(&b, r->variant);
    key(&b, "hostname", false);
    put_str(&b, r->hostname);
    key(&b, "rootfs", false);
    put(&b, "{\"source\": ", 11);
    put_str(&b, r->rootfs_url);
    put(&b, ", \"sha256\": ", 12);
    put_str(&b, r->rootfs_sha256);
    put(&b, ", \"blake3\": ", 12);
    put_str(&b, r->rootfs_blake3);
    put(&b, "}", 1);
    key(&b, "kernel", false);
    put_str(&b, r->kernel_version);
    key(&b, "kernel_package", false);
    if (r->kernel_pkg_name) {
        put(&b, "{\"name\": ", 9);
        put_str(&b, r->kernel_pkg_name);
        put(&b, ", \"version\": ", 13);
        put_str(&b, r->kernel_pkg_version);
        put(&b, ", \"source\": ", 12);
        put_str(&b, r->kernel_pkg_url);
        put(&b, ", \"sha256\": ", 12);
        put_str(&b, r->kernel_pkg_sha256);
        put(&b, ", \"blake3\": ", 12);
        put_str(&b, r->kernel_pkg_blake3);
        put(&b, ", \"signed_by\": ", 15);
        put_str(&b, r->kernel_pkg_key);
        put(&b, "}", 1);
    } else {
        put(&b, "null", 4);
    }
    key(&b, "filesystem", false);
    put_str(&b, r->fs);
    key(&b, "seed", false);
    put_str(&b, r->seed);
    key(&b, "files", false);
    putf(&b, "%llu", (unsigned long long)r->files);
    key(&b, "entries", false);
    putf(&b, "%llu", (unsigned long long)r->entries);
    key(&b, "staged_bytes", false);
    putf(&b, "%llu", (unsigned long long)r->staged_bytes);
    key(&b, "qcow2_bytes", false);
    putf(&b, "%llu", (unsigned long long)r->qcow2_bytes);
    key(&b, "qcow2_sha256", false);
    put_str(&b, r->qcow2_sha256);
    key(&b, "rootfs_modules", false);
    putf(&b, "%llu", (unsigned long long)r->kernel_modules);
    key(&b, "initramfs_modules", false);
    putf(&b, "%llu", (unsigned long long)r->initramfs_modules);
    key(&b, "seconds", false);
    put(&b, "{", 1);
    for (int s = 0; s < STAGE_COUNT; s++)
        putf(&b, "%s\"%s\": %.3f", s ? ", " : "", report_stage_name(s), r->seconds[s]);
    put(&b, "}", 1);
    key(&b, "changed_paths", false);
    put(&b, "[", 1);
    for (size_t i = 0; r->changes && i < r->changes->n; i++) {
        put(&b, i ? ",\n    " : "\n    ", i ? 6 : 5);
        put_str(&b, r->changes->paths[i]);
    }
    put(&b, r->changes && r->changes->n ? "\n  ]" : "]", r->changes && r->changes->n ? 4 : 1);
    put(&b, "\n}\n", 3);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

int report_write(const char *path, const variant_report *r, mk_err *err)
{
    char *text = report_json(r);
    if (!text)
        return mk_fail(err, "%s: out of memory", path);
    mk_outfile o;
    if (outfile_open(&o, path, err) < 0) {
        free(text);
        return -1;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(o.fd, text + off, len - off);
        if (w < 0) {
            free(text);
            outfile_abort(&o);
            return mk_fail(err, "%s: cannot write", path);
        }
        off += (size_t)w;
    }
    free(text);
    return outfile_commit(&o, err);
}

static void human(char *out, size_t sz, uint64_t bytes)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(out, sz, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

void report_print_table(FILE *f, const variant_report *rs, size_t n)
{
    fprintf(f, "%-12s %8s %11s %11s  %-16s %8s\n", "variant", "files", "staged", "qcow2",
            "qcow2 sha256", "seconds");
    for (size_t i = 0; i < n; i++) {
        const variant_report *r = &rs[i];
        char staged[32], q[32];
        human(staged, sizeof staged, r->staged_bytes);
        human(q, sizeof q, r->qcow2_bytes);
        double total = 0;
        for (int s = STAGE_DERIVE; s < STAGE_COUNT; s++)
            total += r->seconds[s];
        fprintf(f, "%-12s %8llu %11s %11s  %.16s %8.2f\n", r->variant,
                (unsigned long long)r->files, staged, q, r->qcow2_sha256, total);
    }
}
