import unittest

from kvconfig import parse_config


class T(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(parse_config('a=1\nb = 2'), {'a': '1', 'b': '2'})
