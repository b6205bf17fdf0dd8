import re


def parse_duration(text):
    """'1h30m' -> 5400. Units: h, m, s."""
    total = 0
    for amount, unit in re.findall(r'(\d+)([ms])', text):
        total += int(amount) * {'m': 60, 's': 1}[unit]
    return total
