"""A tiny shopping cart. Prices are integers in cents."""


def subtotal(items):
    """Sum of price * quantity over the items."""
    return sum(item["price"] * item["qty"] for item in items)


def item_count(items):
    return sum(item["qty"] for item in items)


def total(items):
    """The amount to charge: the subtotal, less 10% when the cart holds 10 or more items."""
    amount = subtotal(items)
    if item_count(items) > 10:
        amount -= amount // 10
    return amount
