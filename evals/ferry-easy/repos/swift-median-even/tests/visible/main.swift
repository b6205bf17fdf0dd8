import Foundation
func check(_ ok: Bool, _ what: String) { if !ok { print("FAIL: \(what)"); exit(1) } }
check(median([3, 1, 2]) == 2, "odd")
print("ok")
