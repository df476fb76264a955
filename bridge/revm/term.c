#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_tio, raw_tio;
static int raw_fd = -1;
static volatile sig_atomic_t raw_on;
static int nb_fd[3] = {-1, -1, -1};
static int nb_flags[3];
static int sig_pipe[2] = {-1, -1};

void cli_term_restore(void)
{
    if (raw_on) {
        tcsetattr(raw_fd, TCSAFLUSH, &saved_tio);
        raw_on = 0;
    }
    for (int i = 0; i < 3; i++)
        if (nb_fd[i] >= 0) {
            fcntl(nb_fd[i], F_SETFL, nb_flags[i]);
            nb_fd[i] = -1;
        }
}

static void register_restore(void)
{
    static bool done;
    if (!done) {
        atexit(cli_term_restore);
        done = true;
    }
}

bool cli_term_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &saved_tio) < 0)
        return false;
    register_restore();
    t = saved_tio;
    cfmakeraw(&t);
    raw_tio = t;
    raw_fd = fd;
    if (tcsetattr(fd, TCSAFLUSH, &t) < 0)
        return false;
    raw_on = 1;
    return true;
}

bool cli_term_is_raw(void) { return raw_on; }

bool cli_term_size(uint16_t *rows, uint16_t *cols)
{
    for (int fd = 0; fd < 3; fd++) {
        struct winsize ws;
        if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            *rows = ws.ws_row;
            *cols = ws.ws_col;
            return true;
        }
    }
    return false;
}

void cli_nonblock(int fd)
{
    if (fd < 0 || fd > 2 || isatty(fd))
        return;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK))
        return;
    register_restore();
    nb_flags[fd] = fl;
    nb_fd[fd] = fd;
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    (void)!write(sig_pipe[1], &b, 1);
    errno = saved;
}

/* Suspended from outside (kill -TSTP; in raw mode ^Z goes to the guest): give the shell its
 * terminal back while stopped, and take raw mode again on SIGCONT. */
static void on_stop(int sig)
{
    int saved = errno;
    bool was_raw = raw_on;
    if (was_raw) {
        tcsetattr(raw_fd, TCSAFLUSH, &saved_tio);
        raw_on = 0;
    }
    struct sigaction dfl = {.sa_handler = SIG_DFL}, mine = {.sa_handler = on_stop};
    sigemptyset(&dfl.sa_mask);
    sigemptyset(&mine.sa_mask);
    mine.sa_flags = SA_RESTART;
    sigaction(sig, &dfl, NULL);
    /* The signal is blocked while its handler runs: unblock it, or raise() would only leave
     * it pending and the handler would run again at once. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig); /* stops here until SIGCONT */
    sigaction(sig, &mine, NULL);
    if (was_raw && tcsetattr(raw_fd, TCSAFLUSH, &raw_tio) == 0)
        raw_on = 1;
    on_signal(SIGWINCH); /* the size may have changed meanwhile */
    errno = saved;
}

static void on_fatal(int sig)
{
    cli_term_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

int cli_signals_init(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_signal;
    int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaction(forwarded[i], &sa, NULL);
    sa.sa_handler = on_stop;
    sigaction(SIGTSTP, &sa, NULL);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND;
    int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return sig_pipe[0];
}

int cli_signals_next(int fd)
{
    unsigned char b;
    ssize_t n = read(fd, &b, 1);
    return n == 1 ? b : 0;
}
