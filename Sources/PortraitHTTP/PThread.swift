import CLinuxShims
import Glibc

/// POSIX threads for the event loops and for blocking work kept off the cooperative pool.
enum PThread {
    /// Starts a pthread named `name` (at most 15 bytes are kept) running `body`; joinable
    /// unless `detached`.
    /// - Throws: ``HTTPServerError/systemCall(_:errno:)`` when the thread cannot be created.
    @discardableResult
    static func spawn(name: String, detached: Bool = false, _ body: @escaping @Sendable () -> Void) throws(HTTPServerError) -> pthread_t {
        let box = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let start = Unmanaged<Start>.fromOpaque(argument).takeRetainedValue()
            _ = shim_set_thread_name(start.name)
            start.body()
            return nil
        }, box)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(box).release()
            throw .systemCall("pthread_create", errno: result)
        }
        if detached {
            pthread_detach(thread)
        }
        return thread
    }

    /// What a new thread runs, passed through `pthread_create`'s context pointer.
    private final class Start {
        let name: String
        let body: @Sendable () -> Void

        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
