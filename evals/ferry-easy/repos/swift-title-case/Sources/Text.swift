func titleCase(_ text: String) -> String {
    text.split(separator: " ").map { $0.lowercased() }.joined(separator: " ")
}
