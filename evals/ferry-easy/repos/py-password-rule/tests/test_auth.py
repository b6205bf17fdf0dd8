import unittest

from auth import valid_password


class T(unittest.TestCase):
    def test_good(self):
        self.assertTrue(valid_password('abcdefg1'))
