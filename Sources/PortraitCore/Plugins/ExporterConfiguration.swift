/// A plugin's settings, read from its entry in the config's `exporters` list.
public protocol ExporterConfiguration: Sendable {
    /// Reads the plugin's keys from `config`, recording every problem there with its key path;
    /// `nil` when any key had a problem. Calls `config.finish()` so unknown keys are reported.
    init?(config: ConfigObject)
}

extension ExporterFactory {
    /// The factory of a plugin whose settings are an `ExporterConfiguration`: reads the entry into
    /// `Settings` and builds the plugin from them under the entry's name, or returns `nil` when the
    /// keys had problems (they are recorded in the entry's `ConfigObject`).
    ///
    /// Names come from `instanceName`: `jsonl`, then `jsonl#1`, … for further entries of a type.
    public init<Settings: ExporterConfiguration>(
        type: String, summary: String, reading _: Settings.Type,
        build: @escaping @Sendable (_ name: String, _ settings: Settings) -> any ExporterPlugin
    ) {
        self.init(type: type, summary: summary) { config, name in
            guard let settings = Settings(config: config) else { return nil }
            return build(name, settings)
        }
    }
}
