"""A small inventory module: the sample file `make demo` types into."""


def total_price(items):
    """Sum of price * quantity over the items."""
    total = 0
    for item in items:
        total += item["price"] * item["quantity"]
    return total


def cheapest(items):
    """The item with the lowest price, or None for an empty list."""
    if not items:
        return None
    return min(items, key=lambda item: item["price"])
