import CLinuxShims
import Glibc

/// Starts a pthread running `body`; joinable unless `detached`.
/// - Throws: ``HTTPServerError/systemCall(_:errno:)`` when the thread cannot be created.
@discardableResult
func spawnThread(name: String, detached: Bool = false, _ body: @escaping @Sendable () -> Void) throws(HTTPServerError) -> pthread_t {
    final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { argument in
        guard let argument else { return nil }
        let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
        _ = shim_set_thread_name(box.name)
        box.body()
        return nil
    }, box)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        throw .systemCall("pthread_create", errno: result)
    }
    if detached {
        pthread_detach(thread)
    }
    return thread
}
