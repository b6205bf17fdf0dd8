def retry(fn, attempts):
    last = None
    for _ in range(attempts):
        try:
            return fn()
        except Exception as error:
            last = error
    raise last
