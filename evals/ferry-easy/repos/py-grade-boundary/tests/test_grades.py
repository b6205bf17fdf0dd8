import unittest

from grades import grade


class T(unittest.TestCase):
    def test_f(self):
        self.assertEqual(grade(10), 'F')
