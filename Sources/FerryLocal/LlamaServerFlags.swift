/// The `llama-server` flags Ferry passes, in one list. `LocalServerOptions.arguments` writes its command line from
/// it, the prebuilt server's launcher (`PrebuiltServer.launcher`) is generated from it, and a built server is
/// checked against it (`missing(fromHelp:)`) right after it is built. A flag added here reaches both servers or
/// fails where it is added, never on a newcomer's first `make demo`.
public struct LlamaServerFlag: Sendable, Hashable {
    /// The flag as Ferry writes it (llama.cpp's short form where it has one).
    public var flag: String
    /// Its long form, which llama.cpp's `--help` also lists.
    public var long: String
    public enum Value: String, Sendable {
        case string = "str"
        case integer = "int"
        case none
    }
    public var value: Value
    /// Python that sets the flag on xllamacpp's `CommonParams` (`params`), with the parsed value as `value`.
    public var xllamacpp: String

    public static let model = LlamaServerFlag(
        flag: "-m", long: "--model", value: .string, xllamacpp: "params.model.path = value")
    public static let host = LlamaServerFlag(
        flag: "--host", long: "--host", value: .string, xllamacpp: "params.hostnames = [value]")
    public static let port = LlamaServerFlag(
        flag: "--port", long: "--port", value: .integer, xllamacpp: "params.port = value")
    public static let contextSize = LlamaServerFlag(
        flag: "-c", long: "--ctx-size", value: .integer, xllamacpp: "params.n_ctx = value")
    public static let parallel = LlamaServerFlag(
        flag: "-np", long: "--parallel", value: .integer, xllamacpp: "params.n_parallel = value")
    /// The prompt is read in batches of this many tokens, so a streamed reply reports its progress every few seconds
    /// on a CPU (llama.cpp's default of 2,048 would report once, at the end).
    public static let batchSize = LlamaServerFlag(
        flag: "-b", long: "--batch-size", value: .integer, xllamacpp: "params.n_batch = value")
    public static let threads = LlamaServerFlag(
        flag: "-t", long: "--threads", value: .integer, xllamacpp: "params.cpuparams.n_threads = value")
    /// Users' `server_args` may ask for these two (the eval setups in docs/ do).
    public static let jinja = LlamaServerFlag(
        flag: "--jinja", long: "--jinja", value: .none, xllamacpp: "params.use_jinja = value")
    public static let metrics = LlamaServerFlag(
        flag: "--metrics", long: "--metrics", value: .none, xllamacpp: "params.endpoint_metrics = value")

    public static let all: [LlamaServerFlag] = [
        model, host, port, contextSize, parallel, batchSize, threads, jinja, metrics,
    ]

    /// The flags of `all` that a server's `--help` text does not list (empty when it takes them all).
    public static func missing(fromHelp help: String) -> [String] {
        let words = Set(help.split(whereSeparator: { " ,\t\n=".contains($0) }).map(String.init))
        return all.filter { !words.contains($0.flag) && !words.contains($0.long) }.map(\.flag)
    }
}
