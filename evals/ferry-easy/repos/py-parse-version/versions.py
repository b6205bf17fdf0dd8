def parse_version(text):
    return tuple(text.split('.'))
