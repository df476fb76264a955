#include "pkg.h"

#include <stdio.h>
#include <string.h>

/* One row per manager and verb: the command prefix, the manager's "yes" flag (NULL when the
 * verb never asks), and whether the verb needs at least one argument. */
typedef struct pkg_row {
    const char *prefix[5];
    const char *yes;
    bool needs_args;
} pkg_row;

typedef struct pkg_manager_def {
    const char *name;
    const char *tool;            /* presence identifies the manager */
    const char *os_ids[6];       /* os-release ID / ID_LIKE words that use it */
    const char *noninteractive;  /* environment for unattended runs, or NULL */
    pkg_row rows[PKG_VERB_COUNT];
} pkg_manager_def;

static const pkg_manager_def managers[PKG_MANAGER_COUNT] = {
    [PKG_XBPS] = {
        "xbps", "xbps-install", {"void"}, NULL,
        {
            [PKG_INSTALL] = {{"xbps-install", "-S"}, "-y", true},
            [PKG_REMOVE] = {{"xbps-remove", "-R"}, "-y", true},
            [PKG_UPDATE] = {{"xbps-install", "-S"}, NULL, false},
            [PKG_UPGRADE] = {{"xbps-install", "-Su"}, "-y", false},
            [PKG_SEARCH] = {{"xbps-query", "-Rs"}, NULL, true},
            [PKG_SHOW] = {{"xbps-query", "-R"}, NULL, true},
            [PKG_LIST] = {{"xbps-query", "-l"}, NULL, false},
        }},
    [PKG_APT] = {
        "apt", "apt-get", {"debian", "ubuntu"}, "DEBIAN_FRONTEND=noninteractive",
        {
            [PKG_INSTALL] = {{"apt-get", "install"}, "-y", true},
            [PKG_REMOVE] = {{"apt-get", "remove"}, "-y", true},
            [PKG_UPDATE] = {{"apt-get", "update"}, NULL, false},
            [PKG_UPGRADE] = {{"apt-get", "upgrade"}, "-y", false},
            [PKG_SEARCH] = {{"apt-cache", "search"}, NULL, true},
            [PKG_SHOW] = {{"apt-cache", "show"}, NULL, true},
            [PKG_LIST] = {{"dpkg-query", "-W", "-f", "${binary:Package} ${Version}\\n"}, NULL, false},
        }},
    [PKG_APK] = {
        /* apk never prompts: it has no yes flag to add. */
        "apk", "apk", {"alpine"}, NULL,
        {
            [PKG_INSTALL] = {{"apk", "add"}, NULL, true},
            [PKG_REMOVE] = {{"apk", "del"}, NULL, true},
            [PKG_UPDATE] = {{"apk", "update"}, NULL, false},
            [PKG_UPGRADE] = {{"apk", "upgrade"}, NULL, false},
            [PKG_SEARCH] = {{"apk", "search"}, NULL, true},
            [PKG_SHOW] = {{"apk", "info", "-a"}, NULL, true},
            [PKG_LIST] = {{"apk", "info", "-v"}, NULL, false},
        }},
    [PKG_DNF] = {
        "dnf", "dnf", {"fedora", "rhel", "centos"}, NULL,
        {
            [PKG_INSTALL] = {{"dnf", "install"}, "-y", true},
            [PKG_REMOVE] = {{"dnf", "remove"}, "-y", true},
            [PKG_UPDATE] = {{"dnf", "makecache"}, NULL, false},
            [PKG_UPGRADE] = {{"dnf", "upgrade"}, "-y", false},
            [PKG_SEARCH] = {{"dnf", "search"}, NULL, true},
            [PKG_SHOW] = {{"dnf", "info"}, NULL, true},
            [PKG_LIST] = {{"dnf", "list", "--installed"}, NULL, false},
        }},
    [PKG_PACMAN] = {
        "pacman", "pacman", {"arch"}, NULL,
        {
            [PKG_INSTALL] = {{"pacman", "-S", "--needed"}, "--noconfirm", true},
            [PKG_REMOVE] = {{"pacman", "-R"}, "--noconfirm", true},
            [PKG_UPDATE] = {{"pacman", "-Sy"}, NULL, false},
            [PKG_UPGRADE] = {{"pacman", "-Syu"}, "--noconfirm", false},
            [PKG_SEARCH] = {{"pacman", "-Ss"}, NULL, true},
            [PKG_SHOW] = {{"pacman", "-Si"}, NULL, true},
            [PKG_LIST] = {{"pacman", "-Q"}, NULL, false},
        }},
};

static const struct {
    const char *word;
    enum pkg_verb verb;
} verb_words[] = {
    {"install", PKG_INSTALL}, {"add", PKG_INSTALL},   {"remove", PKG_REMOVE},
    {"del", PKG_REMOVE},      {"rm", PKG_REMOVE},     {"uninstall", PKG_REMOVE},
    {"purge", PKG_REMOVE},    {"update", PKG_UPDATE}, {"refresh", PKG_UPDATE},
    {"upgrade", PKG_UPGRADE}, {"full-upgrade", PKG_UPGRADE}, {"search", PKG_SEARCH},
    {"show", PKG_SHOW},       {"info", PKG_SHOW},     {"list", PKG_LIST},
};

int pkg_verb_parse(const char *word)
{
    for (size_t i = 0; i < sizeof verb_words / sizeof *verb_words; i++)
        if (!strcmp(word, verb_words[i].word))
            return (int)verb_words[i].verb;
    return -1;
}

const char *pkg_verb_name(enum pkg_verb v)
{
    static const char *names[PKG_VERB_COUNT] = {"install", "remove", "update", "upgrade",
                                                "search", "show", "list"};
    return (unsigned)v < PKG_VERB_COUNT ? names[v] : "?";
}

const char *pkg_manager_name(enum pkg_manager m)
{
    return (unsigned)m < PKG_MANAGER_COUNT ? managers[m].name : "?";
}

const char *pkg_probe_tool(enum pkg_manager m)
{
    return (unsigned)m < PKG_MANAGER_COUNT ? managers[m].tool : NULL;
}

static bool word_in(const char *words, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = words; p && *p;) {
        p += strspn(p, " \t\"");
        size_t len = strcspn(p, " \t\"");
        if (len == n && !strncmp(p, w, n))
            return true;
        p += len;
    }
    return false;
}

int pkg_detect(const char *os_id, const char *os_id_like, const bool tool_present[PKG_MANAGER_COUNT])
{
    int only = -1, count = 0;
    for (int m = 0; m < PKG_MANAGER_COUNT; m++)
        if (tool_present[m])
            only = m, count++;
    if (count <= 1)
        return only;
    /* Several tools (e.g. apk-tools installed on Debian): the distribution's own wins. */
    for (int pass = 0; pass < 2; pass++) {
        const char *words = pass == 0 ? os_id : os_id_like;
        for (int m = 0; m < PKG_MANAGER_COUNT; m++) {
            if (!tool_present[m])
                continue;
            for (size_t k = 0; k < 6 && managers[m].os_ids[k]; k++)
                if (word_in(words, managers[m].os_ids[k]))
                    return m;
        }
    }
    return only;
}

int pkg_translate(enum pkg_manager m, enum pkg_verb verb, const char *const *args, size_t nargs,
                  bool assume_yes, bool interactive, pkg_command *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)m >= PKG_MANAGER_COUNT || (unsigned)verb >= PKG_VERB_COUNT) {
        snprintf(err, errlen, "unknown package manager or verb");
        return -1;
    }
    const pkg_manager_def *d = &managers[m];
    const pkg_row *row = &d->rows[verb];
    size_t operands = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (!strcmp(args[i], "-y") || !strcmp(args[i], "--yes") || !strcmp(args[i], "--assume-yes"))
            assume_yes = true;
        else if (args[i][0] != '-')
            operands++;
    }
    if (row->needs_args && operands == 0) {
        snprintf(err, errlen, "%s needs a package name", pkg_verb_name(verb));
        return -1;
    }
    for (size_t i = 0; i < 5 && row->prefix[i]; i++)
        out->argv[out->argc++] = row->prefix[i];
    if (row->yes && (assume_yes || !interactive))
        out->argv[out->argc++] = row->yes;
    for (size_t i = 0; i < nargs; i++) {
        if (!strcmp(args[i], "-y") || !strcmp(args[i], "--yes") || !strcmp(args[i], "--assume-yes"))
            continue;
        if (out->argc >= PKG_ARGV_MAX) {
            snprintf(err, errlen, "too many arguments");
            return -1;
        }
        out->argv[out->argc++] = args[i];
    }
    out->argv[out->argc] = NULL;
    if (!interactive && d->noninteractive)
        out->env[0] = d->noninteractive;
    return 0;
}
