import Foundation
func check(_ ok: Bool, _ what: String) { if !ok { print("FAIL: \(what)"); exit(1) } }
check(titleCase("") == "", "empty")
print("ok")
