import unittest

from versions import parse_version


class T(unittest.TestCase):
    def test_length(self):
        self.assertEqual(len(parse_version('1.2.3')), 3)
