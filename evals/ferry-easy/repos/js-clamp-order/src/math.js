function clamp(x, min, max) {
  if (x < min || x > max) return min;
  return x;
}

module.exports = { clamp };
