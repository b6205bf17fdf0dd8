def page_count(total, per_page):
    """How many pages are needed to show `total` items, `per_page` at a time."""
    if total <= 0:
        return 0
    return total // per_page + 1
