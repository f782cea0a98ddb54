import Foundation
import Testing

extension DeploySuite {
    /// The Grafana dashboards have what Grafana needs to import them (UI or file provisioning) and
    /// what the issue asks them to show; the provisioning files and compose mounts fit together.
    @Suite("Grafana dashboards and provisioning")
    struct DashboardTests {
        static let panelTypes: Set<String> = ["row", "stat", "timeseries", "bargauge", "piechart", "barchart", "table", "state-timeline", "text", "gauge"]
        static let datasource: [String: String] = ["type": "prometheus", "uid": "${datasource}"]
        static let builtins: Set<String> = ["__rate_interval", "__interval", "__range", "__range_s", "__range_ms", "__interval_ms"]

        @Test("both dashboards exist, with distinct uids")
        func inventory() async throws {
            let dashboards = try GrafanaDashboard.all()
            #expect(Set(dashboards.compactMap(\.uid)) == ["wechat-portrait", "wechat-portrait-exporter-health"])
        }

        @Test("importable: uid, title, schemaVersion, no __inputs or ${DS_…}, a datasource variable used by every panel and target")
        func importable() async throws {
            for dashboard in try GrafanaDashboard.all() {
                let file = dashboard.file
                let text = try Repository.text(file)
                let uid = try #require(dashboard.uid, "\(file): no uid")
                #expect(!uid.isEmpty && uid.count <= 40 && uid.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, "\(file): uid \(uid)")
                #expect(!(dashboard.title ?? "").isEmpty, "\(file): no title")
                let schema = try #require(dashboard.json["schemaVersion"] as? Int, "\(file): no schemaVersion")
                #expect((39...41).contains(schema), "\(file): schemaVersion \(schema)")
                #expect(dashboard.json["__inputs"] == nil && !text.contains("${DS_") && !text.contains("__requires"), "\(file): export placeholders")
                #expect(dashboard.json["id"] == nil || dashboard.json["id"] is NSNull, "\(file): a fixed numeric id")
                #expect(dashboard.json["time"] is [String: Any] && dashboard.json["templating"] is [String: Any])

                let variable = try #require(dashboard.variables.first { $0["name"] as? String == "datasource" }, "\(file): no datasource variable")
                #expect(variable["type"] as? String == "datasource" && variable["query"] as? String == "prometheus")

                // Every datasource reference anywhere is the variable (or Grafana's built-in annotations).
                var references: [Any] = []
                Self.collect(key: "datasource", in: dashboard.json, into: &references)
                for reference in references {
                    if let object = reference as? [String: String], object == Self.datasource { continue }
                    if let object = reference as? [String: String], object["type"] == "grafana" { continue }
                    Issue.record("\(file): datasource reference \(reference) is not ${datasource}")
                }

                let variableNames = Set(dashboard.variables.compactMap { $0["name"] as? String })
                for variable in dashboard.variables where variable["type"] as? String == "query" {
                    let query = GrafanaDashboard.variableQuery(variable) ?? ""
                    #expect(query.hasPrefix("label_values("), "\(file) variable \(variable["name"] ?? ""): \(query)")
                    #expect((variable["datasource"] as? [String: String]) == Self.datasource)
                    #expect(Set(GrafanaTemplate.variables(in: query)).isSubset(of: variableNames))
                }
            }
        }

        @Test("panels: unique ids, gridPos inside 24 columns and not overlapping, known types, PromQL targets on the variable")
        func panels() async throws {
            for dashboard in try GrafanaDashboard.all() {
                let file = dashboard.file
                let panels = dashboard.panels
                #expect(panels.count >= 10)
                let ids = panels.compactMap { $0["id"] as? Int }
                #expect(ids.count == panels.count && Set(ids).count == ids.count, "\(file): panel ids missing or repeated")
                var rectangles: [(id: Int, x: Int, y: Int, w: Int, h: Int)] = []
                let variableNames = Set(dashboard.variables.compactMap { $0["name"] as? String }).union(Self.builtins)
                for panel in panels {
                    let id = panel["id"] as? Int ?? -1
                    let type = panel["type"] as? String ?? ""
                    #expect(Self.panelTypes.contains(type), "\(file) panel \(id): type \(type)")
                    #expect(!(panel["title"] as? String ?? "").isEmpty, "\(file) panel \(id): no title")
                    let grid = panel["gridPos"] as? [String: Int] ?? [:]
                    guard let x = grid["x"], let y = grid["y"], let w = grid["w"], let h = grid["h"] else {
                        Issue.record("\(file) panel \(id): gridPos \(grid)")
                        continue
                    }
                    #expect(x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= 24, "\(file) panel \(id): gridPos \(grid)")
                    rectangles.append((id, x, y, w, h))
                    guard type != "row" else { continue }
                    #expect((panel["datasource"] as? [String: String]) == Self.datasource, "\(file) panel \(id): datasource \(panel["datasource"] ?? "none")")
                    let targets = panel["targets"] as? [[String: Any]] ?? []
                    #expect(!targets.isEmpty, "\(file) panel \(id): no targets")
                    let refIDs = targets.compactMap { $0["refId"] as? String }
                    #expect(refIDs.count == targets.count && Set(refIDs).count == refIDs.count, "\(file) panel \(id): refIds \(refIDs)")
                    for target in targets {
                        #expect((target["datasource"] as? [String: String]) == Self.datasource, "\(file) panel \(id): target datasource")
                        let expression = target["expr"] as? String ?? ""
                        #expect(!expression.isEmpty, "\(file) panel \(id): empty expr")
                        #expect(Set(GrafanaTemplate.variables(in: expression)).isSubset(of: variableNames), "\(file) panel \(id): unknown variable in \(expression)")
                    }
                    #expect(panel["fieldConfig"] is [String: Any] && panel["options"] is [String: Any], "\(file) panel \(id): fieldConfig/options")
                }
                for (i, a) in rectangles.enumerated() {
                    for b in rectangles[(i + 1)...] where a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h {
                        Issue.record("\(file): panels \(a.id) and \(b.id) overlap")
                    }
                }
            }
        }

        @Test("portrait: app/window/segment variables; province and city top-N with shares, gender/platform/age charts, device table, new vs active, data date and freshness")
        func portraitContent() async throws {
            let dashboard = try GrafanaDashboard(file: "dashboards/grafana/wechat-portrait.json")
            for name in ["app", "window", "segment"] {
                let variable = try #require(dashboard.variables.first { $0["name"] as? String == name }, "no $\(name)")
                #expect(variable["type"] as? String == "query")
                #expect((GrafanaDashboard.variableQuery(variable) ?? "").contains("label_values(wechat_portrait_users"), "$\(name)")
            }
            let panels = dashboard.panels
            func reading(_ dimension: String) -> [[String: Any]] {
                panels.filter { panel in (panel["targets"] as? [[String: Any]] ?? []).contains { ($0["expr"] as? String ?? "").contains("dimension=\"\(dimension)\"") } }
            }
            func unit(_ panel: [String: Any]) -> String? { (panel["fieldConfig"] as? [String: Any]).flatMap { ($0["defaults"] as? [String: Any])?["unit"] as? String } }
            for dimension in ["province", "city"] {
                let found = reading(dimension)
                #expect(found.contains { $0["type"] as? String == "bargauge" && unit($0) == "short" }, "\(dimension): no top-N count bar gauge")
                #expect(found.contains { $0["type"] as? String == "bargauge" && unit($0) == "percent" }, "\(dimension): no share bar gauge")
            }
            for dimension in ["gender", "platform", "age"] {
                let types = Set(reading(dimension).compactMap { $0["type"] as? String })
                #expect(types.contains("piechart") && types.contains("barchart"), "\(dimension): \(types)")
            }
            #expect(reading("device").contains { $0["type"] as? String == "table" && ($0["targets"] as? [Any])?.count == 2 }, "device: no table with count and share")
            let expressions = dashboard.targets.map(\.expression)
            #expect(expressions.contains { $0.contains("max by (segment)") }, "no new vs active over time")
            #expect(panels.filter { ($0["title"] as? String ?? "").contains("new vs active") }.count >= 4)
            #expect(expressions.contains { $0.contains("wechat_portrait_data_end_timestamp_seconds") && $0.contains("* 1000") }, "no data date")
            #expect(expressions.contains { $0.hasPrefix("time() - max(wechat_portrait_data_end_timestamp_seconds") }, "no data age")
            #expect(expressions.contains { $0.contains("wechat_portrait_last_success_timestamp_seconds") }, "no last success")
            #expect(dashboard.json["timezone"] as? String == "Asia/Shanghai")
        }

        @Test("health: up, last success per app/window, errors by reason, last errcode, next call, token refreshes and expiry, scrape and HTTP stats, process, JSONL and StatsD")
        func healthContent() async throws {
            let dashboard = try GrafanaDashboard(file: "dashboards/grafana/wechat-portrait-exporter-health.json")
            let names = dashboard.targets.reduce(into: Set<String>()) { $0.formUnion(PromQLNames.metrics(in: $1.expression)) }
            for required in ["up", "wechat_portrait_up", "wechat_portrait_ready", "wechat_portrait_last_success_timestamp_seconds",
                             "wechat_portrait_data_end_timestamp_seconds", "wechat_portrait_fetch_errors_total", "wechat_portrait_fetch_attempts_total",
                             "wechat_portrait_token_refreshes_total", "wechat_portrait_http_requests_total", "scrape_duration_seconds",
                             "wechat_portrait_last_errcode", "wechat_portrait_next_attempt_timestamp_seconds",
                             "wechat_portrait_token_expiry_timestamp_seconds", "wechat_portrait_http_connections_evicted_total",
                             "process_resident_memory_bytes", "process_cpu_seconds_total",
                             "wechat_portrait_jsonl_records_total", "wechat_portrait_jsonl_dropped_records_total", "wechat_portrait_jsonl_write_errors_total",
                             "wechat_portrait_statsd_packets_total", "wechat_portrait_statsd_send_errors_total"] {
                #expect(names.contains(required), "health dashboard does not show \(required)")
            }
            #expect(dashboard.targets.contains { $0.expression.contains("sum by (reason)") }, "no errors by reason")
        }

        @Test("provisioning: a Prometheus datasource and a file provider whose path is where compose mounts dashboards/grafana")
        func provisioning() async throws {
            guard let python = await StructuredFile.requirePython(for: "parse the Grafana provisioning and compose files") else { return }
            let datasources = try await StructuredFile.yaml("dashboards/provisioning/datasources/prometheus.yml", python: python)
            let source = try #require((datasources["datasources"] as? [[String: Any]])?.first)
            #expect(source["type"] as? String == "prometheus" && source["isDefault"] as? Bool == true)
            #expect(source["url"] as? String == "http://prometheus:9090")

            let providers = try await StructuredFile.yaml("dashboards/provisioning/dashboards/wechat-portrait.yml", python: python)
            let provider = try #require((providers["providers"] as? [[String: Any]])?.first)
            #expect(provider["type"] as? String == "file")
            let path = try #require(provider[path: "options", "path"] as? String)

            let compose = try await StructuredFile.yaml("deploy/docker/docker-compose.yml", python: python)
            let grafanaVolumes = compose[path: "services", "grafana", "volumes"] as? [String] ?? []
            #expect(grafanaVolumes.contains("../../dashboards/grafana:\(path):ro"), "compose does not mount dashboards/grafana at \(path)")
            #expect(grafanaVolumes.contains("../../dashboards/provisioning:/etc/grafana/provisioning:ro"))
            let home = compose[path: "services", "grafana", "environment", "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] as? String
            #expect(home == "\(path)/wechat-portrait.json")
        }

        static func collect(key: String, in value: Any, into found: inout [Any]) {
            if let object = value as? [String: Any] {
                for (k, v) in object {
                    if k == key { found.append(v) }
                    collect(key: key, in: v, into: &found)
                }
            } else if let array = value as? [Any] {
                for element in array { collect(key: key, in: element, into: &found) }
            }
        }
    }
}
