import unittest

from pagination import page_count


class T(unittest.TestCase):
    def test_partial_page(self):
        self.assertEqual(page_count(11, 10), 2)
