import Foundation
import PortraitTestKit
import Testing

extension DeploySuite {
    /// deploy/systemd, deploy/kubernetes, deploy/docker and deploy/logs: the shipped configs pass the
    /// exporter's own check-config, the manifests hang together, and every tool that can check a file
    /// here does (systemd-analyze; vector and fluent-bit only where installed: Debian has neither).
    @Suite("systemd, Kubernetes, Docker and log-shipper files", .timeLimit(.minutes(5)))
    struct DeployFilesTests {
        static let binary = RunningProcess.builtProduct("wechat-portrait-exporter")

        // MARK: The example configs

        /// Runs `check-config` on `json` with every secret_file path under `credentials` replaced by
        /// a temporary file (mode 0600) and `environment` added.
        static func checkConfig(_ json: String, credentialsPrefix: String?, environment: [String: String] = [:]) async throws -> Subprocess.Result {
            let directory = try Repository.temporaryDirectory("config-check")
            defer { try? FileManager.default.removeItem(at: directory) }
            var text = json
            if let credentialsPrefix {
                text = text.replacingOccurrences(of: credentialsPrefix, with: directory.path)
                for name in secretFileNames(json, prefix: credentialsPrefix) {
                    let path = directory.appendingPathComponent(name).path
                    try "example-secret-\(name)".write(toFile: path, atomically: true, encoding: .utf8)
                    chmod(path, 0o600)
                }
            }
            let config = directory.appendingPathComponent("config.json").path
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            var env = ProcessInfo.processInfo.environment
            env.merge(environment) { $1 }
            return try await Tools.run(binary, ["check-config", config], environment: env)
        }

        /// File names of the `"secret_file": "PREFIX/NAME"` entries.
        static func secretFileNames(_ json: String, prefix: String) -> [String] {
            json.components(separatedBy: "\"secret_file\": \"\(prefix)/").dropFirst().compactMap { $0.split(separator: "\"").first.map(String.init) }
        }

        @Test("deploy/systemd/config.json passes check-config; its secret files are the unit's credentials, its token file is in the StateDirectory")
        func systemdConfig() async throws {
            let json = try Repository.text("deploy/systemd/config.json")
            let unit = try Repository.text("deploy/systemd/wechat-portrait-exporter.service")
            let prefix = "/run/credentials/wechat-portrait-exporter.service"
            let result = try await Self.checkConfig(json, credentialsPrefix: prefix)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("OK") && !result.output.contains("warning"), "\(result.output)")
            let names = Self.secretFileNames(json, prefix: prefix)
            #expect(names.count == 2)
            for name in names {
                #expect(unit.contains("\nLoadCredential=\(name):/etc/wechat-portrait-exporter/credentials/\(name)\n"), "no LoadCredential for \(name)")
            }
            #expect(json.contains("\"persist_file\": \"/var/lib/wechat-portrait-exporter/tokens.json\"") && unit.contains("\nStateDirectory=wechat-portrait-exporter\n"))
            #expect(unit.contains("\nExecStart=/usr/local/bin/wechat-portrait-exporter --config /etc/wechat-portrait-exporter/config.json\n"))
            for line in ["DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure", "RestartPreventExitStatus=2", "CapabilityBoundingSet="] {
                #expect(unit.contains("\n\(line)\n"), "unit lacks \(line)")
            }
        }

        @Test("systemd-analyze verify accepts the unit (with ExecStart pointing at the built binary)")
        func systemdVerify() async throws {
            guard let analyze = ExternalTool.locate("systemd-analyze") else {
                print("SKIPPED: systemd-analyze not installed; did not verify deploy/systemd/wechat-portrait-exporter.service")
                return
            }
            let directory = try Repository.temporaryDirectory("systemd-verify")
            defer { try? FileManager.default.removeItem(at: directory) }
            let unit = try Repository.text("deploy/systemd/wechat-portrait-exporter.service")
                .replacingOccurrences(of: "/usr/local/bin/wechat-portrait-exporter", with: Self.binary)
            let path = directory.appendingPathComponent("wechat-portrait-exporter.service").path
            try unit.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try await Tools.run(analyze, ["verify", path])
            #expect(result.status == 0 && result.output.isEmpty, "systemd-analyze verify: \(result.output)")
            let security = try await Tools.run(analyze, ["security", "--offline=true", "--threshold=20", path])
            #expect(security.status == 0, "systemd-analyze security: exposure above 2.0:\n\(security.output)")
        }

        // MARK: Kubernetes

        @Test("the ConfigMap's config.json passes check-config with the Secret's variables set")
        func kubernetesConfig() async throws {
            guard let python = await StructuredFile.requirePython(for: "parse deploy/kubernetes") else { return }
            let configMap = try await StructuredFile.yaml("deploy/kubernetes/configmap.yaml", python: python)
            let json = try #require(configMap[path: "data", "config.json"] as? String)
            let secret = try await StructuredFile.yaml("deploy/kubernetes/secret.example.yaml", python: python)
            let keys = try #require(secret["stringData"] as? [String: String])
            let result = try await Self.checkConfig(json, credentialsPrefix: nil, environment: keys)
            #expect(result.status == 0, "\(result.output)")
            for key in keys.keys { #expect(json.contains("\"secret_env\": \"\(key)\""), "config.json does not use \(key)") }
        }

        @Test("manifests: one replica, probes on /healthz and /readyz, locked-down securityContext, resources, Service, ServiceMonitor and job label fit")
        func kubernetesManifests() async throws {
            guard let python = await StructuredFile.requirePython(for: "parse deploy/kubernetes") else { return }
            let kustomization = try await StructuredFile.yaml("deploy/kubernetes/kustomization.yaml", python: python)
            let resources = try #require(kustomization["resources"] as? [String])
            var byKind: [String: [String: Any]] = [:]
            for resource in resources {
                for case let document as [String: Any] in try await StructuredFile.yamlDocuments("deploy/kubernetes/\(resource)", python: python) {
                    byKind[document["kind"] as? String ?? "?"] = document
                }
            }
            #expect(Set(byKind.keys) == ["Namespace", "ConfigMap", "Secret", "Deployment", "Service", "ServiceMonitor", "PrometheusRule"])
            #expect(Set(try Repository.files(in: "deploy/kubernetes", suffix: ".yaml").map { ($0 as NSString).lastPathComponent }) == Set(resources + ["kustomization.yaml"]))

            let deployment = try #require(byKind["Deployment"])
            #expect(deployment[path: "spec", "replicas"] as? Int == 1)
            let pod = try #require(deployment[path: "spec", "template", "spec"] as? [String: Any])
            #expect(pod[path: "securityContext", "runAsNonRoot"] as? Bool == true)
            #expect(pod[path: "securityContext", "runAsUser"] as? Int == 10054, "the image's user")
            #expect(pod["automountServiceAccountToken"] as? Bool == false)
            let container = try #require(pod[path: "containers", 0] as? [String: Any])
            #expect(container[path: "livenessProbe", "httpGet", "path"] as? String == "/healthz")
            #expect(container[path: "readinessProbe", "httpGet", "path"] as? String == "/readyz")
            #expect(container[path: "livenessProbe", "httpGet", "port"] as? String == "metrics")
            #expect(container[path: "ports", 0, "name"] as? String == "metrics" && container[path: "ports", 0, "containerPort"] as? Int == 10054)
            #expect(container[path: "securityContext", "readOnlyRootFilesystem"] as? Bool == true)
            #expect(container[path: "securityContext", "allowPrivilegeEscalation"] as? Bool == false)
            #expect(container[path: "securityContext", "capabilities", "drop"] as? [String] == ["ALL"])
            #expect(container[path: "resources", "requests", "memory"] as? String != nil && container[path: "resources", "limits", "memory"] as? String != nil)
            let args = container["args"] as? [String] ?? []
            #expect(args == ["--config", "/etc/wechat-portrait-exporter/config.json"])
            let mounts = container["volumeMounts"] as? [[String: Any]] ?? []
            #expect(mounts.contains { $0["mountPath"] as? String == "/etc/wechat-portrait-exporter" })
            #expect(mounts.contains { $0["mountPath"] as? String == "/var/lib/wechat-portrait-exporter" }, "no writable state directory for token.persist_file")

            // Every secretKeyRef names the Secret and one of its keys.
            let secret = try #require(byKind["Secret"])
            let secretName = secret[path: "metadata", "name"] as? String
            let secretKeys = Set((secret["stringData"] as? [String: String] ?? [:]).keys)
            for variable in container["env"] as? [[String: Any]] ?? [] {
                guard let reference = variable[path: "valueFrom", "secretKeyRef"] as? [String: String] else { continue }
                #expect(reference["name"] == secretName && secretKeys.contains(reference["key"] ?? ""), "env \(variable)")
            }

            // Service selects the pods; ServiceMonitor selects the Service and its port, and its
            // jobLabel yields the job name the alert rules use.
            let service = try #require(byKind["Service"])
            let podLabels = deployment[path: "spec", "template", "metadata", "labels"] as? [String: String] ?? [:]
            let selector = service[path: "spec", "selector"] as? [String: String] ?? [:]
            #expect(!selector.isEmpty && selector.allSatisfy { podLabels[$0.key] == $0.value })
            #expect(service[path: "spec", "ports", 0, "name"] as? String == "metrics")
            #expect(service[path: "spec", "publishNotReadyAddresses"] as? Bool == true)
            let monitor = try #require(byKind["ServiceMonitor"])
            let serviceLabels = service[path: "metadata", "labels"] as? [String: String] ?? [:]
            let monitorSelector = monitor[path: "spec", "selector", "matchLabels"] as? [String: String] ?? [:]
            #expect(!monitorSelector.isEmpty && monitorSelector.allSatisfy { serviceLabels[$0.key] == $0.value })
            #expect(monitor[path: "spec", "endpoints", 0, "port"] as? String == "metrics")
            let jobLabel = try #require(monitor[path: "spec", "jobLabel"] as? String)
            #expect(serviceLabels[jobLabel] == "wechat-portrait-exporter", "job label would be \(serviceLabels[jobLabel] ?? "the Service name")")
            #expect(try Repository.text(AlertRuleFiles.rules).contains("up{job=\"wechat-portrait-exporter\"}"))
        }

        // MARK: Docker

        @Test("Dockerfile: Swift 6.3 build stage with --static-swift-stdlib and libcurl, slim non-root runtime with a /healthz HEALTHCHECK")
        func dockerfile() async throws {
            let text = try Repository.text("deploy/docker/Dockerfile")
            for fragment in ["ARG SWIFT_IMAGE=swift:6.3-bookworm", "ARG RUNTIME_IMAGE=debian:bookworm-slim", "FROM ${SWIFT_IMAGE} AS build", "FROM ${RUNTIME_IMAGE}",
                             "libcurl4-openssl-dev", "--static-swift-stdlib", "libcurl4 ca-certificates curl", "USER 10054:10054",
                             "HEALTHCHECK", "http://127.0.0.1:10054/healthz", "EXPOSE 10054", "COPY --from=build"] {
                #expect(text.contains(fragment), "Dockerfile lacks \(fragment)")
            }
            let ignore = try Repository.text("deploy/docker/Dockerfile.dockerignore")
            for copied in ["Package.swift", "Sources/", "Tests/"] {
                #expect(ignore.contains("!\(copied)"), "Dockerfile.dockerignore excludes \(copied), which the build copies")
            }
        }

        @Test("docker-compose.yml: demo exporter, Prometheus with deploy/prometheus, Grafana with the dashboards; every mounted path exists")
        func compose() async throws {
            guard let python = await StructuredFile.requirePython(for: "parse deploy/docker/docker-compose.yml") else { return }
            let compose = try await StructuredFile.yaml("deploy/docker/docker-compose.yml", python: python)
            let services = try #require(compose["services"] as? [String: Any])
            #expect(Set(services.keys) == ["wechat-portrait-exporter", "prometheus", "grafana"])
            #expect(compose[path: "services", "wechat-portrait-exporter", "command"] as? [String] == ["--demo", "--listen", "0.0.0.0:10054"])
            let dockerfile = try #require(compose[path: "services", "wechat-portrait-exporter", "build", "dockerfile"] as? String)
            #expect(compose[path: "services", "wechat-portrait-exporter", "build", "context"] as? String == "../..")
            #expect(FileManager.default.fileExists(atPath: Repository.path(dockerfile)))
            #expect((compose[path: "services", "prometheus", "volumes"] as? [String] ?? []).contains("../prometheus:/etc/prometheus:ro"))
            #expect(try Repository.text("deploy/prometheus/prometheus.yml").contains("targets: [\"wechat-portrait-exporter:10054\"]"), "the scrape target is not the compose service")
            for (name, service) in services {
                for volume in (service as? [String: Any])?["volumes"] as? [String] ?? [] where volume.hasPrefix(".") {
                    let source = String(volume.split(separator: ":")[0])
                    let path = Repository.root.appendingPathComponent("deploy/docker").appendingPathComponent(source).standardizedFileURL.path
                    #expect(FileManager.default.fileExists(atPath: path), "\(name) mounts \(source), which does not exist")
                }
            }
            // docker-compose (v1, Debian's package) validates the file without an engine.
            if let dockerCompose = ExternalTool.locate("docker-compose") {
                let result = try await Tools.run(dockerCompose, ["-f", Repository.path("deploy/docker/docker-compose.yml"), "config", "--quiet"])
                #expect(result.status == 0, "docker-compose config: \(result.output)")
            } else {
                print("SKIPPED: docker-compose not installed; did not run `docker-compose config` on deploy/docker/docker-compose.yml")
            }
        }

        // MARK: Logs

        static let lokiLabels: Set<String> = ["job", "app", "window", "segment", "dimension", "record"]

        @Test("vector.toml parses: file and TCP sources, a JSON-parsing remap, a Loki sink with low-cardinality labels only")
        func vector() async throws {
            guard let python = await StructuredFile.requirePython(for: "parse deploy/logs/vector.toml") else { return }
            let config = try await StructuredFile.toml("deploy/logs/vector.toml", python: python)
            #expect(config[path: "sources", "portrait_file", "type"] as? String == "file")
            #expect(config[path: "sources", "portrait_tcp", "type"] as? String == "socket")
            #expect(config[path: "sources", "portrait_tcp", "mode"] as? String == "tcp")
            #expect(config[path: "sources", "portrait_tcp", "decoding", "codec"] as? String == "json")
            #expect(config[path: "transforms", "portrait_parse", "inputs"] as? [String] == ["portrait_file", "portrait_tcp"])
            #expect((config[path: "transforms", "portrait_parse", "source"] as? String ?? "").contains("parse_json"))
            let labels = try #require(config[path: "sinks", "loki", "labels"] as? [String: String])
            #expect(Set(labels.keys) == Self.lokiLabels)
            if let vector = ExternalTool.locate("vector") {
                let result = try await Tools.run(vector, ["validate", "--no-environment", Repository.path("deploy/logs/vector.toml")])
                #expect(result.status == 0, "vector validate: \(result.output)")
            } else {
                print("SKIPPED: vector not installed (not in Debian); vector.toml was only parsed as TOML")
            }
        }

        @Test("fluent-bit.yaml parses: tail and TCP inputs, a JSON parser on the record's timestamp, a Loki output with low-cardinality labels only")
        func fluentBit() async throws {
            guard let python = await StructuredFile.requirePython(for: "parse deploy/logs/fluent-bit.yaml") else { return }
            let config = try await StructuredFile.yaml("deploy/logs/fluent-bit.yaml", python: python)
            let parser = try #require((config["parsers"] as? [[String: Any]])?.first)
            #expect(parser["format"] as? String == "json" && parser["time_key"] as? String == "timestamp")
            let inputs = config[path: "pipeline", "inputs"] as? [[String: Any]] ?? []
            #expect(inputs.map { $0["name"] as? String ?? "" } == ["tail", "tcp"])
            #expect(inputs.allSatisfy { ($0["parser"] as? String ?? parser["name"] as? String) == parser["name"] as? String })
            let filters = config[path: "pipeline", "filters"] as? [[String: Any]] ?? []
            #expect(filters.contains { $0["name"] as? String == "parser" && $0["parser"] as? String == parser["name"] as? String })
            let output = try #require((config[path: "pipeline", "outputs"] as? [[String: Any]])?.first)
            #expect(output["name"] as? String == "loki")
            let labels = (output["labels"] as? String ?? "").split(separator: ",").map { $0.split(separator: "=")[0].trimmingCharacters(in: .whitespaces) }
            #expect(Set(labels) == Self.lokiLabels)
            if let fluentBit = ExternalTool.locate("fluent-bit") ?? (FileManager.default.isExecutableFile(atPath: "/opt/fluent-bit/bin/fluent-bit") ? "/opt/fluent-bit/bin/fluent-bit" : nil) {
                let result = try await Tools.run(fluentBit, ["--dry-run", "-c", Repository.path("deploy/logs/fluent-bit.yaml")])
                #expect(result.status == 0, "fluent-bit --dry-run: \(result.output)")
            } else {
                print("SKIPPED: fluent-bit not installed (not in Debian); fluent-bit.yaml was only parsed as YAML")
            }
        }
    }
}
