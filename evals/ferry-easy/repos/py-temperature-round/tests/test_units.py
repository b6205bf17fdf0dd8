import unittest

from units import to_fahrenheit


class T(unittest.TestCase):
    def test_zero(self):
        self.assertEqual(to_fahrenheit(0), 32)
