import Foundation

/// Where Ferry keeps its things, by the XDG base directory rules: one definition for the store, the config, the
/// caches (model, llama.cpp server, eval venvs) and for the sandbox, which hides all three.
public enum FerryPaths {
    /// `$XDG_DATA_HOME/ferry`, else `~/.local/share/ferry`: the run store and the run folders.
    public static func data(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        folder("XDG_DATA_HOME", fallback: "/.local/share", environment)
    }

    /// `$XDG_CONFIG_HOME/ferry`, else `~/.config/ferry`: the user's `config.toml`.
    public static func config(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        folder("XDG_CONFIG_HOME", fallback: "/.config", environment)
    }

    /// `$XDG_CACHE_HOME/ferry`, else `~/.cache/ferry`: the model, the server build, the eval venvs.
    public static func cache(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        folder("XDG_CACHE_HOME", fallback: "/.cache", environment)
    }

    static func folder(_ variable: String, fallback: String, _ environment: [String: String]) -> String {
        if let base = environment[variable], !base.isEmpty { return base + "/ferry" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSTemporaryDirectory()
        return home + fallback + "/ferry"
    }
}
