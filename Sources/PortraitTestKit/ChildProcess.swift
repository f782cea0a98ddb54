import CLinuxShims
import Foundation
import Glibc
import Synchronization

/// A program started by a test with `posix_spawn`, its standard streams on descriptors the test
/// chose and every other descriptor of the test process closed in the child.
///
/// Not `Foundation.Process`: in Swift 6.3.1 on Linux, `Process.run()` reads `/proc/self/fd` with a
/// 256-byte copy of each directory entry and now and then reads past glibc's buffer into an
/// unmapped page (swift-corelibs-foundation PR #5472, fixed after 6.3.1). A test process with
/// hundreds of sockets open hits it: one CI run here crashed in that `memcpy` with SIGSEGV. The
/// child also gets only the descriptors it should — a leaked client socket would keep a
/// connection open that a test closed.
public final class ChildProcess: Sendable {
    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    public let pid: pid_t
    /// The wait status once reaped (nil while running).
    private let status = Mutex<Int32?>(nil)

    /// Starts `path` with `arguments` (argv[0] is `path`), in `environment` (the test process's
    /// own when nil) and `directory`; the child's descriptors 0, 1 and 2 are `stdin`, `stdout`
    /// and `stderr` of the parent (which keeps its copies: close them after this returns).
    public init(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                stdin: Int32, stdout: Int32, stderr: Int32) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        shim_spawn_addclosefrom(&actions, 3)
        if let directory { shim_spawn_addchdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default signal handling, whatever the test process blocked.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result: Int32
        if let environment {
            let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { envp.forEach { free($0) } }
            result = posix_spawn(&child, path, &actions, &attributes, argv, envp)
        } else {
            result = posix_spawn(&child, path, &actions, &attributes, argv, environ)
        }
        guard result == 0 else {
            throw SpawnError(description: "posix_spawn \(path): \(String(cString: strerror(result)))")
        }
        pid = child
    }

    /// Whether the program has not exited yet (reaps it when it has).
    public var isRunning: Bool { reap() == nil }

    /// The exit code, or the signal's number when a signal ended it (as `Process` reports them);
    /// nil while it runs.
    public var terminationStatus: Int32? {
        reap().map { raw in raw & 0x7f == 0 ? (raw >> 8) & 0xff : raw & 0x7f }
    }

    /// Waits for the exit, polling (only for threads that may block, never a task's).
    public func blockingWaitUntilExit() -> Int32 {
        while true {
            if let status = terminationStatus { return status }
            usleep(2_000)
        }
    }

    /// Sends `signal`, unless the program has been reaped (its pid may belong to another by then).
    public func send(_ signal: Int32) {
        status.withLock { status in
            if status == nil { kill(pid, signal) }
        }
    }

    private func reap() -> Int32? {
        status.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &raw, WNOHANG) } while result < 0 && errno == EINTR
            if result == pid {
                status = raw
            } else if result < 0 {
                status = 0x7f  // ECHILD: someone else reaped it; report "ended by signal 127"
            }
            return status
        }
    }

    deinit {
        if reap() == nil {
            kill(pid, SIGKILL)
            // Reaped on a thread of its own: deinit may run on a task's thread.
            let pid = self.pid
            Thread {
                var raw: Int32 = 0
                _ = waitpid(pid, &raw, 0)
            }.start()
        }
    }
}

/// A pipe whose ends are close-on-exec (only a `dup2`'ed copy reaches a child).
public struct ChildPipe {
    public let read: Int32
    public let write: Int32

    public init() throws {
        var fds: [Int32] = [-1, -1]
        guard shim_pipe_blocking(&fds) == 0 else { throw ChildProcess.SpawnError(description: "pipe2: errno \(errno)") }
        read = fds[0]
        write = fds[1]
    }
}
