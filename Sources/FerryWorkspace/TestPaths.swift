import Foundation

/// Which paths hold tests, by the naming conventions of the common ecosystems. One rule for the whole of Ferry: the
/// files it shows the model, the files the model may overwrite, and the tests that prove a change.
public enum TestPaths {
    static let directories: Set<String> = ["test", "tests", "testing", "spec", "specs", "__tests__", "testcases"]

    public static func isTest(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        guard let last = parts.last else { return false }
        let name = last.lowercased()
        if parts.dropLast().contains(where: { directories.contains($0.lowercased()) }) { return true }
        // Swift packages keep tests under Tests/<Target>Tests/.
        if parts.dropLast().contains(where: { $0.hasSuffix("Tests") }) { return true }
        let stem = (name as NSString).deletingPathExtension
        return name == "conftest.py" || stem.hasPrefix("test_") || stem.hasSuffix("_test") || stem.hasSuffix("_tests")
            || stem.hasSuffix("_spec") || name.contains(".test.") || name.contains(".spec.")
            || (last.hasSuffix("Tests.swift") || last.hasSuffix("Test.java") || last.hasSuffix("Test.kt"))
    }
}
