/// A file by path and text.
public struct SourceFile: Sendable, Hashable {
    public var path: String
    public var text: String
    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}
