import Foundation
import PortraitTestKit
import Testing

extension DeploySuite {
    /// deploy/prometheus checked by promtool, and the alert rules kept in step with their unit tests,
    /// the Kubernetes PrometheusRule and the README runbook.
    @Suite("Prometheus config and alert rules", .timeLimit(.minutes(5)))
    struct AlertRuleTests {
        @Test("promtool check config passes on deploy/prometheus/prometheus.yml (and its rule file)")
        func checkConfig() async throws {
            guard let promtool = ExternalTool.require("promtool", package: "prometheus", purpose: "check deploy/prometheus/prometheus.yml") else { return }
            let result = try await Tools.run(promtool, ["check", "config", Repository.path("deploy/prometheus/prometheus.yml")])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("SUCCESS: 1 rule files found"), "\(result.output)")
        }

        @Test("promtool check rules passes and finds every alert")
        func checkRules() async throws {
            guard let promtool = ExternalTool.require("promtool", package: "prometheus", purpose: "check the alert rules") else { return }
            let result = try await Tools.run(promtool, ["check", "rules", Repository.path(AlertRuleFiles.rules)])
            #expect(result.status == 0, "\(result.output)")
            let names = try AlertRuleFiles.alertNames()
            #expect(names.count >= 10)
            #expect(result.output.contains("SUCCESS: \(names.count) rules found"), "\(result.output)")
        }

        @Test("promtool test rules passes on the shipped unit tests")
        func unitTests() async throws {
            guard let promtool = ExternalTool.require("promtool", package: "prometheus", purpose: "run the alert unit tests") else { return }
            let result = try await Tools.run(promtool, ["test", "rules", Repository.path(AlertRuleFiles.tests)], timeout: .seconds(120))
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("SUCCESS"), "\(result.output)")
        }

        @Test("every alert has unit tests that see it firing and not firing")
        func everyAlertTested() async throws {
            let lines = try Repository.text(AlertRuleFiles.tests).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            var firing: Set<String> = [], quiet: Set<String> = []
            for (index, line) in lines.enumerated() where line.hasPrefix("alertname:") {
                let name = line.dropFirst("alertname:".count).trimmingCharacters(in: .whitespaces)
                guard let expectation = lines[(index + 1)...].first(where: { $0.hasPrefix("exp_alerts") }) else { continue }
                if expectation == "exp_alerts: []" { quiet.insert(name) } else { firing.insert(name) }
            }
            for name in try AlertRuleFiles.alertNames() {
                #expect(firing.contains(name), "no unit test sees \(name) firing")
                #expect(quiet.contains(name), "no unit test sees \(name) quiet")
            }
        }

        @Test("every alert has severity, summary, description and a README runbook section its description links to")
        func runbook() async throws {
            let rules = try Repository.text(AlertRuleFiles.rules)
            let readme = try Repository.text("README.md")
            let alertsSection = try #require(readme.components(separatedBy: "\n## Alerts\n").dropFirst().first, "README has no \"## Alerts\" section")
            let names = try AlertRuleFiles.alertNames()
            #expect(rules.components(separatedBy: "severity: ").count - 1 == names.count)
            #expect(rules.components(separatedBy: "summary: ").count - 1 == names.count)
            #expect(rules.components(separatedBy: "description: ").count - 1 == names.count)
            for name in names {
                #expect(alertsSection.contains("\n#### \(name)\n"), "README ## Alerts has no \"#### \(name)\"")
                #expect(rules.contains("Runbook: README.md#\(name.lowercased())\""), "\(name)'s description does not link README.md#\(name.lowercased())")
            }
        }

        @Test("deploy/kubernetes/prometheusrule.yaml is the rule file, generated (run deploy/kubernetes/generate-prometheusrule.sh)")
        func prometheusRuleInSync() async throws {
            let rules = try Repository.text(AlertRuleFiles.rules)
            let generated = try Repository.text("deploy/kubernetes/prometheusrule.yaml")
            let groupsStart = try #require(rules.range(of: "\ngroups:\n"), "the rule file has no top-level groups:")
            let expected = rules[rules.index(after: groupsStart.lowerBound)...]
                .split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.isEmpty ? "" : "  " + $0 }
                .joined(separator: "\n")
            let spec = try #require(generated.components(separatedBy: "\nspec:\n").dropFirst().first, "prometheusrule.yaml has no spec:")
            #expect(spec == expected, "prometheusrule.yaml is out of date: run deploy/kubernetes/generate-prometheusrule.sh")
            #expect(generated.contains("kind: PrometheusRule") && generated.contains("apiVersion: monitoring.coreos.com/v1"))

            // The same comparison on the parsed YAML, where python3 with PyYAML is available.
            if let python = await StructuredFile.python {
                let parsedRules = try await StructuredFile.yaml(AlertRuleFiles.rules, python: python)
                let parsedRule = try await StructuredFile.yaml("deploy/kubernetes/prometheusrule.yaml", python: python)
                let specObject = try #require(parsedRule["spec"] as? [String: Any])
                #expect(NSDictionary(dictionary: specObject).isEqual(to: parsedRules), "parsed spec differs from the rule file")
            }

            // And promtool accepts the spec as a rule file.
            if let promtool = ExternalTool.locate("promtool") {
                let directory = try Repository.temporaryDirectory("prometheusrule")
                defer { try? FileManager.default.removeItem(at: directory) }
                let file = directory.appendingPathComponent("spec.yml").path
                let dedented = spec.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix("  ") ? String($0.dropFirst(2)) : String($0) }
                try dedented.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
                let result = try await Tools.run(promtool, ["check", "rules", file])
                #expect(result.status == 0, "\(result.output)")
            }
        }
    }
}
