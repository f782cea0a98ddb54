extension PrometheusPlugin {
    /// The metrics URLs, for the startup banner (after `start`, with port 0 resolved).
    public var summary: String {
        let addresses = boundAddresses.isEmpty ? configuration.listen : boundAddresses
        return addresses.map { address in
            let host: String
            switch address.host {
            case "0.0.0.0", "": host = "127.0.0.1"
            case "::": host = "[::1]"
            case let other where other.contains(":"): host = "[\(other)]"
            case let other: host = other
            }
            return "http://\(host):\(address.port)\(configuration.metricsPath)"
        }.joined(separator: " ")
    }
}
