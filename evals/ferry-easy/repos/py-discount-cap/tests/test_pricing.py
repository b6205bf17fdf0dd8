import unittest

from pricing import apply_discount


class T(unittest.TestCase):
    def test_half(self):
        self.assertEqual(apply_discount(200, 50), 100)
