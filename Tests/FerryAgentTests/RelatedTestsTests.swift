import Foundation
import Testing

@testable import FerryAgent

/// Which test files judge a change when the test command names `{related_tests}`.
@Suite struct RelatedTestsTests {
    func tree(_ files: [String: String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-related-\(UUID().uuidString.prefix(8))"
        ).path
        for (path, text) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: full))
        }
        return root
    }

    @Test func testsNamedAfterOrImportingTheSourceComeFirstAndUnrelatedOnesNever() throws {
        let files = [
            "sympy/core/mod.py": "", "sympy/core/numbers.py": "",
            "sympy/core/tests/test_mod.py": "from sympy.core.mod import Mod\n",
            "sympy/core/tests/test_arit.py": "from sympy.core.mod import Mod\nfrom sympy.core.numbers import I\n",
            "sympy/core/tests/test_basic.py": "from sympy.core.basic import Basic\n",
            "sympy/printing/tests/test_str.py": "from sympy.core.mod import Mod\n",
        ]
        let root = try tree(files)
        let related = RelatedTests.related(to: ["sympy/core/mod.py"], files: Array(files.keys), root: root)
        #expect(related.first == "sympy/core/tests/test_mod.py")
        #expect(related.contains("sympy/core/tests/test_arit.py"))
        #expect(!related.contains("sympy/core/tests/test_basic.py"))
        // Far away and not named after it: not read, not run.
        #expect(!related.contains("sympy/printing/tests/test_str.py"))
    }

    @Test func aRootTestFileNamedAfterThePackageCounts() throws {
        let files = ["requests/sessions.py": "", "test_requests.py": "import requests\n", "docs/conf.py": ""]
        let root = try tree(files)
        #expect(
            RelatedTests.related(to: ["requests/sessions.py"], files: Array(files.keys), root: root) == [
                "test_requests.py"
            ])
        let deep = [
            "sympy/simplify/trigsimp.py": "", "sympy/unify/tests/test_sympy.py": "import sympy\n",
            "tests/test_sympy.py": "",
        ]
        let deepRoot = try tree(deep)
        #expect(
            RelatedTests.related(to: ["sympy/simplify/trigsimp.py"], files: Array(deep.keys), root: deepRoot) == [
                "tests/test_sympy.py"
            ])
    }

    @Test func srcLayoutsAndRelativeImports() throws {
        let files = [
            "src/flask/blueprints.py": "", "tests/test_blueprints.py": "import flask\n",
            "src/flask/tests_helpers.py": "", "src/pkg/util.py": "", "src/pkg/test_util.py": "from .util import x\n",
        ]
        let root = try tree(files)
        #expect(
            RelatedTests.related(to: ["src/flask/blueprints.py"], files: Array(files.keys), root: root) == [
                "tests/test_blueprints.py"
            ])
        #expect(
            RelatedTests.related(to: ["src/pkg/util.py"], files: Array(files.keys), root: root) == [
                "src/pkg/test_util.py"
            ])
    }
}
