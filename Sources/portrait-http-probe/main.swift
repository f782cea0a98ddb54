// Test helper for PortraitHTTPTests (not installed, not for users): runs an `HTTPServer` in a
// process of its own, so a test can starve it of resources (file descriptors) without touching
// the test process, where other tests run in parallel.
//
//     portrait-http-probe [--max-fds N] [--max-connections N]
//
// Closes every inherited descriptor above 2, lowers RLIMIT_NOFILE to N (soft and hard) when
// asked, starts a server on 127.0.0.1:0 (`GET /` answers "hello"), prints `port P`, then reads
// commands from standard input, one per line, and answers each on standard output:
//     stats   -> `stats accepted=A open=O rejected=R evicted=E acceptErrors=X responses=N`
// End of input stops the server and exits 0, so the probe never outlives its test.
@preconcurrency import Glibc
import PortraitHTTP

/// Exits with status 2 after printing `message` on standard error.
func fail(_ message: String) -> Never {
    fputs("portrait-http-probe: \(message)\n", stderr)
    exit(2)
}

/// Writes one line to standard output (unbuffered: the test waits for it).
func say(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 {
            if errno == EINTR { continue }
            exit(0) // the test went away
        }
        offset += written
    }
}

/// Reads one line from standard input; nil at end of input.
func readCommand() -> String? {
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while true {
        let count = read(0, &byte, 1)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
        if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
        line.append(byte)
    }
}

// Descriptors a parent forgot to mark close-on-exec would count against the limit (and keep
// the parent's sockets open): drop them first.
let highestInherited = Int32(min(sysconf(Int32(_SC_OPEN_MAX)), 1 << 16))
if highestInherited > 3 {
    for fd in 3..<highestInherited { close(fd) }
}

var maxFDs: Int?
var maxConnections = 10_000
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    guard let value = arguments.popFirst().flatMap({ Int($0) }), value > 0 else { fail("\(argument) needs a positive number") }
    switch argument {
    case "--max-fds": maxFDs = value
    case "--max-connections": maxConnections = value
    default: fail("unknown argument \(argument)")
    }
}
if let maxFDs {
    var limit = rlimit(rlim_cur: rlim_t(maxFDs), rlim_max: rlim_t(maxFDs))
    guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { fail("setrlimit: errno \(errno)") }
}

var configuration: HTTPServerConfiguration
do {
    configuration = HTTPServerConfiguration(listen: [try ListenAddress(parsing: "127.0.0.1:0")])
} catch {
    fail("\(error)")
}
configuration.maxConnections = maxConnections
configuration.headerReadTimeout = .seconds(60)
configuration.idleTimeout = .seconds(60)
let server = HTTPServer(configuration: configuration, handler: HTTPHandlerFunction { _ in .text(200, "hello") })
do {
    try server.start()
} catch {
    fail("start: \(error)")
}
guard let port = server.boundAddresses.first?.port else { fail("no bound address") }
say("port \(port)")

while let command = readCommand() {
    switch command {
    case "stats":
        let stats = server.stats()
        say("stats accepted=\(stats.connectionsAccepted) open=\(stats.connectionsOpen) rejected=\(stats.connectionsRejected) evicted=\(stats.connectionsEvicted) acceptErrors=\(stats.acceptErrors) responses=\(stats.responses)")
    default:
        say("error unknown command \(command)")
    }
}
server.stop()
exit(0)
