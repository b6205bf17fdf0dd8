import unittest

from textutil import tail


class T(unittest.TestCase):
    def test_zero(self):
        self.assertEqual(tail('a\nb', 0), '')
