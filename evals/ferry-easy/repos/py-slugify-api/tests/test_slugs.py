import unittest

from slugs import slugify


class T(unittest.TestCase):
    def test_default(self):
        self.assertEqual(slugify('Hello, World!'), 'hello-world')
