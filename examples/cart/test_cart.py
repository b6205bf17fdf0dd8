import unittest

from cart import total


class TotalTests(unittest.TestCase):
    def test_empty_cart_costs_nothing(self):
        self.assertEqual(total([]), 0)

    def test_small_cart_has_no_discount(self):
        self.assertEqual(total([{"price": 250, "qty": 2}]), 500)

    def test_discount_starts_at_ten_items(self):
        self.assertEqual(total([{"price": 100, "qty": 10}]), 900)

    def test_discount_above_ten_items(self):
        self.assertEqual(total([{"price": 100, "qty": 12}]), 1080)


if __name__ == "__main__":
    unittest.main()
