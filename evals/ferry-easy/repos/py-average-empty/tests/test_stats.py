import unittest

from stats import average


class T(unittest.TestCase):
    def test_mean(self):
        self.assertEqual(average([1, 2, 3]), 2)
