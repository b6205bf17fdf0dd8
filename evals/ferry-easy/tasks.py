"""The ferry-easy tasks. Each: base files, the gold change, hidden tests (added by the test patch), and which
hidden tests must go from failing to passing (f2p) or keep passing (p2p). Build with build.py."""

RUNNERS = {
    "python": {"test_cmd": "python3 -m unittest {test}", "agent_test_cmd": "python3 -m unittest discover -v"},
    "javascript": {"test_cmd": "node --test {test}", "agent_test_cmd": "node --test"},
    "shell": {"test_cmd": "bash {test}", "agent_test_cmd": "bash tests/run.sh"},
    "swift": {
        "test_cmd": "swiftc -module-cache-path /tmp/mc -o /tmp/hidden Sources/*.swift {test} && /tmp/hidden",
        "agent_test_cmd": "swiftc -module-cache-path /tmp/mc -o /tmp/visible Sources/*.swift tests/visible/main.swift && /tmp/visible",
    },
}

T = []


def py(id, kind, problem, module, base, gold, visible, hidden, f2p, p2p):
    name = module
    T.append({
        "id": id, "lang": "python", "kind": kind, "problem": problem,
        "base": {f"{name}.py": base, "tests/__init__.py": "", f"tests/test_{name}.py": visible},
        "gold": {f"{name}.py": gold},
        "hidden": {"tests/test_hidden.py": hidden},
        "f2p": [f"tests.test_hidden.Hidden.{t}" for t in f2p],
        "p2p": [f"tests.test_hidden.Hidden.{t}" for t in p2p],
    })


HEAD = "import unittest\n\n"

py("py-pagination-last-page", "off-by-one",
   "`page_count(total, per_page)` in pagination.py returns one page too many when the total is an exact multiple of the page size: 20 items at 10 per page gives 3 pages, but it should be 2 (and 21 items should still be 3).",
   "pagination",
   "def page_count(total, per_page):\n    \"\"\"How many pages are needed to show `total` items, `per_page` at a time.\"\"\"\n    if total <= 0:\n        return 0\n    return total // per_page + 1\n",
   "def page_count(total, per_page):\n    \"\"\"How many pages are needed to show `total` items, `per_page` at a time.\"\"\"\n    if total <= 0:\n        return 0\n    return (total + per_page - 1) // per_page\n",
   HEAD + "from pagination import page_count\n\n\nclass T(unittest.TestCase):\n    def test_partial_page(self):\n        self.assertEqual(page_count(11, 10), 2)\n",
   HEAD + "from pagination import page_count\n\n\nclass Hidden(unittest.TestCase):\n    def test_exact_multiple(self):\n        self.assertEqual(page_count(20, 10), 2)\n        self.assertEqual(page_count(10, 10), 1)\n\n    def test_partial(self):\n        self.assertEqual(page_count(21, 10), 3)\n\n    def test_empty(self):\n        self.assertEqual(page_count(0, 10), 0)\n",
   ["test_exact_multiple"], ["test_partial", "test_empty"])

py("py-range-inclusive", "off-by-one",
   "`inclusive_range(a, b)` in ranges.py should return the integers from a to b including both ends, but b is missing from the result.",
   "ranges",
   "def inclusive_range(a, b):\n    \"\"\"Integers from a to b, both included.\"\"\"\n    return list(range(a, b))\n",
   "def inclusive_range(a, b):\n    \"\"\"Integers from a to b, both included.\"\"\"\n    return list(range(a, b + 1))\n",
   HEAD + "from ranges import inclusive_range\n\n\nclass T(unittest.TestCase):\n    def test_type(self):\n        self.assertIsInstance(inclusive_range(1, 2), list)\n",
   HEAD + "from ranges import inclusive_range\n\n\nclass Hidden(unittest.TestCase):\n    def test_both_ends(self):\n        self.assertEqual(inclusive_range(1, 4), [1, 2, 3, 4])\n\n    def test_single(self):\n        self.assertEqual(inclusive_range(5, 5), [5])\n\n    def test_empty_when_reversed(self):\n        self.assertEqual(inclusive_range(5, 4), [])\n",
   ["test_both_ends", "test_single"], ["test_empty_when_reversed"])

py("py-last-n-lines", "off-by-one",
   "`tail(text, n)` in textutil.py should return the last n lines of text, like `tail -n`. It returns one line too few.",
   "textutil",
   "def tail(text, n):\n    \"\"\"The last n lines of text, joined with newlines.\"\"\"\n    lines = text.splitlines()\n    if n <= 0:\n        return \"\"\n    return \"\\n\".join(lines[len(lines) - n + 1:])\n",
   "def tail(text, n):\n    \"\"\"The last n lines of text, joined with newlines.\"\"\"\n    lines = text.splitlines()\n    if n <= 0:\n        return \"\"\n    return \"\\n\".join(lines[max(0, len(lines) - n):])\n",
   HEAD + "from textutil import tail\n\n\nclass T(unittest.TestCase):\n    def test_zero(self):\n        self.assertEqual(tail('a\\nb', 0), '')\n",
   HEAD + "from textutil import tail\n\n\nclass Hidden(unittest.TestCase):\n    def test_last_two(self):\n        self.assertEqual(tail('a\\nb\\nc', 2), 'b\\nc')\n\n    def test_more_than_available(self):\n        self.assertEqual(tail('a\\nb', 5), 'a\\nb')\n\n    def test_zero(self):\n        self.assertEqual(tail('a', 0), '')\n",
   ["test_last_two"], ["test_more_than_available", "test_zero"])

py("py-leap-year", "wrong condition",
   "`is_leap(year)` in calendar_utils.py says 1900 is a leap year. Years divisible by 100 are not leap years unless they are also divisible by 400.",
   "calendar_utils",
   "def is_leap(year):\n    return year % 4 == 0\n",
   "def is_leap(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
   HEAD + "from calendar_utils import is_leap\n\n\nclass T(unittest.TestCase):\n    def test_common(self):\n        self.assertTrue(is_leap(2024))\n        self.assertFalse(is_leap(2023))\n",
   HEAD + "from calendar_utils import is_leap\n\n\nclass Hidden(unittest.TestCase):\n    def test_centuries(self):\n        self.assertFalse(is_leap(1900))\n        self.assertFalse(is_leap(2100))\n\n    def test_four_hundred(self):\n        self.assertTrue(is_leap(2000))\n\n    def test_plain(self):\n        self.assertTrue(is_leap(1996))\n",
   ["test_centuries"], ["test_four_hundred", "test_plain"])

py("py-password-rule", "wrong condition",
   "`valid_password(p)` in auth.py must require at least 8 characters AND at least one digit. It currently accepts passwords that satisfy either rule.",
   "auth",
   "def valid_password(p):\n    long_enough = len(p) >= 8\n    has_digit = any(c.isdigit() for c in p)\n    return long_enough or has_digit\n",
   "def valid_password(p):\n    long_enough = len(p) >= 8\n    has_digit = any(c.isdigit() for c in p)\n    return long_enough and has_digit\n",
   HEAD + "from auth import valid_password\n\n\nclass T(unittest.TestCase):\n    def test_good(self):\n        self.assertTrue(valid_password('abcdefg1'))\n",
   HEAD + "from auth import valid_password\n\n\nclass Hidden(unittest.TestCase):\n    def test_short_with_digit(self):\n        self.assertFalse(valid_password('ab1'))\n\n    def test_long_without_digit(self):\n        self.assertFalse(valid_password('abcdefghij'))\n\n    def test_good(self):\n        self.assertTrue(valid_password('hunter22hunter'))\n",
   ["test_short_with_digit", "test_long_without_digit"], ["test_good"])

py("py-grade-boundary", "wrong condition",
   "`grade(score)` in grades.py gives a 'B' for a score of exactly 90. Scores of 90 and above are an 'A' (80-89 'B', 70-79 'C', below 70 'F').",
   "grades",
   "def grade(score):\n    if score > 90:\n        return 'A'\n    if score >= 80:\n        return 'B'\n    if score >= 70:\n        return 'C'\n    return 'F'\n",
   "def grade(score):\n    if score >= 90:\n        return 'A'\n    if score >= 80:\n        return 'B'\n    if score >= 70:\n        return 'C'\n    return 'F'\n",
   HEAD + "from grades import grade\n\n\nclass T(unittest.TestCase):\n    def test_f(self):\n        self.assertEqual(grade(10), 'F')\n",
   HEAD + "from grades import grade\n\n\nclass Hidden(unittest.TestCase):\n    def test_ninety(self):\n        self.assertEqual(grade(90), 'A')\n\n    def test_others(self):\n        self.assertEqual(grade(95), 'A')\n        self.assertEqual(grade(80), 'B')\n        self.assertEqual(grade(79), 'C')\n        self.assertEqual(grade(69), 'F')\n",
   ["test_ninety"], ["test_others"])

py("py-average-empty", "missing edge case",
   "`average(values)` in stats.py crashes with ZeroDivisionError on an empty list. It should return None for an empty list.",
   "stats",
   "def average(values):\n    return sum(values) / len(values)\n",
   "def average(values):\n    if not values:\n        return None\n    return sum(values) / len(values)\n",
   HEAD + "from stats import average\n\n\nclass T(unittest.TestCase):\n    def test_mean(self):\n        self.assertEqual(average([1, 2, 3]), 2)\n",
   HEAD + "from stats import average\n\n\nclass Hidden(unittest.TestCase):\n    def test_empty(self):\n        self.assertIsNone(average([]))\n\n    def test_mean(self):\n        self.assertEqual(average([2, 4]), 3)\n",
   ["test_empty"], ["test_mean"])

py("py-initials-blank", "missing edge case",
   "`initials(name)` in people.py raises IndexError when the name has extra spaces, e.g. 'Ada  Lovelace' or ' Ada'. It should ignore empty parts: 'Ada  Lovelace' → 'AL'.",
   "people",
   "def initials(name):\n    return ''.join(part[0].upper() for part in name.split(' '))\n",
   "def initials(name):\n    return ''.join(part[0].upper() for part in name.split())\n",
   HEAD + "from people import initials\n\n\nclass T(unittest.TestCase):\n    def test_simple(self):\n        self.assertEqual(initials('grace hopper'), 'GH')\n",
   HEAD + "from people import initials\n\n\nclass Hidden(unittest.TestCase):\n    def test_double_space(self):\n        self.assertEqual(initials('Ada  Lovelace'), 'AL')\n\n    def test_leading_space(self):\n        self.assertEqual(initials(' Ada'), 'A')\n\n    def test_simple(self):\n        self.assertEqual(initials('alan turing'), 'AT')\n",
   ["test_double_space", "test_leading_space"], ["test_simple"])

py("py-chunk-remainder", "missing edge case",
   "`chunks(items, size)` in batching.py drops the last partial chunk: chunks([1,2,3,4,5], 2) gives [[1,2],[3,4]] but should give [[1,2],[3,4],[5]].",
   "batching",
   "def chunks(items, size):\n    out = []\n    for start in range(0, len(items) - size + 1, size):\n        out.append(items[start:start + size])\n    return out\n",
   "def chunks(items, size):\n    out = []\n    for start in range(0, len(items), size):\n        out.append(items[start:start + size])\n    return out\n",
   HEAD + "from batching import chunks\n\n\nclass T(unittest.TestCase):\n    def test_even(self):\n        self.assertEqual(chunks([1, 2, 3, 4], 2), [[1, 2], [3, 4]])\n",
   HEAD + "from batching import chunks\n\n\nclass Hidden(unittest.TestCase):\n    def test_remainder(self):\n        self.assertEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])\n\n    def test_small(self):\n        self.assertEqual(chunks([1], 3), [[1]])\n\n    def test_empty(self):\n        self.assertEqual(chunks([], 3), [])\n",
   ["test_remainder", "test_small"], ["test_empty"])

py("py-parse-duration", "parsing",
   "`parse_duration(text)` in durations.py should accept strings like '1h30m', '45s', '2h' and '1h5m10s' and return seconds. It currently ignores the hours part.",
   "durations",
   "import re\n\n\ndef parse_duration(text):\n    \"\"\"'1h30m' -> 5400. Units: h, m, s.\"\"\"\n    total = 0\n    for amount, unit in re.findall(r'(\\d+)([ms])', text):\n        total += int(amount) * {'m': 60, 's': 1}[unit]\n    return total\n",
   "import re\n\n\ndef parse_duration(text):\n    \"\"\"'1h30m' -> 5400. Units: h, m, s.\"\"\"\n    total = 0\n    for amount, unit in re.findall(r'(\\d+)([hms])', text):\n        total += int(amount) * {'h': 3600, 'm': 60, 's': 1}[unit]\n    return total\n",
   HEAD + "from durations import parse_duration\n\n\nclass T(unittest.TestCase):\n    def test_seconds(self):\n        self.assertEqual(parse_duration('45s'), 45)\n",
   HEAD + "from durations import parse_duration\n\n\nclass Hidden(unittest.TestCase):\n    def test_hours(self):\n        self.assertEqual(parse_duration('2h'), 7200)\n        self.assertEqual(parse_duration('1h30m'), 5400)\n\n    def test_all_units(self):\n        self.assertEqual(parse_duration('1h5m10s'), 3910)\n\n    def test_minutes(self):\n        self.assertEqual(parse_duration('3m'), 180)\n",
   ["test_hours", "test_all_units"], ["test_minutes"])

py("py-parse-kv", "parsing",
   "`parse_config(text)` in kvconfig.py parses 'key=value' lines. Values that contain '=' (like 'url=http://x/?a=b') are cut at the second '=', and lines starting with '#' should be ignored as comments but currently raise an error.",
   "kvconfig",
   "def parse_config(text):\n    result = {}\n    for line in text.splitlines():\n        line = line.strip()\n        if not line:\n            continue\n        key, value = line.split('=')[:2]\n        result[key.strip()] = value.strip()\n    return result\n",
   "def parse_config(text):\n    result = {}\n    for line in text.splitlines():\n        line = line.strip()\n        if not line or line.startswith('#'):\n            continue\n        key, value = line.split('=', 1)\n        result[key.strip()] = value.strip()\n    return result\n",
   HEAD + "from kvconfig import parse_config\n\n\nclass T(unittest.TestCase):\n    def test_simple(self):\n        self.assertEqual(parse_config('a=1\\nb = 2'), {'a': '1', 'b': '2'})\n",
   HEAD + "from kvconfig import parse_config\n\n\nclass Hidden(unittest.TestCase):\n    def test_value_with_equals(self):\n        self.assertEqual(parse_config('url=http://x/?a=b'), {'url': 'http://x/?a=b'})\n\n    def test_comments(self):\n        self.assertEqual(parse_config('# note\\na=1'), {'a': '1'})\n\n    def test_blank_lines(self):\n        self.assertEqual(parse_config('\\n\\na=1\\n'), {'a': '1'})\n",
   ["test_value_with_equals", "test_comments"], ["test_blank_lines"])

py("py-parse-version", "parsing",
   "`parse_version('1.10.2')` in versions.py returns a tuple of strings, so versions compare wrongly ('1.10' sorts before '1.9'). It should return a tuple of ints, and accept a leading 'v' ('v2.0.1').",
   "versions",
   "def parse_version(text):\n    return tuple(text.split('.'))\n",
   "def parse_version(text):\n    if text.startswith('v'):\n        text = text[1:]\n    return tuple(int(part) for part in text.split('.'))\n",
   HEAD + "from versions import parse_version\n\n\nclass T(unittest.TestCase):\n    def test_length(self):\n        self.assertEqual(len(parse_version('1.2.3')), 3)\n",
   HEAD + "from versions import parse_version\n\n\nclass Hidden(unittest.TestCase):\n    def test_ints(self):\n        self.assertEqual(parse_version('1.10.2'), (1, 10, 2))\n        self.assertTrue(parse_version('1.10') > parse_version('1.9'))\n\n    def test_leading_v(self):\n        self.assertEqual(parse_version('v2.0.1'), (2, 0, 1))\n\n    def test_length(self):\n        self.assertEqual(len(parse_version('4.5')), 2)\n",
   ["test_ints", "test_leading_v"], ["test_length"])

py("py-slugify-api", "changed API",
   "The `slugify(text)` helper in slugs.py must accept a `separator` keyword argument (default '-'), so callers can write `slugify('Hello World', separator='_')` → 'hello_world'.",
   "slugs",
   "import re\n\n\ndef slugify(text):\n    words = re.findall(r'[a-z0-9]+', text.lower())\n    return '-'.join(words)\n",
   "import re\n\n\ndef slugify(text, separator='-'):\n    words = re.findall(r'[a-z0-9]+', text.lower())\n    return separator.join(words)\n",
   HEAD + "from slugs import slugify\n\n\nclass T(unittest.TestCase):\n    def test_default(self):\n        self.assertEqual(slugify('Hello, World!'), 'hello-world')\n",
   HEAD + "from slugs import slugify\n\n\nclass Hidden(unittest.TestCase):\n    def test_separator(self):\n        self.assertEqual(slugify('Hello World', separator='_'), 'hello_world')\n\n    def test_default(self):\n        self.assertEqual(slugify('A  B'), 'a-b')\n",
   ["test_separator"], ["test_default"])

py("py-retry-api", "changed API",
   "`retry(fn, attempts)` in retrying.py should also take an optional `on_error` callback that is called with each exception before the next attempt. Callers now pass `retry(fn, 3, on_error=log)`.",
   "retrying",
   "def retry(fn, attempts):\n    last = None\n    for _ in range(attempts):\n        try:\n            return fn()\n        except Exception as error:\n            last = error\n    raise last\n",
   "def retry(fn, attempts, on_error=None):\n    last = None\n    for _ in range(attempts):\n        try:\n            return fn()\n        except Exception as error:\n            last = error\n            if on_error is not None:\n                on_error(error)\n    raise last\n",
   HEAD + "from retrying import retry\n\n\nclass T(unittest.TestCase):\n    def test_success(self):\n        self.assertEqual(retry(lambda: 7, 2), 7)\n",
   HEAD + "from retrying import retry\n\n\nclass Hidden(unittest.TestCase):\n    def test_on_error(self):\n        seen = []\n        calls = iter([ValueError('a'), ValueError('b'), 'ok'])\n\n        def fn():\n            value = next(calls)\n            if isinstance(value, Exception):\n                raise value\n            return value\n\n        self.assertEqual(retry(fn, 3, on_error=lambda e: seen.append(str(e))), 'ok')\n        self.assertEqual(seen, ['a', 'b'])\n\n    def test_gives_up(self):\n        def fn():\n            raise KeyError('x')\n\n        with self.assertRaises(KeyError):\n            retry(fn, 2)\n",
   ["test_on_error"], ["test_gives_up"])

py("py-dedupe-order", "refactor with behaviour change",
   "`dedupe(items)` in collections_util.py removes duplicates but loses the original order (it uses a set). It must keep the first occurrence of each item, in order.",
   "collections_util",
   "def dedupe(items):\n    return list(set(items))\n",
   "def dedupe(items):\n    seen = set()\n    out = []\n    for item in items:\n        if item not in seen:\n            seen.add(item)\n            out.append(item)\n    return out\n",
   HEAD + "from collections_util import dedupe\n\n\nclass T(unittest.TestCase):\n    def test_length(self):\n        self.assertEqual(len(dedupe([1, 1, 2])), 2)\n",
   HEAD + "from collections_util import dedupe\n\n\nclass Hidden(unittest.TestCase):\n    def test_order(self):\n        self.assertEqual(dedupe([3, 1, 3, 2, 1]), [3, 1, 2])\n        self.assertEqual(dedupe(['b', 'a', 'b']), ['b', 'a'])\n\n    def test_empty(self):\n        self.assertEqual(dedupe([]), [])\n",
   ["test_order"], ["test_empty"])

py("py-word-count-case", "refactor with behaviour change",
   "`word_counts(text)` in wordcount.py counts 'The' and 'the' as different words and keeps punctuation ('end.' vs 'end'). Words should be counted case-insensitively, without surrounding punctuation.",
   "wordcount",
   "def word_counts(text):\n    counts = {}\n    for word in text.split():\n        counts[word] = counts.get(word, 0) + 1\n    return counts\n",
   "import string\n\n\ndef word_counts(text):\n    counts = {}\n    for word in text.split():\n        word = word.strip(string.punctuation).lower()\n        if word:\n            counts[word] = counts.get(word, 0) + 1\n    return counts\n",
   HEAD + "from wordcount import word_counts\n\n\nclass T(unittest.TestCase):\n    def test_simple(self):\n        self.assertEqual(word_counts('a b a'), {'a': 2, 'b': 1})\n",
   HEAD + "from wordcount import word_counts\n\n\nclass Hidden(unittest.TestCase):\n    def test_case(self):\n        self.assertEqual(word_counts('The cat saw the dog'), {'the': 2, 'cat': 1, 'saw': 1, 'dog': 1})\n\n    def test_punctuation(self):\n        self.assertEqual(word_counts('end. End!'), {'end': 2})\n\n    def test_simple(self):\n        self.assertEqual(word_counts('x y'), {'x': 1, 'y': 1})\n",
   ["test_case", "test_punctuation"], ["test_simple"])

py("py-temperature-round", "wrong condition",
   "`to_fahrenheit(celsius)` in units.py uses the wrong formula: 100 °C should be 212 °F and 0 °C should be 32 °F.",
   "units",
   "def to_fahrenheit(celsius):\n    return celsius * 5 / 9 + 32\n",
   "def to_fahrenheit(celsius):\n    return celsius * 9 / 5 + 32\n",
   HEAD + "from units import to_fahrenheit\n\n\nclass T(unittest.TestCase):\n    def test_zero(self):\n        self.assertEqual(to_fahrenheit(0), 32)\n",
   HEAD + "from units import to_fahrenheit\n\n\nclass Hidden(unittest.TestCase):\n    def test_boiling(self):\n        self.assertEqual(to_fahrenheit(100), 212)\n\n    def test_negative(self):\n        self.assertEqual(to_fahrenheit(-40), -40)\n\n    def test_zero(self):\n        self.assertEqual(to_fahrenheit(0), 32)\n",
   ["test_boiling", "test_negative"], ["test_zero"])

py("py-discount-cap", "missing edge case",
   "`apply_discount(price, percent)` in pricing.py can return a negative price when percent is above 100, and accepts negative percents that raise the price. Clamp percent to the range 0..100.",
   "pricing",
   "def apply_discount(price, percent):\n    return price - price * percent / 100\n",
   "def apply_discount(price, percent):\n    percent = min(100, max(0, percent))\n    return price - price * percent / 100\n",
   HEAD + "from pricing import apply_discount\n\n\nclass T(unittest.TestCase):\n    def test_half(self):\n        self.assertEqual(apply_discount(200, 50), 100)\n",
   HEAD + "from pricing import apply_discount\n\n\nclass Hidden(unittest.TestCase):\n    def test_over_hundred(self):\n        self.assertEqual(apply_discount(50, 150), 0)\n\n    def test_negative(self):\n        self.assertEqual(apply_discount(50, -10), 50)\n\n    def test_normal(self):\n        self.assertEqual(apply_discount(100, 25), 75)\n",
   ["test_over_hundred", "test_negative"], ["test_normal"])


def js(id, kind, problem, module, base, gold, visible, hidden):
    T.append({
        "id": id, "lang": "javascript", "kind": kind, "problem": problem,
        "base": {f"src/{module}.js": base, f"test/{module}.test.js": visible, "package.json": '{"name": "%s", "type": "commonjs", "scripts": {"test": "node --test"}}\n' % id},
        "gold": {f"src/{module}.js": gold},
        "hidden": {f"test/hidden_{t}.test.js": body for t, body in hidden.items()},
        "f2p": [f"test/hidden_{t}.test.js" for t in hidden if not t.startswith("keep_")],
        "p2p": [f"test/hidden_{t}.test.js" for t in hidden if t.startswith("keep_")],
    })


JSHEAD = "const test = require('node:test');\nconst assert = require('node:assert');\n"

js("js-array-last", "off-by-one",
   "`last(arr, n)` in src/arrays.js should return the last n elements of an array, but it returns n-1 of them.",
   "arrays",
   "function last(arr, n) {\n  return arr.slice(arr.length - n + 1);\n}\n\nmodule.exports = { last };\n",
   "function last(arr, n) {\n  if (n <= 0) return [];\n  return arr.slice(Math.max(0, arr.length - n));\n}\n\nmodule.exports = { last };\n",
   JSHEAD + "const { last } = require('../src/arrays');\n\ntest('returns an array', () => {\n  assert.ok(Array.isArray(last([1, 2], 1)));\n});\n",
   {"last_two": JSHEAD + "const { last } = require('../src/arrays');\n\ntest('last two', () => {\n  assert.deepStrictEqual(last([1, 2, 3], 2), [2, 3]);\n});\n",
    "keep_array": JSHEAD + "const { last } = require('../src/arrays');\n\ntest('array', () => {\n  assert.ok(Array.isArray(last([], 1)));\n});\n"})

js("js-capitalize-empty", "missing edge case",
   "`capitalize(s)` in src/strings.js throws on an empty string (TypeError reading toUpperCase of undefined). It should return '' for ''.",
   "strings",
   "function capitalize(s) {\n  return s[0].toUpperCase() + s.slice(1);\n}\n\nmodule.exports = { capitalize };\n",
   "function capitalize(s) {\n  if (!s) return '';\n  return s[0].toUpperCase() + s.slice(1);\n}\n\nmodule.exports = { capitalize };\n",
   JSHEAD + "const { capitalize } = require('../src/strings');\n\ntest('capitalizes', () => {\n  assert.strictEqual(capitalize('ferry'), 'Ferry');\n});\n",
   {"empty": JSHEAD + "const { capitalize } = require('../src/strings');\n\ntest('empty', () => {\n  assert.strictEqual(capitalize(''), '');\n});\n",
    "keep_word": JSHEAD + "const { capitalize } = require('../src/strings');\n\ntest('word', () => {\n  assert.strictEqual(capitalize('boat'), 'Boat');\n});\n"})

js("js-query-string", "parsing",
   "`parseQuery(qs)` in src/query.js does not decode percent-encoding or '+' as a space: parseQuery('?q=hello+world&x=a%2Fb') should give { q: 'hello world', x: 'a/b' }.",
   "query",
   "function parseQuery(qs) {\n  const out = {};\n  for (const pair of qs.replace(/^\\?/, '').split('&')) {\n    if (!pair) continue;\n    const [k, v = ''] = pair.split('=');\n    out[k] = v;\n  }\n  return out;\n}\n\nmodule.exports = { parseQuery };\n",
   "function parseQuery(qs) {\n  const out = {};\n  const decode = (s) => decodeURIComponent(s.replace(/\\+/g, ' '));\n  for (const pair of qs.replace(/^\\?/, '').split('&')) {\n    if (!pair) continue;\n    const [k, v = ''] = pair.split('=');\n    out[decode(k)] = decode(v);\n  }\n  return out;\n}\n\nmodule.exports = { parseQuery };\n",
   JSHEAD + "const { parseQuery } = require('../src/query');\n\ntest('simple', () => {\n  assert.deepStrictEqual(parseQuery('a=1&b=2'), { a: '1', b: '2' });\n});\n",
   {"decoding": JSHEAD + "const { parseQuery } = require('../src/query');\n\ntest('decodes', () => {\n  assert.deepStrictEqual(parseQuery('?q=hello+world&x=a%2Fb'), { q: 'hello world', x: 'a/b' });\n});\n",
    "keep_simple": JSHEAD + "const { parseQuery } = require('../src/query');\n\ntest('simple', () => {\n  assert.deepStrictEqual(parseQuery('?a=1'), { a: '1' });\n});\n"})

js("js-clamp-order", "wrong condition",
   "`clamp(x, min, max)` in src/math.js returns min when x is above max. It should return max for x > max, min for x < min, x otherwise.",
   "math",
   "function clamp(x, min, max) {\n  if (x < min || x > max) return min;\n  return x;\n}\n\nmodule.exports = { clamp };\n",
   "function clamp(x, min, max) {\n  if (x < min) return min;\n  if (x > max) return max;\n  return x;\n}\n\nmodule.exports = { clamp };\n",
   JSHEAD + "const { clamp } = require('../src/math');\n\ntest('inside', () => {\n  assert.strictEqual(clamp(5, 0, 10), 5);\n});\n",
   {"above": JSHEAD + "const { clamp } = require('../src/math');\n\ntest('above', () => {\n  assert.strictEqual(clamp(15, 0, 10), 10);\n});\n",
    "keep_below": JSHEAD + "const { clamp } = require('../src/math');\n\ntest('below', () => {\n  assert.strictEqual(clamp(-5, 0, 10), 0);\n});\n"})

js("js-format-bytes", "changed API",
   "`formatBytes(n)` in src/format.js must accept an options object `{ decimals }` (default 1): formatBytes(1536, { decimals: 2 }) → '1.50 KB'. Today it ignores a second argument.",
   "format",
   "function formatBytes(n) {\n  const units = ['B', 'KB', 'MB', 'GB'];\n  let i = 0;\n  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }\n  return `${n.toFixed(1)} ${units[i]}`;\n}\n\nmodule.exports = { formatBytes };\n",
   "function formatBytes(n, { decimals = 1 } = {}) {\n  const units = ['B', 'KB', 'MB', 'GB'];\n  let i = 0;\n  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }\n  return `${n.toFixed(decimals)} ${units[i]}`;\n}\n\nmodule.exports = { formatBytes };\n",
   JSHEAD + "const { formatBytes } = require('../src/format');\n\ntest('kb', () => {\n  assert.strictEqual(formatBytes(2048), '2.0 KB');\n});\n",
   {"decimals": JSHEAD + "const { formatBytes } = require('../src/format');\n\ntest('decimals', () => {\n  assert.strictEqual(formatBytes(1536, { decimals: 2 }), '1.50 KB');\n});\n",
    "keep_default": JSHEAD + "const { formatBytes } = require('../src/format');\n\ntest('default', () => {\n  assert.strictEqual(formatBytes(1048576), '1.0 MB');\n});\n"})


def sh(id, kind, problem, script, base, gold, hidden):
    T.append({
        "id": id, "lang": "shell", "kind": kind, "problem": problem,
        "base": {f"bin/{script}": base, "tests/run.sh": "#!/usr/bin/env bash\nset -e\ncd \"$(dirname \"$0\")/..\"\nfor t in tests/test_*.sh; do bash \"$t\"; done\necho all passed\n",
                 "tests/test_basic.sh": "#!/usr/bin/env bash\nset -e\ncd \"$(dirname \"$0\")/..\"\ntest -x bin/%s\n" % script},
        "gold": {f"bin/{script}": gold},
        "hidden": {f"tests/hidden_{t}.sh": body for t, body in hidden.items()},
        "f2p": [f"tests/hidden_{t}.sh" for t in hidden if not t.startswith("keep_")],
        "p2p": [f"tests/hidden_{t}.sh" for t in hidden if t.startswith("keep_")],
    })


SHHEAD = "#!/usr/bin/env bash\nset -euo pipefail\ncd \"$(dirname \"$0\")/..\"\n"

sh("sh-backup-spaces", "missing edge case",
   "bin/backup.sh copies a file to <name>.bak, but breaks on file names with spaces ('my notes.txt'). Quote the variables.",
   "backup.sh",
   "#!/usr/bin/env bash\n# Usage: backup.sh FILE -- copies FILE to FILE.bak\nset -eu\nsrc=$1\ncp $src $src.bak\necho \"backed up $src\"\n",
   "#!/usr/bin/env bash\n# Usage: backup.sh FILE -- copies FILE to FILE.bak\nset -eu\nsrc=$1\ncp \"$src\" \"$src.bak\"\necho \"backed up $src\"\n",
   {"spaces": SHHEAD + "d=$(mktemp -d)\necho hi > \"$d/my notes.txt\"\nbash bin/backup.sh \"$d/my notes.txt\" >/dev/null\ntest \"$(cat \"$d/my notes.txt.bak\")\" = hi\n",
    "keep_plain": SHHEAD + "d=$(mktemp -d)\necho x > \"$d/a.txt\"\nbash bin/backup.sh \"$d/a.txt\" >/dev/null\ntest -f \"$d/a.txt.bak\"\n"})

sh("sh-count-lines-empty", "off-by-one",
   "bin/count_lines.sh FILE prints the number of lines, but reports one too many for files that end with a newline (it counts the empty string after the last newline).",
   "count_lines.sh",
   "#!/usr/bin/env bash\nset -eu\nn=0\nwhile IFS= read -r line || true; do\n  n=$((n + 1))\n  [ -z \"$line\" ] && [ \"$n\" -gt 0 ] && break\ndone < \"$1\"\necho \"$n\"\n",
   "#!/usr/bin/env bash\nset -eu\nn=0\nwhile IFS= read -r line || [ -n \"$line\" ]; do\n  n=$((n + 1))\ndone < \"$1\"\necho \"$n\"\n",
   {"newline": SHHEAD + "d=$(mktemp -d)\nprintf 'a\\nb\\nc\\n' > \"$d/f\"\ntest \"$(bash bin/count_lines.sh \"$d/f\")\" = 3\n",
    "no_newline": SHHEAD + "d=$(mktemp -d)\nprintf 'a\\nb' > \"$d/f\"\ntest \"$(bash bin/count_lines.sh \"$d/f\")\" = 2\n"})

sh("sh-greet-default", "missing edge case",
   "bin/greet.sh NAME prints 'Hello, NAME!'. Called without a name it fails with 'unbound variable'; it should print 'Hello, world!'.",
   "greet.sh",
   "#!/usr/bin/env bash\nset -eu\necho \"Hello, $1!\"\n",
   "#!/usr/bin/env bash\nset -eu\necho \"Hello, ${1:-world}!\"\n",
   {"default": SHHEAD + "test \"$(bash bin/greet.sh)\" = 'Hello, world!'\n",
    "keep_name": SHHEAD + "test \"$(bash bin/greet.sh Ada)\" = 'Hello, Ada!'\n"})

sh("sh-ext-parse", "parsing",
   "bin/ext.sh PATH should print a file's extension without the dot ('archive.tar.gz' → 'gz', 'dir.d/file' → '' since the file has none). It prints the part after the first dot of the whole path instead.",
   "ext.sh",
   "#!/usr/bin/env bash\nset -eu\npath=$1\necho \"${path#*.}\"\n",
   "#!/usr/bin/env bash\nset -eu\nname=$(basename \"$1\")\ncase \"$name\" in\n  *.*) echo \"${name##*.}\" ;;\n  *) echo \"\" ;;\nesac\n",
   {"last_ext": SHHEAD + "test \"$(bash bin/ext.sh archive.tar.gz)\" = gz\n",
    "no_ext": SHHEAD + "test \"$(bash bin/ext.sh dir.d/file)\" = ''\n",
    "keep_simple": SHHEAD + "test \"$(bash bin/ext.sh notes.txt)\" = txt\n"})


def swift(id, kind, problem, file, base, gold, visible, hidden):
    T.append({
        "id": id, "lang": "swift", "kind": kind, "problem": problem,
        "base": {f"Sources/{file}": base, "tests/visible/main.swift": visible},
        "gold": {f"Sources/{file}": gold},
        "hidden": {f"tests/hidden_{t}/main.swift": body for t, body in hidden.items()},
        "f2p": [f"tests/hidden_{t}/main.swift" for t in hidden if not t.startswith("keep_")],
        "p2p": [f"tests/hidden_{t}/main.swift" for t in hidden if t.startswith("keep_")],
    })


SWCHECK = "func check(_ ok: Bool, _ what: String) { if !ok { print(\"FAIL: \\(what)\"); exit(1) } }\n"
SWHEAD = "import Foundation\n" + SWCHECK

swift("swift-median-even", "missing edge case",
      "`median(_:)` in Sources/Stats.swift returns the upper middle value for arrays of even length; it should return the mean of the two middle values (median([1, 2, 3, 4]) == 2.5).",
      "Stats.swift",
      "func median(_ values: [Double]) -> Double? {\n    guard !values.isEmpty else { return nil }\n    let sorted = values.sorted()\n    return sorted[sorted.count / 2]\n}\n",
      "func median(_ values: [Double]) -> Double? {\n    guard !values.isEmpty else { return nil }\n    let sorted = values.sorted()\n    let middle = sorted.count / 2\n    if sorted.count % 2 == 0 { return (sorted[middle - 1] + sorted[middle]) / 2 }\n    return sorted[middle]\n}\n",
      SWHEAD + "check(median([3, 1, 2]) == 2, \"odd\")\nprint(\"ok\")\n",
      {"even": SWHEAD + "check(median([1, 2, 3, 4]) == 2.5, \"even\")\nprint(\"ok\")\n",
       "keep_empty": SWHEAD + "check(median([]) == nil, \"empty\")\ncheck(median([5]) == 5, \"one\")\nprint(\"ok\")\n"})

swift("swift-title-case", "wrong condition",
      "`titleCase(_:)` in Sources/Text.swift lowercases every word instead of capitalizing it: titleCase(\"hello big world\") should be \"Hello Big World\".",
      "Text.swift",
      "func titleCase(_ text: String) -> String {\n    text.split(separator: \" \").map { $0.lowercased() }.joined(separator: \" \")\n}\n",
      "func titleCase(_ text: String) -> String {\n    text.split(separator: \" \").map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined(separator: \" \")\n}\n",
      SWHEAD + "check(titleCase(\"\") == \"\", \"empty\")\nprint(\"ok\")\n",
      {"words": SWHEAD + "check(titleCase(\"hello big world\") == \"Hello Big World\", \"words\")\ncheck(titleCase(\"sWIFT\") == \"Swift\", \"mixed\")\nprint(\"ok\")\n",
       "keep_empty": SWHEAD + "check(titleCase(\"\") == \"\", \"empty\")\nprint(\"ok\")\n"})

swift("swift-fizzbuzz-order", "wrong condition",
      "`fizzbuzz(_:)` in Sources/FizzBuzz.swift returns \"Fizz\" for 15; multiples of both 3 and 5 must give \"FizzBuzz\".",
      "FizzBuzz.swift",
      "func fizzbuzz(_ n: Int) -> String {\n    if n % 3 == 0 { return \"Fizz\" }\n    if n % 5 == 0 { return \"Buzz\" }\n    if n % 15 == 0 { return \"FizzBuzz\" }\n    return String(n)\n}\n",
      "func fizzbuzz(_ n: Int) -> String {\n    if n % 15 == 0 { return \"FizzBuzz\" }\n    if n % 3 == 0 { return \"Fizz\" }\n    if n % 5 == 0 { return \"Buzz\" }\n    return String(n)\n}\n",
      SWHEAD + "check(fizzbuzz(3) == \"Fizz\", \"3\")\nprint(\"ok\")\n",
      {"fifteen": SWHEAD + "check(fizzbuzz(15) == \"FizzBuzz\", \"15\")\ncheck(fizzbuzz(30) == \"FizzBuzz\", \"30\")\nprint(\"ok\")\n",
       "keep_plain": SWHEAD + "check(fizzbuzz(7) == \"7\", \"7\")\ncheck(fizzbuzz(10) == \"Buzz\", \"10\")\nprint(\"ok\")\n"})

TASKS = T
