// ThreadSanitizer builds only (`swift build/test --sanitize=thread`); compiles to nothing otherwise.
//
// Why: on Linux, `Synchronization.Mutex` takes a contended lock in `_MutexHandle._lockSlow`, which
// lives in the uninstrumented libswiftSynchronization.so: it spins with a plain `cmpxchg` and then
// waits in `FUTEX_LOCK_PI`, where the kernel hands the lock over. TSan sees neither, so it misses
// the happens-before edge between the previous owner's unlock and the new owner's critical section
// and reports "Swift access race" on data that is only ever touched under the lock (Swift 6.3.1;
// reproduced with a 20-line program: 4 threads appending to a `Mutex<[Int: Int]>`).
//
// What: these definitions interpose the three slow-path entry points (the inlined fast paths in our
// code are instrumented atomics already). Each calls the real function from the shared library and
// tells TSan about the hand-over with `__tsan_acquire` / `__tsan_release` on the lock word, the same
// address the fast paths' atomics use. Real races (accesses outside a lock) are still reported.
//
// The symbols are Swift methods (swiftcc, `self` = the lock word's address in the swiftself
// register, `selfId` = the caller's tid), hence the Swift-mangled names and calling convention.
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

#define SHIM_SWIFTCALL __attribute__((swiftcall))
#define SHIM_SELF __attribute__((swift_context))
#define SHIM_LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define SHIM_TRYLOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define SHIM_UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

static SHIM_SWIFTCALL void (*shim_real_lock_slow)(uint32_t, SHIM_SELF void *);
static SHIM_SWIFTCALL bool (*shim_real_trylock_slow)(SHIM_SELF void *);
static SHIM_SWIFTCALL void (*shim_real_unlock_slow)(SHIM_SELF void *);

static void *shim_resolve(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    if (symbol == NULL) {
        fprintf(stderr, "TSanMutexAnnotations: %s not found in libswiftSynchronization\n", name);
        abort();
    }
    return symbol;
}

// Resolved before main, while the process has one thread.
__attribute__((constructor)) static void shim_resolve_mutex_slow_paths(void) {
    shim_real_lock_slow = shim_resolve(SHIM_LOCK_SLOW);
    shim_real_trylock_slow = shim_resolve(SHIM_TRYLOCK_SLOW);
    shim_real_unlock_slow = shim_resolve(SHIM_UNLOCK_SLOW);
}

SHIM_SWIFTCALL void shim_tsan_lock_slow(uint32_t selfId, SHIM_SELF void *word) __asm__(SHIM_LOCK_SLOW);
SHIM_SWIFTCALL void shim_tsan_lock_slow(uint32_t selfId, SHIM_SELF void *word) {
    shim_real_lock_slow(selfId, word);
    __tsan_acquire(word);
}

SHIM_SWIFTCALL bool shim_tsan_trylock_slow(SHIM_SELF void *word) __asm__(SHIM_TRYLOCK_SLOW);
SHIM_SWIFTCALL bool shim_tsan_trylock_slow(SHIM_SELF void *word) {
    bool locked = shim_real_trylock_slow(word);
    if (locked) __tsan_acquire(word);
    return locked;
}

SHIM_SWIFTCALL void shim_tsan_unlock_slow(SHIM_SELF void *word) __asm__(SHIM_UNLOCK_SLOW);
SHIM_SWIFTCALL void shim_tsan_unlock_slow(SHIM_SELF void *word) {
    __tsan_release(word);
    shim_real_unlock_slow(word);
}

#endif
#endif
