#!/usr/bin/env python3
"""A compact POSIX filesystem conformance suite in the style of pjdfstest (permissions,
ownership, rename incl. RENAME_NOREPLACE/EXCHANGE, link counts, symlinks, error codes, times,
xattrs), run against a directory on the filesystem under test.

    fs_conformance.py DIR        (as root: permission cases run as uid/gid 65534)

Prints one line per case and exits 1 when any case fails. Each case works in its own
subdirectory of DIR, which is removed afterwards."""
import ctypes
import errno
import os
import shutil
import stat
import sys

ROOT = sys.argv[1]
NOBODY = 65534
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
failures = []


def renameat2(a, b, flags):
    r = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def expect_errno(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno != code:
            raise AssertionError(f"{fn.__name__}{args}: errno {errno.errorcode.get(e.errno)}, "
                                 f"expected {errno.errorcode[code]}")
        return
    raise AssertionError(f"{fn.__name__}{args}: succeeded, expected {errno.errorcode[code]}")


def as_user(uid, gid, fn):
    """Runs fn() in a child with the given ids; the child's assertion failure fails the case."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        msg = b""
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            fn()
        except BaseException as e:  # report anything to the parent
            msg = repr(e).encode()
        os.write(w, msg)
        os._exit(0)
    os.close(w)
    msg = os.read(r, 4096)
    os.close(r)
    os.waitpid(pid, 0)
    if msg:
        raise AssertionError("as uid %d: %s" % (uid, msg.decode()))


def case(fn):
    d = os.path.join(ROOT, "conf-" + fn.__name__)
    shutil.rmtree(d, ignore_errors=True)
    os.mkdir(d)
    os.chmod(d, 0o777)
    try:
        fn(d)
        print("ok:", fn.__name__)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        print("FAIL:", fn.__name__, "-", e)
        failures.append(fn.__name__)
    shutil.rmtree(d, ignore_errors=True)
    return fn


@case
def create_ownership_and_mode(d):
    f = os.path.join(d, "f")
    fd = os.open(f, os.O_CREAT | os.O_WRONLY, 0o640)
    os.close(fd)
    st = os.lstat(f)
    assert stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode)
    assert st.st_uid == os.getuid() and st.st_size == 0
    as_user(NOBODY, NOBODY, lambda: os.close(os.open(os.path.join(d, "g"), os.O_CREAT | os.O_WRONLY, 0o600)))
    st = os.lstat(os.path.join(d, "g"))
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), (st.st_uid, st.st_gid)
    as_user(NOBODY, NOBODY, lambda: os.mkdir(os.path.join(d, "sub"), 0o750))
    st = os.lstat(os.path.join(d, "sub"))
    assert st.st_uid == NOBODY and stat.S_IMODE(st.st_mode) == 0o750


@case
def chmod_chown(d):
    f = os.path.join(d, "f")
    open(f, "w").close()
    os.chmod(f, 0o4755)
    assert stat.S_IMODE(os.lstat(f).st_mode) == 0o4755
    os.chown(f, 123, 456)
    st = os.lstat(f)
    assert (st.st_uid, st.st_gid) == (123, 456)
    # chown clears setuid for a non-root... root keeps it on Linux only for dirs; check the owner only
    as_user(NOBODY, NOBODY, lambda: expect_errno(errno.EPERM, os.chown, f, NOBODY, NOBODY))
    as_user(NOBODY, NOBODY, lambda: expect_errno(errno.EPERM, os.chmod, f, 0o777))
    os.chown(f, NOBODY, NOBODY)
    as_user(NOBODY, NOBODY, lambda: os.chmod(f, 0o600))
    assert stat.S_IMODE(os.lstat(f).st_mode) == 0o600


@case
def permissions(d):
    secret = os.path.join(d, "secret")
    with open(secret, "w") as fh:
        fh.write("x")
    os.chmod(secret, 0o600)
    as_user(NOBODY, NOBODY, lambda: expect_errno(errno.EACCES, open, secret))
    closed = os.path.join(d, "closed")
    os.mkdir(closed, 0o755)
    as_user(NOBODY, NOBODY, lambda: expect_errno(errno.EACCES, os.mkdir, os.path.join(closed, "x")))
    os.chmod(closed, 0o700)
    as_user(NOBODY, NOBODY, lambda: expect_errno(errno.EACCES, os.listdir, closed))
    os.chmod(closed, 0o711)
    open(os.path.join(closed, "readable"), "w").close()
    os.chmod(os.path.join(closed, "readable"), 0o644)
    as_user(NOBODY, NOBODY, lambda: open(os.path.join(closed, "readable")).close())
    sticky = os.path.join(d, "sticky")
    os.mkdir(sticky)
    os.chmod(sticky, 0o1777)
    open(os.path.join(sticky, "roots"), "w").close()
    as_user(NOBODY, NOBODY, lambda: expect_errno(errno.EPERM, os.unlink, os.path.join(sticky, "roots")))
    ro = os.path.join(d, "ro")
    open(ro, "w").close()
    os.chmod(ro, 0o444)
    os.chown(ro, NOBODY, NOBODY)
    as_user(NOBODY, NOBODY, lambda: expect_errno(errno.EACCES, open, ro, "w"))


@case
def rename_semantics(d):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    with open(a, "w") as fh:
        fh.write("A")
    with open(b, "w") as fh:
        fh.write("B")
    os.rename(a, b)
    assert not os.path.exists(a) and open(b).read() == "A"
    da, db = os.path.join(d, "da"), os.path.join(d, "db")
    os.mkdir(da)
    os.mkdir(db)
    open(os.path.join(db, "x"), "w").close()
    expect_errno(errno.ENOTEMPTY, os.rename, da, db)
    expect_errno(errno.EISDIR, os.rename, b, da)
    expect_errno(errno.ENOTDIR, os.rename, da, b)
    expect_errno(errno.EINVAL, os.rename, d, os.path.join(d, "da", "inside"))
    os.rmdir(os.path.join(d, "da"))
    os.rename(db, da)
    assert os.path.exists(os.path.join(da, "x"))
    c = os.path.join(d, "c")
    with open(c, "w") as fh:
        fh.write("C")
    expect_errno(errno.EEXIST, renameat2, c, b, 1)  # RENAME_NOREPLACE
    renameat2(c, b, 2)  # RENAME_EXCHANGE
    assert open(b).read() == "C" and open(c).read() == "A"
    renameat2(c, os.path.join(d, "new"), 1)
    assert open(os.path.join(d, "new")).read() == "A"
    expect_errno(errno.ENOENT, renameat2, c, b, 2)


@case
def link_counts(d):
    f = os.path.join(d, "f")
    open(f, "w").close()
    os.link(f, os.path.join(d, "g"))
    assert os.lstat(f).st_nlink == 2
    assert os.lstat(f).st_ino == os.lstat(os.path.join(d, "g")).st_ino
    os.unlink(os.path.join(d, "g"))
    assert os.lstat(f).st_nlink == 1
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    expect_errno(errno.EPERM, os.link, sub, os.path.join(d, "sublink"))
    expect_errno(errno.EEXIST, os.link, f, sub)
    n0 = os.lstat(d).st_nlink
    if n0 > 1:  # btrfs keeps directory link counts at 1
        os.mkdir(os.path.join(d, "sub2"))
        assert os.lstat(d).st_nlink == n0 + 1


@case
def symlinks(d):
    f = os.path.join(d, "target")
    with open(f, "w") as fh:
        fh.write("T")
    l = os.path.join(d, "l")
    os.symlink("target", l)
    assert os.readlink(l) == "target"
    assert stat.S_ISLNK(os.lstat(l).st_mode) and open(l).read() == "T"
    os.symlink("nowhere", os.path.join(d, "dangling"))
    expect_errno(errno.ENOENT, open, os.path.join(d, "dangling"))
    os.symlink("loop2", os.path.join(d, "loop1"))
    os.symlink("loop1", os.path.join(d, "loop2"))
    expect_errno(errno.ELOOP, open, os.path.join(d, "loop1"))
    long_target = "x" * 1000
    os.symlink(long_target, os.path.join(d, "long"))
    assert os.readlink(os.path.join(d, "long")) == long_target
    expect_errno(errno.EEXIST, os.symlink, "a", l)
    fd = os.open(l, os.O_RDONLY | os.O_NOFOLLOW | os.O_PATH)
    os.close(fd)
    expect_errno(errno.ELOOP, os.open, l, os.O_RDONLY | os.O_NOFOLLOW)


@case
def error_codes(d):
    f = os.path.join(d, "f")
    open(f, "w").close()
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    expect_errno(errno.ENOENT, open, os.path.join(d, "missing"))
    expect_errno(errno.ENOENT, os.unlink, os.path.join(d, "missing"))
    expect_errno(errno.EEXIST, os.mkdir, sub)
    expect_errno(errno.EEXIST, os.open, f, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    open(os.path.join(sub, "x"), "w").close()
    expect_errno(errno.ENOTEMPTY, os.rmdir, sub)
    expect_errno(errno.EISDIR, os.open, sub, os.O_WRONLY)
    expect_errno(errno.ENOTDIR, open, os.path.join(f, "below"))
    expect_errno(errno.ENOTDIR, os.rmdir, f)
    expect_errno(errno.EISDIR, os.unlink, sub)
    expect_errno(errno.ENAMETOOLONG, open, os.path.join(d, "n" * 256), "w")
    open(os.path.join(d, "n" * 255), "w").close()
    expect_errno(errno.ENOTDIR, os.listdir, f)


@case
def data_truncate_times(d):
    f = os.path.join(d, "f")
    with open(f, "wb") as fh:
        fh.write(b"0123456789")
    os.truncate(f, 4)
    assert open(f, "rb").read() == b"0123"
    os.truncate(f, 8)
    assert open(f, "rb").read() == b"0123\0\0\0\0"
    with open(f, "r+b") as fh:
        fh.seek(100)
        fh.write(b"z")
    assert os.lstat(f).st_size == 101
    with open(f, "ab") as fh:
        fh.write(b"END")
    assert open(f, "rb").read()[-4:] == b"zEND"
    os.utime(f, ns=(1_000_000_123, 2_000_000_456))
    st = os.lstat(f)
    assert st.st_atime_ns == 1_000_000_123 and st.st_mtime_ns == 2_000_000_456, (st.st_atime_ns, st.st_mtime_ns)
    os.chown(f, NOBODY, NOBODY)
    as_user(NOBODY, NOBODY, lambda: os.utime(f))  # owner may set times to now
    assert os.lstat(f).st_mtime_ns != 2_000_000_456


@case
def directories(d):
    names = {"n%03d" % i for i in range(300)}
    for n in names:
        open(os.path.join(d, n), "w").close()
    assert set(os.listdir(d)) == names
    for n in list(names)[:150]:
        os.unlink(os.path.join(d, n))
    assert len(os.listdir(d)) == 150
    with os.scandir(d) as it:
        for e in it:
            assert e.is_file(follow_symlinks=False)


@case
def xattrs(d):
    f = os.path.join(d, "f")
    open(f, "w").close()
    try:
        os.setxattr(f, "user.test", b"value")
    except OSError as e:
        if e.errno == errno.EOPNOTSUPP:
            print("  (xattrs not supported here)")
            return
        raise
    assert os.getxattr(f, "user.test") == b"value"
    assert "user.test" in os.listxattr(f)
    expect_errno(errno.EEXIST, os.setxattr, f, "user.test", b"v", os.XATTR_CREATE)
    os.removexattr(f, "user.test")
    expect_errno(errno.ENODATA, os.getxattr, f, "user.test")


if failures:
    print("fs conformance: %d case(s) failed: %s" % (len(failures), " ".join(failures)))
    sys.exit(1)
print("fs conformance: all cases passed")
