// Interposed allocator entry points of the bench executable. The executable's definitions come
// first in the dynamic symbol lookup, so the Swift runtime and Foundation allocate through them
// too. They forward to glibc's allocator, so `free`, `malloc_usable_size` and the aligned
// variants (not counted) keep working on every pointer.
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "CBenchSupport.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);

static _Atomic int counting_all = 0;
static _Atomic uint64_t all_count = 0;
static _Atomic uint64_t all_bytes = 0;
static __thread int counting_here = 0;
static __thread uint64_t here_count = 0;
static __thread uint64_t here_bytes = 0;
static _Atomic int interposed = 0;

static inline void note(size_t size) {
    if (counting_here) {
        here_count += 1;
        here_bytes += size;
    } else if (atomic_load_explicit(&counting_all, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&all_count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&all_bytes, size, memory_order_relaxed);
    }
}

// Sanitizers bring their own allocator and intercept these symbols; a second interposer in the
// same binary (the test bundle links this target through PortraitBenchTests) crashes them at
// start. Under a sanitizer the counter is simply inactive (`bench_alloc_active` says so).
#if defined(__has_feature)
#  if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#    define BENCH_NO_INTERPOSE 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define BENCH_NO_INTERPOSE 1
#endif

#ifndef BENCH_NO_INTERPOSE
void *malloc(size_t size) {
    note(size);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    note(count * size);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    note(size);
    return __libc_realloc(pointer, size);
}
#endif

void bench_alloc_begin(int all_threads) {
    if (all_threads) {
        atomic_store(&all_count, 0);
        atomic_store(&all_bytes, 0);
        atomic_store(&counting_all, 1);
    } else {
        here_count = 0;
        here_bytes = 0;
        counting_here = 1;
    }
}

void bench_alloc_end(uint64_t *count, uint64_t *bytes) {
    if (counting_here) {
        counting_here = 0;
        *count = here_count;
        *bytes = here_bytes;
    } else {
        atomic_store(&counting_all, 0);
        *count = atomic_load(&all_count);
        *bytes = atomic_load(&all_bytes);
    }
}

int bench_alloc_active(void) {
    // A malloc made through the dynamic symbol must land here while counting.
    uint64_t count = 0, bytes = 0;
    bench_alloc_begin(0);
    void *(*volatile through_symbol)(size_t) = malloc;
    void *p = through_symbol(24);
    bench_alloc_end(&count, &bytes);
    extern void free(void *);
    free(p);
    return count == 1 ? 1 : 0;
}
