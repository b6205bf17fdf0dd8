const test = require('node:test');
const assert = require('node:assert');
const { clamp } = require('../src/math');

test('inside', () => {
  assert.strictEqual(clamp(5, 0, 10), 5);
});
