import unittest

from durations import parse_duration


class T(unittest.TestCase):
    def test_seconds(self):
        self.assertEqual(parse_duration('45s'), 45)
