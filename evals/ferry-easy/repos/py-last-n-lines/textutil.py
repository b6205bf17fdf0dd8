def tail(text, n):
    """The last n lines of text, joined with newlines."""
    lines = text.splitlines()
    if n <= 0:
        return ""
    return "\n".join(lines[len(lines) - n + 1:])
