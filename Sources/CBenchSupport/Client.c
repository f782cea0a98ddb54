// A blocking keep-alive HTTP client that allocates nothing.
#define _GNU_SOURCE 1
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "CBenchSupport.h"

int bench_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void bench_close(int fd) { close(fd); }

long bench_exchange(int fd, const char *request, size_t request_length, uint8_t *buffer, size_t capacity,
                    int *status, size_t *head_length) {
    size_t sent = 0;
    while (sent < request_length) {
        ssize_t n = send(fd, request + sent, request_length - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        sent += (size_t)n;
    }
    size_t used = 0, head = 0, total = 0;
    for (;;) {
        if (used == capacity) return -1;
        ssize_t n = read(fd, buffer + used, capacity - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        used += (size_t)n;
        if (!head) {
            uint8_t *end = memmem(buffer, used, "\r\n\r\n", 4);
            if (!end) continue;
            head = (size_t)(end + 4 - buffer);
            *head_length = head;
            *status = 0;
            if (used >= 12) *status = atoi((const char *)buffer + 9);
            size_t body = 0;
            for (uint8_t *line = buffer; line < end; ) {
                uint8_t *next = memmem(line, (size_t)(end - line), "\r\n", 2);
                if (!next) next = end;
                if ((size_t)(next - line) > 15 && strncasecmp((const char *)line, "content-length:", 15) == 0) {
                    body = (size_t)strtoul((const char *)line + 15, NULL, 10);
                }
                line = next + 2;
            }
            total = head + body;
            if (total > capacity) return -1;
        }
        if (head && used >= total) return (long)total;
    }
}

const void *bench_memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length) {
    return memmem(haystack, haystack_length, needle, needle_length);
}
