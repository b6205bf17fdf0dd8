import unittest

from retrying import retry


class T(unittest.TestCase):
    def test_success(self):
        self.assertEqual(retry(lambda: 7, 2), 7)
