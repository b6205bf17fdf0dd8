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

    static func text(_ range: ClosedRange<Int>) -> String { lines[range].joined(separator: "\n") }

    @Test func theWindowHoldsTheStatementsTheTaskIsAbout() throws {
        let window = try #require(
            DefinitionWindow.best(
                lines: Self.lines, task: "Fix printing of default option value to handle empty strings", budget: 700))
        let shown = Self.text(window)
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
        let window = try #require(
            DefinitionWindow.best(
                lines: Self.lines, task: "The env var is not shown when auto_envvar_prefix is set", budget: 700))
        let shown = Self.text(window)
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

    @Test func nothingFitsNoWindow() {
        let lines: [Substring] = ["def f():", "    return " + String(repeating: "x", count: 300), "    pass"]
        let window = DefinitionWindow.best(lines: lines, task: "f returns x", budget: 100)
        #expect(window.map { lines[$0].allSatisfy { $0.utf8.count < 100 } } ?? true)
        #expect(DefinitionWindow.best(lines: ["def f():", "    pass"], task: "f", budget: 100) == nil)
    }
}
