// CLinuxShims: thin wrappers over Linux system calls that Glibc's Swift module does not expose
// (epoll, eventfd, accept4, pipe2) plus a few helpers that keep flag handling out of Swift.
//
// Every function is `static inline`, returns what the system call returns and leaves `errno`
// untouched on failure, so Swift callers check `< 0` and read `errno` as usual.
#ifndef CLINUXSHIMS_H
#define CLINUXSHIMS_H

#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <spawn.h>

#ifndef EPOLLEXCLUSIVE
#define EPOLLEXCLUSIVE (1u << 28)
#endif

/// epoll event bits, as plain constants (glibc declares them as an enum Swift imports awkwardly).
static const uint32_t shim_EPOLLIN = EPOLLIN;
static const uint32_t shim_EPOLLOUT = EPOLLOUT;
static const uint32_t shim_EPOLLERR = EPOLLERR;
static const uint32_t shim_EPOLLHUP = EPOLLHUP;
static const uint32_t shim_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t shim_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;

static const int shim_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
static const int shim_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
static const int shim_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

/// An epoll event without glibc's `packed` attribute (x86_64 packs `struct epoll_event`).
typedef struct {
    uint32_t events;
    uint64_t data;
} shim_epoll_event;

/// epoll_create1(EPOLL_CLOEXEC).
static inline int shim_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

/// epoll_ctl with the event's user data as a 64-bit token.
static inline int shim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &event);
}

/// epoll_wait into unpacked events; at most 256 events per call.
static inline int shim_epoll_wait(int epfd, shim_epoll_event *out, int max_events, int timeout_ms) {
    struct epoll_event events[256];
    if (max_events > 256) max_events = 256;
    if (max_events < 1) max_events = 1;
    int n = epoll_wait(epfd, events, max_events, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[i].events = events[i].events;
        out[i].data = events[i].data.u64;
    }
    return n;
}

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).
static inline int shim_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/// Adds 1 to an eventfd counter (wakes its epoll waiter).
static inline int shim_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t n;
    do { n = write(fd, &one, sizeof one); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof one || (n < 0 && errno == EAGAIN) ? 0 : -1;
}

/// Resets an eventfd counter to zero.
static inline void shim_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t n;
    do { n = read(fd, &value, sizeof value); } while (n < 0 && errno == EINTR);
}

/// socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0).
static inline int shim_socket_nonblocking(int domain, int type) {
    return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/// socket(domain, type | SOCK_CLOEXEC, 0): a blocking socket (for clients and tests).
static inline int shim_socket_blocking(int domain, int type) {
    return socket(domain, type | SOCK_CLOEXEC, 0);
}

// GNU extensions, defined in CLinuxShims.c (compiled with _GNU_SOURCE, which must not leak into
// this header: Swift's Glibc module is built without it).

/// accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC).
int shim_accept(int fd, struct sockaddr *addr, socklen_t *len);

/// pipe2(fds, O_NONBLOCK | O_CLOEXEC).
int shim_pipe(int fds[2]);
/// pipe2(fds, O_CLOEXEC): blocking ends, never inherited by a child unless dup2'ed into it.
int shim_pipe_blocking(int fds[2]);

/// Names the calling thread (at most 15 bytes are kept); returns 0 or an error number.
int shim_set_thread_name(const char *name);

/// sendmsg of an iovec array with MSG_NOSIGNAL: a vectored write that never raises SIGPIPE.
static inline ssize_t shim_send_iov(int fd, const struct iovec *iov, int count) {
    struct msghdr message = {0};
    message.msg_iov = (struct iovec *)iov;
    message.msg_iovlen = (size_t)count;
    return sendmsg(fd, &message, MSG_NOSIGNAL);
}

/// send with MSG_NOSIGNAL.
static inline ssize_t shim_send(int fd, const void *bytes, size_t count) {
    return send(fd, bytes, count, MSG_NOSIGNAL);
}

/// posix_spawn file actions that glibc (2.34+) has but Glibc's Swift module does not expose:
/// close every descriptor from `from` up in the child, and change the child's directory.
int shim_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
int shim_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
