/* Configuration, symbol lookup and the seeded random stream shared by the interposers. */
#include "repro.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static repro_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t random_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t random_state;

/* FNV-1a: spreads the seed string over 64 bits. Not cryptographic, and it need not
 * be: the output only has to be fixed for a given seed and distinct across seeds. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static time_t env_seconds(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    return !errno && !*end && n > 0 ? (time_t)n : 0;
}

static void load_config(void)
{
    const char *seed = getenv("REVM_REPRO_SEED");
    if (!seed)
        return;
    config.active = true;
    random_state = fnv1a(seed);
    config.epoch = env_seconds("SOURCE_DATE_EPOCH");
    config.clamp_after = env_seconds("REVM_REPRO_CLAMP_AFTER");
    const char *fast = getenv("REVM_REPRO_FAST_IO");
    config.fast_io = fast && strcmp(fast, "1") == 0;
    const char *tree = getenv("REVM_REPRO_TREE");
    if (tree && *tree) {
        /* The real stat: our lstat is not involved, and fakeroot's answer for st_dev
         * is the host's anyway. */
        int (*real_stat)(const char *, struct stat *) = repro_next("stat");
        struct stat st;
        if (real_stat(tree, &st) == 0) {
            config.tree_dev = st.st_dev;
            config.tree_dev_set = true;
        }
    }
}

const repro_config *repro_get(void)
{
    pthread_once(&config_once, load_config);
    return &config;
}

void *repro_next(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn) {
        fprintf(stderr, "mkimage-repro: no next definition of %s\n", name);
        abort();
    }
    return fn;
}

/* splitmix64: a tiny, well-distributed generator with a 64-bit state. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void repro_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    repro_get();
    pthread_mutex_lock(&random_lock);
    while (len) {
        uint64_t v = splitmix64(&random_state);
        size_t n = len < sizeof v ? len : sizeof v;
        memcpy(p, &v, n);
        p += n;
        len -= n;
    }
    pthread_mutex_unlock(&random_lock);
}
