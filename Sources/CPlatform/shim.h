#ifndef COFFER_CPLATFORM_SHIM_H
#define COFFER_CPLATFORM_SHIM_H

/* Operating-system calls that Swift's Glibc module does not expose
 * (they need _GNU_SOURCE, which the prebuilt module was not built with). */

#include <stdio.h>

/* The commit the binary was built from: scripts/bootstrap and
 * scripts/package pass -Xcc -DCOFFER_COMMIT='"<hash>"'; other builds say unknown. */
#ifndef COFFER_COMMIT
#define COFFER_COMMIT "unknown"
#endif

/* COFFER_COMMIT, for `coffer --version`. */
static inline const char *coffer_build_commit(void) {
    return COFFER_COMMIT;
}

/* Whether a write to standard output has failed: the error indicator of
 * the C library's stdout, which Swift's print writes through (the global
 * itself is not usable from Swift 6 code: it is shared mutable state). */
static inline int coffer_standard_output_failed(void) {
    return ferror(stdout);
}

#ifdef __linux__
#include <stdint.h>

/* syncfs(2), with glibc's prototype: flushes the file system holding fd. */
extern int syncfs(int fd);

/* Flushes every dirty page of the file system holding fd (0 on success). */
static inline int coffer_sync_filesystem(int fd) {
    return syncfs(fd);
}

/* sync_file_range(2), with glibc's prototype. */
extern int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags);

/* Starts writeback of a file's dirty pages without waiting for it. */
static inline int coffer_start_writeback(int fd) {
    return sync_file_range(fd, 0, 0, 2 /* SYNC_FILE_RANGE_WRITE */);
}

#include <sys/vfs.h>

/* The file system type (statfs's f_type, a linux/magic.h number) of the
 * file system holding fd, or -1 with errno set. */
static inline long coffer_file_system_type(int fd) {
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0) return -1;
    return (long)fs.f_type;
}

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

/* Fills a Unix socket address for path; -1 (ENAMETOOLONG) if it does not fit. */
static inline int coffer_unix_address(const char *path, struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(address->sun_path, path);
    return 0;
}

/* A listening Unix stream socket at path (close-on-exec), or -1 with errno set. */
static inline int coffer_unix_listen(const char *path, int backlog) {
    struct sockaddr_un address;
    if (coffer_unix_address(path, &address) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, backlog) != 0) {
        int saved = errno; close(fd); errno = saved; return -1;
    }
    return fd;
}

/* A connection to the Unix stream socket at path (close-on-exec), or -1 with errno set. */
static inline int coffer_unix_connect(const char *path) {
    struct sockaddr_un address;
    if (coffer_unix_address(path, &address) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int saved = errno; close(fd); errno = saved; return -1;
    }
    return fd;
}

/* The user id of the process at the other end of a connected Unix socket
 * (SO_PEERCRED: as it was when it connected or listened), or -1. */
static inline long coffer_peer_uid(int fd) {
    /* struct ucred, which needs _GNU_SOURCE, with its layout. */
    struct { int pid; unsigned int uid; unsigned int gid; } credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    return (long)credentials.uid;
}

/* Makes this process undumpable: no core file, and other processes of the
 * same user may not ptrace it or read its memory through /proc. */
static inline int coffer_set_undumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

#include <spawn.h>

/* posix_spawn file actions glibc 2.29 and 2.34 added, with glibc's prototypes. */
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);

/* glibc's POSIX_SPAWN_SETSID (2.26; it needs _GNU_SOURCE): the child starts a new session. */
#define COFFER_POSIX_SPAWN_SETSID 0x80

/* Makes the child close every descriptor from `from` up before it runs. */
static inline int coffer_spawn_close_from(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

/* Makes the child change to `path` before it runs. */
static inline int coffer_spawn_change_directory(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

#include <fcntl.h>

/* Turns direct I/O on or off for fd: with it, reads and writes move data
 * between the caller's buffer and the device, bypassing the page cache,
 * and need buffers, offsets and lengths aligned to the device's block.
 * O_DIRECT needs _GNU_SOURCE; glibc's __O_DIRECT is its value for this
 * architecture. Returns 0, or -1 with errno set. */
static inline int coffer_set_direct_io(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | __O_DIRECT) : (flags & ~__O_DIRECT));
}

#include <stdio.h>

/* A second descriptor, for writing with direct I/O, to the file open as
 * fd (named or not), through /proc/self/fd. Returns -1 with errno set
 * where /proc, the file system or the kernel does not allow it. */
static inline int coffer_reopen_for_direct_writes(int fd) {
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return open(path, O_WRONLY | O_CLOEXEC | __O_DIRECT);
}

/* open(2) with O_TMPFILE: an unnamed regular file in `directory`, for
 * writing; it disappears with its last descriptor unless linked into the
 * directory. O_TMPFILE needs _GNU_SOURCE, so its value is spelled out
 * (__O_TMPFILE is 020000000 on every architecture Swift runs on). Returns
 * -1 with errno set, EOPNOTSUPP or EISDIR where the file system or kernel
 * lacks it. */
static inline int coffer_open_unnamed(const char *directory, unsigned int mode) {
    return open(directory, 020000000 | O_DIRECTORY | O_WRONLY | O_CLOEXEC, mode);
}

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

/* The fallback of coffer_open_beneath where the kernel lacks openat2(2):
 * one openat(O_NOFOLLOW | O_DIRECTORY) per component of `path` below
 * `dirfd`, the last with `flags | O_NOFOLLOW`; '..' and absolute paths fail
 * with EXDEV, a link in the middle with ELOOP or ENOTDIR, a link at the end
 * with ELOOP. Returns a descriptor, or -1 with errno set. */
static inline int coffer_open_beneath_by_component(int dirfd, const char *path, int flags, unsigned int mode) {
    if (path[0] == '/' || path[0] == 0) { errno = EXDEV; return -1; }
    char component[256];
    int current = dirfd;
    const char *rest = path;
    for (;;) {
        const char *slash = strchr(rest, '/');
        size_t length = slash ? (size_t)(slash - rest) : strlen(rest);
        int next;
        if (length >= sizeof component) {
            next = -1;
            errno = ENAMETOOLONG;
        } else {
            memcpy(component, rest, length);
            component[length] = 0;
            if (strcmp(component, "..") == 0) {
                next = -1;
                errno = EXDEV;
            } else {
                next = slash ? openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                             : openat(current, component, flags | O_NOFOLLOW, mode);
            }
        }
        int saved = errno;
        if (current != dirfd) close(current);
        errno = saved;
        if (next < 0 || !slash) return next;
        current = next;
        rest = slash + 1;
        while (*rest == '/') rest++;
        if (*rest == 0) return current;
    }
}

/* openat(2) confined to the directory `dirfd`: `path` (relative, '/'-separated)
 * is resolved without following any symbolic link, in any component, the last
 * included, and without leaving `dirfd` ('..', an absolute path, a magic
 * link). With openat2(2) (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); where the
 * kernel returns ENOSYS, with coffer_open_beneath_by_component. A link
 * anywhere fails with ELOOP (ENOTDIR for one in the middle in the
 * fallback), an escape with EXDEV. Returns a descriptor, or -1 with errno set. */
static inline int coffer_open_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(unsigned int)(flags | O_NOFOLLOW);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS) return (int)fd;
    return coffer_open_beneath_by_component(dirfd, path, flags, mode);
}

#else
#include <errno.h>
static inline int coffer_set_direct_io(int fd, int on) {
    (void)fd;
    (void)on;
    errno = ENOTSUP;
    return -1;
}

static inline int coffer_reopen_for_direct_writes(int fd) {
    (void)fd;
    errno = ENOTSUP;
    return -1;
}

static inline int coffer_open_unnamed(const char *directory, unsigned int mode) {
    (void)directory;
    (void)mode;
    return -1;
}

#include <fcntl.h>
/* Elsewhere: O_NOFOLLOW_ANY refuses a link in any component (Darwin). */
static inline int coffer_open_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
    return openat(dirfd, path, flags | O_NOFOLLOW_ANY, mode);
}

static inline int coffer_open_beneath_by_component(int dirfd, const char *path, int flags, unsigned int mode) {
    return coffer_open_beneath(dirfd, path, flags, mode);
}

#include <unistd.h>
static inline int coffer_start_writeback(int fd) {
    (void)fd;
    return 0;
}

static inline int coffer_sync_filesystem(int fd) {
    (void)fd;
    sync();
    return 0;
}
#endif

#endif
