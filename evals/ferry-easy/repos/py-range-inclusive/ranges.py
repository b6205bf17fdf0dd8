def inclusive_range(a, b):
    """Integers from a to b, both included."""
    return list(range(a, b))
