#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "variant.h"
#include "xbps_index.h"
#include "void_default.h"

const char cli_usage[] =
    "usage: mkimage [--variant driver|filesystem|app|all]... [--rootfs URL|FILE]\n"
    "               [--sha256 HEX | --sha256sums URL|FILE] [--signature URL|FILE --pubkey KEY|FILE]\n"
    "               [--kernel DIR|PKG | --void-repo URL --kernel-series NAME]\n"
    "               [--bridge FILE] [--install SRC:DEST[:MODE]]...\n"
    "               [--variants-dir DIR] [--cache DIR] [--work DIR] [--fs btrfs|ext4]\n"
    "               [--size 5G] [--connect-timeout S] [--stall-timeout S] [--retries N]\n"
    "               [--quiet] --out DIR\n"
    "\n"
    "Builds bootable VM images from a rootfs tarball. For each variant V it writes\n"
    "OUT/V.qcow2, OUT/V.vmlinuz, OUT/V.initramfs and OUT/V.report.json, then prints a\n"
    "summary. Without --variant all three variants are built; without --rootfs the\n"
    "Void musl ROOTFS (pinned SHA-256) is downloaded. Without --kernel the newest\n"
    "package of the kernel series is taken from Void's repository and verified with\n"
    "the repository key that the rootfs trusts (/var/db/xbps/keys): its RSA signature\n"
    "(.sig2) and the index's SHA-256.\n"
    "\n"
    "  --variant NAME      driver, filesystem, app, all, or a NAME.ini in --variants-dir\n"
    "  --rootfs SRC        tarball: http(s):// or file:// URL, or a path\n"
    "  --sha256 HEX        expected SHA-256 of the tarball\n"
    "  --sha256sums SRC    checksum list to look the tarball up in (BSD or GNU format)\n"
    "  --signature SRC     minisign signature of the checksum list (needs --pubkey)\n"
    "  --pubkey KEY|FILE   minisign public key\n"
    "  --kernel DIR|PKG    kernel tree (boot/vmlinuz-VER, lib/modules/VER) or .deb/.xbps;\n"
    "                      overrides the repository kernel\n"
    "  --void-repo URL     xbps repository of the kernel package, default\n"
    "                      " VOID_DEFAULT_REPO_URL "\n"
    "  --kernel-series N   kernel package name in it (default " VOID_DEFAULT_KERNEL_SERIES ")\n"
    "  --bridge FILE       static revm-guestd, installed and enabled as revm-bridge\n"
    "  --install S:D[:M]   copy host file S to D in every image (mode M, octal)\n"
    "  --variants-dir DIR  where NAME.ini files live (default: <prefix>/lib/revm/variants)\n"
    "  --cache DIR         download cache (default: ~/.cache/revm/mkimage)\n"
    "  --work DIR          scratch space for the staged trees (default: /dev/shm when it\n"
    "                      has 4 GiB free, else inside OUT)\n"
    "  --fs TYPE           root filesystem, btrfs (default) or ext4\n"
    "  --size N[KMGT]      virtual disk size (default 5G)\n"
    "  --connect-timeout S give up connecting after S seconds (default 30)\n"
    "  --stall-timeout S   give up when a download sends nothing for S seconds (30)\n"
    "  --retries N         download attempts after the first failure (default 3)\n"
    "  --quiet             no progress or stage lines\n"
    "  --out DIR           output directory (created)\n";

int cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 0: break;
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    case 'T': case 't': shift = 40; end++; break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || v == 0 || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int add_variant(cli_opts *o, const char *name, mk_err *err)
{
    if (!strcmp(name, "all")) {
        static const char *const all[] = {"driver", "filesystem", "app"};
        for (size_t i = 0; i < 3; i++)
            if (add_variant(o, all[i], err) < 0)
                return -1;
        return 0;
    }
    if (!variant_name_valid(name))
        return mk_fail(err, "variant '%.40s': invalid name (expected driver, filesystem, app, "
                            "all or [a-z][a-z0-9_-]*)", name);
    for (size_t i = 0; i < o->n_variants; i++)
        if (!strcmp(o->variants[i], name))
            return 0;
    if (o->n_variants == CLI_MAX_VARIANTS)
        return mk_fail(err, "--variant: at most %d variants", CLI_MAX_VARIANTS);
    o->variants[o->n_variants++] = name;
    return 0;
}

int cli_parse(int argc, char **argv, cli_opts *o, mk_err *err)
{
    enum { O_ROOTFS = 256, O_SHA, O_SUMS, O_SIG, O_PUB, O_KERNEL, O_BRIDGE, O_INSTALL,
           O_VDIR, O_CACHE, O_WORK, O_FS, O_SIZE, O_OUT, O_VERSION, O_CTO, O_STO, O_RETRIES,
           O_REPO, O_SERIES };
    static const struct option longopts[] = {
        {"variant", required_argument, NULL, 'v'}, {"rootfs", required_argument, NULL, O_ROOTFS},
        {"sha256", required_argument, NULL, O_SHA}, {"sha256sums", required_argument, NULL, O_SUMS},
        {"signature", required_argument, NULL, O_SIG}, {"pubkey", required_argument, NULL, O_PUB},
        {"kernel", required_argument, NULL, O_KERNEL}, {"bridge", required_argument, NULL, O_BRIDGE},
        {"install", required_argument, NULL, O_INSTALL},
        {"variants-dir", required_argument, NULL, O_VDIR},
        {"cache", required_argument, NULL, O_CACHE}, {"work", required_argument, NULL, O_WORK},
        {"fs", required_argument, NULL, O_FS}, {"size", required_argument, NULL, O_SIZE},
        {"quiet", no_argument, NULL, 'q'}, {"out", required_argument, NULL, O_OUT},
        {"connect-timeout", required_argument, NULL, O_CTO},
        {"stall-timeout", required_argument, NULL, O_STO},
        {"retries", required_argument, NULL, O_RETRIES},
        {"void-repo", required_argument, NULL, O_REPO},
        {"kernel-series", required_argument, NULL, O_SERIES},
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->fs = "btrfs";
    o->size = 5ULL << 30;
    opterr = 0;
    optind = 0; /* glibc: full re-initialisation, so cli_parse can run twice (tests) */
    int c;
    while ((c = getopt_long(argc, argv, "+v:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': if (add_variant(o, optarg, err) < 0) return -1; break;
        case O_ROOTFS: o->rootfs = optarg; break;
        case O_SHA: o->sha256 = optarg; break;
        case O_SUMS: o->sums = optarg; break;
        case O_SIG: o->sig = optarg; break;
        case O_PUB: o->pubkey = optarg; break;
        case O_KERNEL: o->kernel = optarg; break;
        case O_BRIDGE: o->bridge = optarg; break;
        case O_REPO: o->void_repo = optarg; break;
        case O_SERIES: o->kernel_series = optarg; break;
        case O_INSTALL: {
            char s[PATH_MAX], d[PATH_MAX];
            unsigned m;
            if (install_spec_parse(optarg, s, sizeof s, d, sizeof d, &m, err) < 0)
                return -1;
            if (o->n_installs == CLI_MAX_INSTALLS)
                return mk_fail(err, "--install: at most %d files", CLI_MAX_INSTALLS);
            o->installs[o->n_installs++] = optarg;
            break;
        }
        case O_VDIR: o->variants_dir = optarg; break;
        case O_CACHE: o->cache = optarg; break;
        case O_WORK: o->work = optarg; break;
        case O_FS:
            if (strcmp(optarg, "btrfs") && strcmp(optarg, "ext4"))
                return mk_fail(err, "--fs %.32s: expected btrfs or ext4", optarg);
            o->fs = optarg;
            break;
        case O_SIZE:
            if (cli_parse_size(optarg, &o->size) < 0 || o->size < (64ULL << 20))
                return mk_fail(err, "--size %.32s: expected a size of at least 64M, e.g. 5G",
                               optarg);
            break;
        case O_OUT: o->out = optarg; break;
        case O_CTO:
        case O_STO:
        case O_RETRIES: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 0 || v > 3600 ||
                (c != O_RETRIES && v == 0))
                return mk_fail(err, "%s %.32s: expected a number%s",
                               c == O_CTO ? "--connect-timeout"
                               : c == O_STO ? "--stall-timeout" : "--retries",
                               optarg, c == O_RETRIES ? " from 0 to 3600"
                                                      : " of seconds from 1 to 3600");
            if (c == O_CTO)
                o->connect_timeout = v;
            else if (c == O_STO)
                o->stall_timeout = v;
            else
                o->retries = v == 0 ? -1 : (int)v;
            break;
        }
        case 'q': o->quiet = true; break;
        case 'h': fputs(cli_usage, stdout); return 1;
        case O_VERSION: puts("mkimage " MKIMAGE_VERSION); return 1;
        default:
            if (optopt && optopt < 256)
                return mk_fail(err, "-%c: unknown option or missing value (see --help)", optopt);
            return mk_fail(err, "%s: unknown option or missing value (see --help)",
                           argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mk_fail(err, "%s: unexpected argument (see --help)", argv[optind]);
    if (!o->out)
        return mk_fail(err, "--out: required (see --help)");
    if (!o->void_repo || !*o->void_repo)
        o->void_repo = VOID_DEFAULT_REPO_URL;
    if (!o->kernel_series)
        o->kernel_series = VOID_DEFAULT_KERNEL_SERIES;
    o->void_arch = VOID_DEFAULT_ARCH;
    if (!xbps_name_ok(o->kernel_series))
        return mk_fail(err, "--kernel-series %.64s: not a package name (e.g. linux6.12)",
                       o->kernel_series);
    if (o->sha256 && o->sums)
        return mk_fail(err, "--sha256 and --sha256sums: give one, not both");
    if ((o->sig != NULL) != (o->pubkey != NULL))
        return mk_fail(err, "--signature and --pubkey: give both or neither");
    if (o->sig && !o->sums)
        return mk_fail(err, "--signature: signs a checksum list, needs --sha256sums");
    if (!o->n_variants && add_variant(o, "all", err) < 0)
        return -1;
    if (!o->rootfs) {
        o->rootfs = VOID_DEFAULT_ROOTFS_URL;
        if (!o->sha256 && !o->sums)
            o->sha256 = VOID_DEFAULT_ROOTFS_SHA256;
    }
    return 0;
}
