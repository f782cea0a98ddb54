// The ceiling: a minimal server that writes a prebuilt response, a thread per connection.
#define _GNU_SOURCE 1
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "CBenchSupport.h"

static uint8_t *identity_bytes, *gzip_bytes;
static size_t identity_count, gzip_count;
// Owned by bench_ceiling_start/stop (called in sequence by one task); the accept thread gets its
// descriptor as an argument and never reads these.
static int listen_fd = -1;
static pthread_t accept_thread;
static int accept_running = 0;

static int send_all(int fd, const uint8_t *bytes, size_t count) {
    while (count > 0) {
        ssize_t n = send(fd, bytes, count, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        bytes += n;
        count -= (size_t)n;
    }
    return 0;
}

/// Whether the request head (NUL-terminated) has an Accept-Encoding line that mentions gzip.
static int wants_gzip(const char *head) {
    const char *line = head;
    while ((line = strchr(line, '\n')) != NULL) {
        line += 1;
        if (strncasecmp(line, "accept-encoding:", 16) == 0) {
            const char *end = strchr(line, '\n');
            size_t length = end ? (size_t)(end - line) : strlen(line);
            return memmem(line, length, "gzip", 4) != NULL;
        }
    }
    return 0;
}

static void *serve(void *argument) {
    int fd = (int)(intptr_t)argument;
    char buffer[8192 + 1];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, buffer + used, sizeof buffer - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
        buffer[used] = 0;
        char *end;
        while ((end = strstr(buffer, "\r\n\r\n")) != NULL) {
            *end = 0;
            int gzip = wants_gzip(buffer);
            if (send_all(fd, gzip ? gzip_bytes : identity_bytes, gzip ? gzip_count : identity_count) != 0) goto done;
            size_t consumed = (size_t)(end + 4 - buffer);
            memmove(buffer, buffer + consumed, used - consumed);
            used -= consumed;
            buffer[used] = 0;
        }
        if (used == sizeof buffer - 1) break;  // a head too large for this server
    }
done:
    close(fd);
    return NULL;
}

static void *accept_loop(void *argument) {
    int listener = (int)(intptr_t)argument;
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attributes, 256 * 1024);
        if (pthread_create(&thread, &attributes, serve, (void *)(intptr_t)fd) != 0) close(fd);
        pthread_attr_destroy(&attributes);
    }
    return NULL;
}

int bench_ceiling_start(const uint8_t *identity_response, size_t identity_length,
                        const uint8_t *gzip_response, size_t gzip_length) {
    identity_bytes = malloc(identity_length);
    gzip_bytes = malloc(gzip_length);
    if (!identity_bytes || !gzip_bytes) return -1;
    memcpy(identity_bytes, identity_response, identity_length);
    memcpy(gzip_bytes, gzip_response, gzip_length);
    identity_count = identity_length;
    gzip_count = gzip_length;

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) return -1;
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (bind(listen_fd, (struct sockaddr *)&address, sizeof address) != 0) return -1;
    if (listen(listen_fd, SOMAXCONN) != 0) return -1;
    socklen_t length = sizeof address;
    if (getsockname(listen_fd, (struct sockaddr *)&address, &length) != 0) return -1;
    if (pthread_create(&accept_thread, NULL, accept_loop, (void *)(intptr_t)listen_fd) != 0) return -1;
    accept_running = 1;
    return ntohs(address.sin_port);
}

// shutdown() wakes the blocked accept4 (EINVAL on Linux); the descriptor is closed only after
// the accept thread has exited, so its number cannot be reused under a running accept4.
void bench_ceiling_stop(void) {
    if (listen_fd >= 0) {
        shutdown(listen_fd, SHUT_RDWR);
        if (accept_running) {
            pthread_join(accept_thread, NULL);
            accept_running = 0;
        }
        close(listen_fd);
        listen_fd = -1;
    }
}
