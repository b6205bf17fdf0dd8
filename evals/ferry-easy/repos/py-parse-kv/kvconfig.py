def parse_config(text):
    result = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, value = line.split('=')[:2]
        result[key.strip()] = value.strip()
    return result
