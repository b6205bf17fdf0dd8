import unittest

from wordcount import word_counts


class T(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(word_counts('a b a'), {'a': 2, 'b': 1})
