import Testing

@testable import FerryIndex

/// The part of a long definition shown when the whole is too long for a reply.
struct DefinitionWindowTests {
    /// Shaped like click's `Option.get_help_record` (107 lines there): option names, an env var, the default's text,
    /// a range. "Fix printing of default option value to handle empty strings" is about the default's text.
    static let helpRecord = """
            def get_help_record(self, ctx):
                if self.hidden:
                    return None

                any_prefix_is_slash = False

                def _write_opts(opts):
                    nonlocal any_prefix_is_slash
                    rv, any_slashes = join_options(opts)
                    if any_slashes:
                        any_prefix_is_slash = True
                    if not self.is_flag and not self.count:
                        rv += f" {self.make_metavar()}"
                    return rv

                rv = [_write_opts(self.opts)]
                if self.secondary_opts:
                    rv.append(_write_opts(self.secondary_opts))

                help = self.help or ""
                extra = []

                if self.show_envvar:
                    envvar = self.envvar
                    if envvar is None:
                        if (
                            self.allow_from_autoenv
                            and ctx.auto_envvar_prefix is not None
                        ):
                            envvar = f"{ctx.auto_envvar_prefix}_{self.name.upper()}"
                    if envvar is not None:
                        extra.append(f"env var: {envvar}")

                try:
                    default_value = self.get_default(ctx, call=False)
                finally:
                    ctx.resilient_parsing = resilient

                if self.show_default is not None:
                    show_default = self.show_default
                elif ctx.show_default is not None:
                    show_default = ctx.show_default

                if show_default and default_value is not None:
                    if isinstance(default_value, (list, tuple)):
                        default_string = ", ".join(str(d) for d in default_value)
                    elif self.is_bool_flag and not default_value:
                        default_string = ""
                    else:
                        default_string = str(default_value)

                    if default_string:
                        extra.append(f"default: {default_string}")

                if isinstance(self.type, types._NumberRangeBase):
                    range_str = self.type._describe_range()
                    if range_str:
                        extra.append(range_str)

                if self.required:
                    extra.append("required")

                if extra:
                    extra_str = "; ".join(extra)
                    help = f"{help}  [{extra_str}]" if help else f"[{extra_str}]"

                return ("; " if any_prefix_is_slash else " / ").join(rv), help
        """

    static var lines: [Substring] { helpRecord.split(separator: "\n", omittingEmptySubsequences: false) }

    /// The window for `task` within 700 bytes, and its text.
    static func window(_ task: String) throws -> (range: ClosedRange<Int>, text: String) {
        let range = try #require(DefinitionWindow.best(lines: lines, task: task, budget: 700))
        return (range, lines[range].joined(separator: "\n"))
    }

    @Test func theWindowHoldsTheStatementsTheTaskIsAbout() throws {
        let (window, shown) = try Self.window("Fix printing of default option value to handle empty strings")
        #expect(shown.contains("default_string = str(default_value)"))
        #expect(shown.contains("elif self.is_bool_flag and not default_value:"))
        #expect(!shown.contains("def get_help_record"))
        #expect(!shown.contains("_describe_range"))
        #expect(shown.utf8.count <= 700)
        // It starts at a statement, not inside one, and has no blank edges.
        let first = Self.lines[window.lowerBound].trimmingCharacters(in: .whitespaces)
        #expect(!first.isEmpty && !first.hasPrefix("elif") && !first.hasPrefix("else") && !first.hasPrefix(")"))
        #expect(!Self.lines[window.upperBound].trimmingCharacters(in: .whitespaces).isEmpty)
    }

    @Test func anotherTaskGetsAnotherWindow() throws {
        let shown = try Self.window("The env var is not shown when auto_envvar_prefix is set").text
        #expect(shown.contains("envvar = f\"{ctx.auto_envvar_prefix}_{self.name.upper()}\""))
        #expect(!shown.contains("default_string"))
    }

    /// A statement longer than the budget is cut at the statements inside it, its first line a piece of its own.
    @Test func aStatementLongerThanTheBudgetIsCutInside() throws {
        let pieces = DefinitionWindow.pieces(Self.lines, in: 1...(Self.lines.count - 1), budget: 200)
        let starts = pieces.map { Self.lines[$0.lowerBound].trimmingCharacters(in: .whitespaces) }
        #expect(starts.contains("if show_default and default_value is not None:"))
        #expect(starts.contains { $0.hasPrefix("if isinstance(default_value") })
        #expect(!starts.contains { $0.hasPrefix("elif") || $0.hasPrefix("else") || $0.hasPrefix(")") })
        // The pieces cover the body once, in order.
        for (a, b) in zip(pieces, pieces.dropFirst()) { #expect(a.upperBound + 1 == b.lowerBound) }
        #expect(pieces.first?.lowerBound == 1)
        #expect(pieces.last?.upperBound == Self.lines.count - 1)
    }

    /// Shaped like click's `wrap_text`: a signature over several lines and a long docstring, which hold the
    /// task's words but nothing to change.
    @Test func theSignatureAndTheDocstringAreNeverThePart() throws {
        var text =
            "@cache\ndef wrap_text(\n    text: str,\n    width: int = 78,\n    initial_indent: str = \"\",\n) -> str:\n"
        text += "    \"\"\"Wraps text to the width. An empty string stays empty; the default width\n"
        for _ in 0..<8 { text += "    is 78 characters, and the text of each paragraph is wrapped on its own.\n" }
        text += "    \"\"\"\n    from ._textwrap import TextWrapper\n\n    text = text.expandtabs()\n"
        for index in 0..<10 { text += "    wrapper_\(index) = TextWrapper(width, initial_indent=initial_indent)\n" }
        text += "    if not text:\n        return \"\"  # an empty string\n    return wrapper_0.fill(text)\n"
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[DefinitionWindow.bodyStart(lines)].contains("from ._textwrap import TextWrapper"))
        let window = try #require(
            DefinitionWindow.best(lines: lines, task: "wrap_text() turns an empty string into spaces", budget: 300))
        let shown = lines[window].joined(separator: "\n")
        #expect(shown.contains("return \"\"  # an empty string"))
        #expect(!shown.contains("Wraps text") && !shown.contains("initial_indent: str"))
        // None of the task's words in the body: no part is shown rather than a guessed one.
        #expect(DefinitionWindow.best(lines: lines, task: "the colour of the progress bar", budget: 300) == nil)
        // A one-line docstring is skipped too.
        let short: [Substring] = ["def f(x):", "    \"\"\"Doubles x.\"\"\"", "    y = x * 2", "    return y"]
        #expect(DefinitionWindow.bodyStart(short) == 2)
    }

    @Test func nothingFitsNoWindow() {
        let lines: [Substring] = ["def f():", "    return " + String(repeating: "x", count: 300), "    pass"]
        // The long line is a piece no window can hold; the one that fits is taken.
        #expect(DefinitionWindow.best(lines: lines, task: "f returns x, or does nothing (pass)", budget: 100) == 2...2)
        #expect(DefinitionWindow.best(lines: ["def f():", "    pass"], task: "f", budget: 100) == nil)
    }
}
