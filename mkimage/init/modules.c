/* revm-init's module loading (modules.h). */
#include "modules.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init-util.h"
/* Which modules wait: the list names everything the variant may need (the driver VM's has
 * the drivers of every emulated GPU, disk and NIC a profile can give it), and a module loads
 * in a few to a few hundred ms under TCG. Before the root is mounted only the modules for
 * hardware the machine has, or without any device to look for, are loaded, each after the
 * ones it depends on; the rest (drivers of absent devices and what only they need) are loaded
 * afterwards by a background process, so the same modules end up loaded (a device added
 * later, e.g. with QMP device_add, still finds its driver) without the boot waiting for them.
 * What a module drives and depends on comes from its own .modinfo (alias=, depends=); a
 * module whose .modinfo cannot be read is loaded first, as before. */
struct module {
    char path[1024];
    char name[64];   /* name=, with '-' as '_' like the kernel */
    char *depends;   /* depends=, comma separated */
    char *devices;   /* alias= of buses whose devices exist before /init runs (pci, virtio)
                      * or are scanned by earlier modules (scsi), one per line; NULL: none */
    bool known;      /* its .modinfo was read */
    bool needed;     /* another listed module depends on it */
    bool loaded;     /* tried (loaded, already there, or refused) */
    int fd;
};

static struct module *modules;
static size_t n_modules;

static void underscores(char *s)
{
    for (; *s; s++)
        if (*s == '-')
            *s = '_';
}

static char *append_line(char *list, const char *item)
{
    size_t old = list ? strlen(list) : 0, n = strlen(item);
    char *r = realloc(list, old + n + 2);
    if (!r)
        return list;
    memcpy(r + old, item, n);
    r[old + n] = '\n';
    r[old + n + 1] = '\0';
    return r;
}

/* name=, depends= and the device aliases from the module's .modinfo section. */
static void read_modinfo(struct module *m)
{
    struct stat st;
    if (fstat(m->fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr))
        return;
    size_t size = (size_t)st.st_size;
    const unsigned char *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, m->fd, 0);
    if (p == MAP_FAILED)
        return;
    Elf64_Ehdr eh;
    memcpy(&eh, p, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > size ||
        eh.e_shnum > (size - eh.e_shoff) / sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum)
        goto out;
    Elf64_Shdr names, sh;
    memcpy(&names, p + eh.e_shoff + eh.e_shstrndx * sizeof sh, sizeof names);
    if (names.sh_offset > size || names.sh_size > size - names.sh_offset)
        goto out;
    for (size_t i = 0; i < eh.e_shnum; i++) {
        memcpy(&sh, p + eh.e_shoff + i * sizeof sh, sizeof sh);
        if (sh.sh_name >= names.sh_size || names.sh_size - sh.sh_name < sizeof ".modinfo" ||
            memcmp(p + names.sh_offset + sh.sh_name, ".modinfo", sizeof ".modinfo") != 0)
            continue;
        if (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset)
            goto out;
        const char *s = (const char *)p + sh.sh_offset, *end = s + sh.sh_size;
        while (s < end) {
            size_t len = strnlen(s, (size_t)(end - s));
            char item[512];
            if (len < sizeof item) {
                memcpy(item, s, len);
                item[len] = '\0';
                if (!strncmp(item, "name=", 5) && len - 5 < sizeof m->name) {
                    memcpy(m->name, item + 5, len - 4);
                    underscores(m->name);
                } else if (!strncmp(item, "depends=", 8)) {
                    free(m->depends);
                    m->depends = strdup(item + 8);
                    if (m->depends)
                        underscores(m->depends);
                } else if (!strncmp(item, "alias=pci:", 10) ||
                           !strncmp(item, "alias=virtio:", 13) ||
                           !strncmp(item, "alias=scsi:", 11)) {
                    m->devices = append_line(m->devices, item + 6);
                }
            }
            s += len + 1;
        }
        m->known = m->name[0] != '\0';
        break;
    }
out:
    munmap((void *)p, size);
}

static struct module *module_named(const char *name, size_t len)
{
    for (size_t i = 0; i < n_modules; i++)
        if (strlen(modules[i].name) == len && !memcmp(modules[i].name, name, len))
            return &modules[i];
    return NULL;
}

/* Calls fn for each name in a depends= list. */
static void each_dependency(const struct module *m, void (*fn)(struct module *))
{
    for (const char *d = m->depends; d && *d;) {
        size_t len = strcspn(d, ",");
        struct module *dep = module_named(d, len);
        if (dep && dep != m)
            fn(dep);
        d += len + (d[len] == ',');
    }
}

static void mark_needed(struct module *m)
{
    m->needed = true;
}

static void mark_loaded(struct module *m)
{
    if (m->loaded)
        return;
    m->loaded = true;
    each_dependency(m, mark_loaded);
}

/* Modules that drive no device (filesystems, the power button's input, hash algorithms)
 * load now whatever the hardware, each after its dependencies. */
static bool load_now_without_device(const struct module *m)
{
    return m->known && !m->devices && !m->needed;
}

static int loaded_count;

/* The modaliases of a bus's devices, one per line, read again only after a module has
 * loaded (a bus driver makes devices appear): the driver VM's list has hundreds of PCI
 * aliases (e1000e alone about 150), and reading every device's modalias file for each
 * of them cost about 0.1 s of sysfs calls under TCG. */
struct bus_aliases {
    const char *bus;
    int generation; /* loaded_count when read; -1: never */
    char *lines;
};
static struct bus_aliases buses[] = {{"pci", -1, NULL}, {"virtio", -1, NULL}};

static char *read_bus_aliases(const char *bus)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/sys/bus/%s/devices", bus);
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *lines = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[400], alias[256];
        snprintf(path, sizeof path, "%s/%s/modalias", dir, de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, alias, sizeof alias - 1);
        close(fd);
        alias[n > 0 ? n : 0] = '\0';
        alias[strcspn(alias, "\n")] = '\0';
        if (alias[0])
            lines = append_line(lines, alias);
    }
    closedir(d);
    return lines;
}

static bool bus_has_match(const char *bus, const char *pattern)
{
    struct bus_aliases *b = NULL;
    for (size_t i = 0; i < sizeof buses / sizeof *buses && !b; i++)
        if (!strcmp(buses[i].bus, bus))
            b = &buses[i];
    if (!b)
        return false;
    if (b->generation != loaded_count) {
        free(b->lines);
        b->lines = read_bus_aliases(bus);
        b->generation = loaded_count;
    }
    for (char *a = b->lines; a && *a;) {
        char *nl = strchr(a, '\n');
        *nl = '\0'; /* append_line ends every line with one */
        bool found = fnmatch(pattern, a, 0) == 0;
        *nl = '\n';
        if (found)
            return true;
        a = nl + 1;
    }
    return false;
}

static bool dir_has_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *de;
    bool any = false;
    while (!any && (de = readdir(d)))
        any = de->d_name[0] != '.';
    closedir(d);
    return any;
}

/* Whether the machine has a device the module drives. SCSI disks are scanned
 * asynchronously after their host adapter's driver loads: any SCSI host counts. */
static bool device_present(const struct module *m)
{
    for (const char *a = m->devices; a && *a;) {
        size_t len = strcspn(a, "\n");
        char pattern[256];
        snprintf(pattern, sizeof pattern, "%.*s", (int)len, a);
        const char *bus = strncmp(pattern, "pci:", 4) ? "virtio" : "pci";
        if (!strncmp(pattern, "scsi:", 5) ? dir_has_entries("/sys/class/scsi_host")
                                          : bus_has_match(bus, pattern))
            return true;
        a += len + (a[len] == '\n');
    }
    return false;
}

/* finit_module lets the kernel read (and verify the signature of) the file itself;
 * init_module from memory is the fallback for kernels without it. */
static int load_fd(int fd)
{
    long r = syscall(SYS_finit_module, fd, "", 0);
    if (r < 0 && errno == ENOSYS) {
        struct stat st;
        void *buf = NULL;
        if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1)) &&
            pread(fd, buf, (size_t)st.st_size, 0) == st.st_size)
            r = syscall(SYS_init_module, buf, (unsigned long)st.st_size, "");
        free(buf);
    }
    return r < 0 ? -1 : 0;
}

/* Loads M after the listed modules it depends on. */
static void load_one(struct module *m)
{
    if (m->loaded)
        return;
    m->loaded = true;
    each_dependency(m, load_one);
    long t = debug ? now_ms() : 0;
    if (m->fd < 0) {
        say("revm-init: warning: module %s: %s", m->path, strerror(ENOENT));
    } else if (load_fd(m->fd) == 0) {
        loaded_count++;
        info("loaded %s in %ld ms", m->path, now_ms() - t);
    } else if (errno == EEXIST) {
        info("%s: already loaded", m->path); /* built in, or loaded by the kernel */
    } else if (errno == ENODEV || errno == ENXIO) {
        /* Hardware alternatives (e.g. crc32c-intel on a CPU without SSE4.2)
         * refuse to load; the generic variant next to them does the job. */
        info("%s: no matching hardware", m->path);
    } else {
        say("revm-init: warning: module %s: %s", m->path, strerror(errno));
    }
}

/* Reads the list and loads what the boot needs now (see above); returns how many loaded. */
int load_modules(void)
{
    FILE *f = fopen(MODULES_LIST, "re");
    if (!f)
        return 0; /* an initramfs without modules: everything is built in */
    char line[1024];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        if (n_modules == cap) {
            struct module *more = realloc(modules, (cap = cap ? 2 * cap : 64) * sizeof *more);
            if (!more)
                die("out of memory reading " MODULES_LIST);
            modules = more;
        }
        struct module *m = &modules[n_modules++];
        memset(m, 0, sizeof *m);
        snprintf(m->path, sizeof m->path, "%s", line);
        m->fd = open(m->path, O_RDONLY | O_CLOEXEC);
        if (m->fd >= 0)
            read_modinfo(m);
    }
    fclose(f);
    for (size_t i = 0; i < n_modules; i++)
        each_dependency(&modules[i], mark_needed);
    /* With a second CPU, a helper process loads the modules that drive no device while we
     * load the device drivers: btrfs's chain alone is about 0.6 s under TCG (raid6_pq times
     * its algorithms for 0.27 s), the virtio drivers about 0.1 s. A module both sides need
     * is loaded once: the kernel makes the second finit_module wait for the first, then
     * fail with EEXIST, which load_one takes as loaded. */
    pid_t helper = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? fork() : -1;
    if (helper == 0) {
        for (size_t i = 0; i < n_modules; i++)
            if (load_now_without_device(&modules[i]))
                load_one(&modules[i]);
        _exit(loaded_count > 255 ? 255 : loaded_count);
    }
    /* In list order (mkimage wrote dependencies first), so a bus driver has made its
     * devices visible before the drivers of those devices are looked at. */
    for (size_t i = 0; i < n_modules; i++) {
        struct module *m = &modules[i];
        if (helper > 0 && load_now_without_device(m))
            continue;
        if (!m->known || (m->devices ? device_present(m) : !m->needed))
            load_one(m);
    }
    if (helper > 0) {
        int status = 0;
        while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
            ;
        /* Only now: marked earlier, a device driver sharing a dependency with them could
         * have been loaded before the helper had loaded that dependency. A helper that did
         * not finish leaves them to be tried again. */
        for (size_t i = 0; i < n_modules && WIFEXITED(status); i++)
            if (load_now_without_device(&modules[i]))
                mark_loaded(&modules[i]);
        if (WIFEXITED(status))
            loaded_count += WEXITSTATUS(status);
    }
    return loaded_count;
}

/* The modules left for later, loaded by a child of PID 1 at the lowest priority while the
 * system boots on; it ends when they are all loaded (runit, PID 1 by then, reaps it). */
void load_rest_in_background(void)
{
    size_t left = 0;
    for (size_t i = 0; i < n_modules; i++)
        left += !modules[i].loaded;
    if (left > 0) {
        pid_t pid = fork();
        if (pid == 0) {
            (void)!nice(19);
            long t0 = now_ms();
            for (size_t i = 0; i < n_modules; i++)
                load_one(&modules[i]);
            info("%zu modules for absent devices loaded in the background in %ld ms", left,
                 now_ms() - t0);
            _exit(0);
        }
        if (pid < 0)
            for (size_t i = 0; i < n_modules; i++)
                load_one(&modules[i]); /* no process to spare: load them now */
    }
    for (size_t i = 0; i < n_modules; i++)
        if (modules[i].fd >= 0)
            close(modules[i].fd);
}
