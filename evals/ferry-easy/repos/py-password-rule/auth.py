def valid_password(p):
    long_enough = len(p) >= 8
    has_digit = any(c.isdigit() for c in p)
    return long_enough or has_digit
