import unittest

from collections_util import dedupe


class T(unittest.TestCase):
    def test_length(self):
        self.assertEqual(len(dedupe([1, 1, 2])), 2)
