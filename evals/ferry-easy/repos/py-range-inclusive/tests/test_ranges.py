import unittest

from ranges import inclusive_range


class T(unittest.TestCase):
    def test_type(self):
        self.assertIsInstance(inclusive_range(1, 2), list)
