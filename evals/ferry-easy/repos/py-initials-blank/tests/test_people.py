import unittest

from people import initials


class T(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(initials('grace hopper'), 'GH')
