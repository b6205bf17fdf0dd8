import Foundation
func check(_ ok: Bool, _ what: String) { if !ok { print("FAIL: \(what)"); exit(1) } }
check(fizzbuzz(3) == "Fizz", "3")
print("ok")
