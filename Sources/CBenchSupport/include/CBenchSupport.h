// CBenchSupport: the C parts of portrait-bench.
//
// - An allocation counter: `malloc`, `calloc` and `realloc` of the bench executable are
//   interposed (they forward to glibc's `__libc_*` functions) and, while counting is on, count
//   calls and requested bytes — on the calling thread only, or on every thread.
// - The "ceiling" server: the least an HTTP server can do to serve a prebuilt response (a thread
//   per connection; read to the blank line; one blocking send of the prebuilt bytes).
// - A blocking keep-alive client that reads whole responses into a caller's buffer, allocating
//   nothing, so that allocations counted around it are the server's.
#ifndef CBENCHSUPPORT_H
#define CBENCHSUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Starts counting allocations: on the calling thread only (`all_threads` 0) or on every thread.
void bench_alloc_begin(int all_threads);
/// Stops counting; stores the number of allocation calls and the bytes they asked for.
void bench_alloc_end(uint64_t *count, uint64_t *bytes);
/// Whether the interposed allocator is the one in use (1) — i.e. the counts are real.
int bench_alloc_active(void);

/// Starts the ceiling server on 127.0.0.1, port chosen by the kernel. A request whose head has
/// an `Accept-Encoding` line mentioning `gzip` gets `gzip_response`, any other `identity_response`
/// (both complete: status line, headers, body). The bytes are copied. Returns the port, or -1.
int bench_ceiling_start(const uint8_t *identity_response, size_t identity_length,
                        const uint8_t *gzip_response, size_t gzip_length);
/// Stops accepting (connections already open are served until their client closes).
void bench_ceiling_stop(void);

/// Connects to 127.0.0.1:`port` (blocking, TCP_NODELAY); returns the socket or -1.
int bench_connect(int port);
/// Sends `request` on `fd`, then reads one response (head and `Content-Length` body) into
/// `buffer`; returns the response's total length, or -1 (error, or larger than `capacity`).
/// The HTTP status is stored in `status`; the head's length in `head_length`.
long bench_exchange(int fd, const char *request, size_t request_length, uint8_t *buffer, size_t capacity,
                    int *status, size_t *head_length);
/// Closes a socket.
void bench_close(int fd);

/// memmem(3) (a GNU extension Swift's Glibc module does not show): the first occurrence of
/// `needle` in `haystack`, or NULL.
const void *bench_memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length);

#endif
